"""The Weaviate connector: weaviate-client v4 over REST (schema, tenants) and gRPC (all data); no GraphQL."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, ClassVar

import weaviate
from weaviate.classes.config import DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, MetadataQuery
from weaviate.exceptions import WeaviateInsertManyAllFailedError

from vectormigrate.connectors.base import ConnectionConfig, Connector, IfExists, OptionSpec, Searchable
from vectormigrate.connectors.weaviate._client import open_client, parse_endpoint
from vectormigrate.connectors.weaviate._convert import (
    CollectionInfo,
    PropInfo,
    class_body,
    companion_body,
    encode_properties,
    field_spec,
    fits,
    infer_property,
    metric_of,
    nested_tree,
    new_property_body,
    objects_to_batches,
    parse_dims_note,
    prop_info,
    weaviate_vector_name,
)
from vectormigrate.connectors.weaviate._errors import translate_errors
from vectormigrate.connectors.weaviate._names import (
    collection_name_problem,
    property_name_problem,
    suggest_collection_name,
    suggest_property_renames,
    suggest_tenant_name,
    tenant_name_problem,
    vector_name_problem,
)
from vectormigrate.errors import (
    CheckpointError,
    ConfigError,
    RecordError,
    SchemaMismatchError,
    TerminalError,
)
from vectormigrate.model import (
    Batch,
    Capabilities,
    CollectionSchema,
    Cursor,
    FieldSpec,
    JSONValue,
    Metric,
    RecordId,
    VectorRecord,
    VectorSpec,
)

__all__ = ["WeaviateConnector"]

_ID_CHUNK = 1000
"""Ids per fetch / delete request: under Weaviate's QUERY_MAXIMUM_RESULTS (10,000) with room to spare."""
_DIM_SAMPLE = 100
"""Objects read per tenant by describe() to learn vector dimensions (Weaviate's schema has none)."""
_FIELD_IN_ERROR = re.compile(r"property '([^']+)'")


class WeaviateConnector(Connector, Searchable):
    """Weaviate through weaviate-client v4: ``http(s)://host:port`` (REST) plus a gRPC port, or Weaviate Cloud.

    * Ids are UUIDs (the plan turns other ids into UUIDv5 and keeps the original in metadata).
    * Vectors are self-provided named vectors; the canonical single vector ``""`` is Weaviate's ``default``.
    * Namespaces are tenants: a source reads every tenant (one tenant per batch), a target creates a
      multi-tenant collection when the schema has namespaces.
    * Metadata: typed properties; objects become ``object`` / ``object[]`` properties whose nested properties
      the first batch declares, values they cannot hold go to a JSON-text companion (see ``_convert``); nulls
      are not stored.
    * Names Weaviate would refuse or rewrite are refused with the renames the plan should apply.
    """

    name: ClassVar[str] = "weaviate"
    extra: ClassVar[str] = "weaviate"
    capabilities: ClassVar[Capabilities] = Capabilities(
        id_kinds=frozenset({"uuid"}),
        max_batch_records=1000,
        # gRPC carries vectors as float32 bytes, so Batch.nbytes is close to the wire size. 16 MiB stays far below
        # Weaviate's 100 MB gRPC message limit, leaving room for JSON-encoded properties.
        max_batch_bytes=16 * 1024 * 1024,
        named_vectors=True,
        sparse_vectors=False,
        metrics=frozenset({Metric.COSINE, Metric.DOT, Metric.EUCLID}),
        metadata_types=frozenset({"string", "int", "float", "bool", "list", "object", "json", "datetime"}),
        namespace_model="tenant",
        stable_scan_order=True,  # the cursor API pages in uuid order
        idempotent_upsert=True,  # a batch object with an existing uuid replaces it
        nested_metadata=True,
        # Weaviate stores no nulls (a null property reads back as absent): declared, so the plan drops null keys
        # visibly and validation compares exactly.
        null_metadata=False,
        unnamed_vector="default",
    )
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("grpc_port", "gRPC port, on the URL's host unless grpc_host is set", int, 50051),
        OptionSpec("grpc_host", "gRPC host when it differs from the URL's host", str, None),
        OptionSpec("tenant", "read / write only this tenant of a multi-tenant collection", str, None),
        OptionSpec("timeout", "seconds one query or batch request may take", float, None),
        OptionSpec("cloud", "connect to Weaviate Cloud (default: when the host ends in .weaviate.cloud)", bool, None),
    )

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        self._endpoint = parse_endpoint(config.url, grpc_port=self.opts["grpc_port"],
                                        grpc_host=self.opts["grpc_host"], cloud=self.opts["cloud"])
        self._tenant: str | None = self.opts["tenant"]
        self._client: weaviate.WeaviateClient | None = None
        self._lock = threading.RLock()
        self._infos: dict[str, CollectionInfo] = {}
        self._declared: dict[str, dict[str, FieldSpec]] = {}
        """Collection -> the plan's fields (prepare / create_collection), to type properties added at write time."""

    # --- plumbing ------------------------------------------------------------------------------------------

    def _conn(self) -> weaviate.WeaviateClient:
        with self._lock:
            if self._client is None:
                self._client = open_client(self._endpoint, self.config.api_key, timeout=self.opts["timeout"])
            return self._client

    def _call(self, collection: str | None = None) -> AbstractContextManager[None]:
        return translate_errors(where=self._endpoint.url, collection=collection, secrets=(self.config.api_key,))

    def _handle(self, collection: str, tenant: str | None = None) -> Any:
        handle = self._conn().collections.use(collection)
        return handle.with_tenant(tenant) if tenant else handle

    def close(self) -> None:
        """Close the client's HTTP and gRPC connections."""
        with self._lock:
            client, self._client = self._client, None
            self._infos.clear()
        if client is not None:
            client.close()

    def _forget(self, collection: str) -> None:
        with self._lock:
            self._infos.pop(_key(collection), None)

    def _info(self, collection: str, *, refresh: bool = False) -> CollectionInfo:
        """The collection's properties, vectors and tenancy (cached; ``refresh`` re-reads the schema)."""
        key = _key(collection)
        with self._lock:
            cached = self._infos.get(key)
        if cached is not None and not refresh:
            return cached
        with self._call(collection):
            config = self._handle(collection).config.get()
        props: dict[str, PropInfo] = {}
        for prop in config.properties:
            props[prop.name] = prop_info(prop.name, str(prop.data_type.value), prop.description,
                                         nested_tree(prop.nested_properties))
        for prop_name, p in list(props.items()):
            owner = props.get(p.overflow_of or "")
            if owner is not None and owner.nested is not None:
                props[owner.name] = replace(owner, overflow=prop_name)
        vectors: dict[str, Metric] = {}
        unsupported: dict[str, str] = {}
        legacy = not config.vector_config
        index_configs: dict[str, Any] = (
            {name: nv.vector_index_config for name, nv in config.vector_config.items()} if config.vector_config
            else ({"default": config.vector_index_config} if config.vector_index_config is not None else {}))
        for name, index in index_configs.items():
            distance = getattr(getattr(index, "distance_metric", None), "value", None)
            metric = metric_of(str(distance)) if distance else None
            if getattr(index, "multi_vector", None) is not None:
                unsupported[name] = "is a multi-vector (ColBERT-style); VectorMigrate moves single dense vectors"
            elif metric is None:
                unsupported[name] = f"uses the {distance} distance; VectorMigrate supports cosine, dot and l2-squared"
            else:
                vectors[name] = metric
        info = CollectionInfo(
            name=config.name, props=props, vectors=vectors, multi_tenant=config.multi_tenancy_config.enabled,
            legacy_vector=legacy, dims_note=parse_dims_note(config.description),
            references=tuple(r.name for r in config.references), unsupported=unsupported)
        with self._lock:
            if cached is not None and cached.tenants is not None and info.multi_tenant:
                info.tenants = cached.tenants
            self._infos[key] = info
        return info

    def _tenants(self, collection: str, *, refresh: bool = False) -> dict[str, str]:
        """Tenant name -> activity status (``ACTIVE``, ``INACTIVE``, ``OFFLOADED``...) of a multi-tenant collection."""
        with self._call(collection):
            got = self._handle(collection).tenants.get()
        statuses = {name: str(t.activity_status.value) for name, t in got.items()}
        info = self._info(collection)
        with self._lock:
            info.tenants = set(statuses)
        return statuses

    def _known_tenants(self, collection: str) -> set[str]:
        info = self._info(collection)
        with self._lock:
            known = None if info.tenants is None else set(info.tenants)
        return known if known is not None else set(self._tenants(collection))

    def _scope(self, collection: str, namespace: str | None) -> list[str | None]:
        """The tenants a count / fetch / delete / search covers (``[None]`` for a collection without tenants)."""
        info = self._info(collection)
        if self._tenant is not None:
            if namespace is not None and namespace != self._tenant:
                msg = f"namespace {namespace!r} is outside the tenant option ({self._tenant!r})"
                raise ConfigError(msg, hint="drop the tenant option to reach every tenant")
            namespace = self._tenant
        if not info.multi_tenant:
            if namespace is not None:
                msg = f"weaviate collection {collection!r} is not multi-tenant, so it has no namespace {namespace!r}"
                raise ConfigError(msg, hint="ask without a namespace, or use a multi-tenant collection",
                                  collection=collection)
            return [None]
        known = self._known_tenants(collection)
        if namespace is not None:
            return [namespace] if namespace in known else []
        return [*sorted(known)]

    # --- names ---------------------------------------------------------------------------------------------

    @staticmethod
    def suggest_field_names(names: Sequence[str], *, taken: Sequence[str] = ()) -> dict[str, str]:
        """The renames Weaviate needs for these metadata keys, ``{old: new}`` (valid names are left out).

        See :func:`~vectormigrate.connectors.weaviate._names.suggest_property_renames` for the rule.
        """
        return suggest_property_renames(names, taken=taken)

    @classmethod
    def field_renames(cls, names: Sequence[str]) -> dict[str, str]:
        """Weaviate's property-name rules as plan-side renames (see :meth:`suggest_field_names`)."""
        return suggest_property_renames(names)

    @classmethod
    def collection_name_problem(cls, name: str) -> str | None:
        """Weaviate collection names start with an uppercase letter and use ``[A-Za-z0-9_]``."""
        problem = collection_name_problem(name)
        if problem:
            return f"weaviate collection name {name!r} {problem}; use --target-index {suggest_collection_name(name)}"
        return None

    def _check_collection_name(self, name: str) -> None:
        problem = collection_name_problem(name)
        if problem:
            suggestion = suggest_collection_name(name)
            msg = f"weaviate collection name {name!r} {problem}; VectorMigrate does not rename collections silently"
            raise ConfigError(msg, hint=f"use --target-index {suggestion}", collection=name, suggestion=suggestion)

    def _check_names(self, schema: CollectionSchema, *, taken: Sequence[str] = ()) -> None:
        """Refuse property, vector and tenant names Weaviate would refuse or rewrite, all at once, with renames.

        Raises:
            SchemaMismatchError: with ``renames`` (properties) and ``tenant_renames`` in its fields, the exact
                mapping the plan should apply.
        """
        by_problem: dict[str, list[str]] = {}
        names = [f.name for f in schema.fields]
        for name in names:
            problem = property_name_problem(name)
            if problem:
                by_problem.setdefault(f"property names that {problem}", []).append(name)
        for spec in schema.vectors:
            vname = weaviate_vector_name(spec.name)
            problem = vector_name_problem(vname)
            if problem:
                by_problem.setdefault(f"vector names that {problem}", []).append(vname)
        tenant_renames: dict[str, str] = {}
        for ns in schema.namespaces:
            problem = tenant_name_problem(ns)
            if problem:
                by_problem.setdefault(f"namespaces (tenant names) that {problem}", []).append(ns)
                tenant_renames[ns] = suggest_tenant_name(ns)
        if not by_problem:
            return
        renames = suggest_property_renames(names, taken=taken)
        listed = "; ".join(f"{what}: {', '.join(map(repr, bad))}" for what, bad in by_problem.items())
        fixes = ", ".join(f"{old!r} -> {new!r}" for old, new in {**renames, **tenant_renames}.items())
        msg = f"weaviate cannot hold these names of collection {schema.name!r} as they are: {listed}"
        hint = (f"rename them in the plan: {fixes} (VectorMigrate never renames silently)" if fixes
                else "rename them in the source")
        raise SchemaMismatchError(msg, hint=hint, collection=schema.name, renames=renames or None,
                                  tenant_renames=tenant_renames or None)

    # --- source & shared -----------------------------------------------------------------------------------

    def exists(self, collection: str) -> bool:
        """Whether the collection exists (Weaviate matches the first letter case-insensitively)."""
        with self._call(collection):
            return bool(self._conn().collections.exists(collection))

    def describe(self, collection: str) -> CollectionSchema:
        """Vectors (dimension from the data, else from the note written at creation), metric, properties,
        tenants as namespaces, and the exact count (per tenant, by gRPC aggregate)."""
        info = self._info(collection, refresh=True)
        if info.unsupported:
            problems = "; ".join(f"vector {n!r} {why}" for n, why in info.unsupported.items())
            msg = f"weaviate collection {collection!r} cannot be migrated as is: {problems}"
            raise SchemaMismatchError(msg, hint="migrate it with Weaviate's backup tools instead", collection=collection)
        statuses: dict[str, str] = {}
        if info.multi_tenant:
            statuses = self._tenants(collection)
            if self._tenant is not None:
                statuses = {self._tenant: statuses[self._tenant]} if self._tenant in statuses else {}
        scope: list[str | None] = [*sorted(statuses)] if info.multi_tenant else [None]
        counts: dict[str | None, int] = {}
        inactive = sorted(t for t, s in statuses.items() if s not in ("ACTIVE", "HOT"))
        for tenant in scope:
            if tenant not in inactive:
                counts[tenant] = self._count_one(collection, tenant)
        dims = self._dims(collection, info, [t for t in scope if counts.get(t)])
        vectors = tuple(VectorSpec(name, dims.get(name, info.dims_note.get(name, 0)), metric)
                        for name, metric in info.vectors.items())
        namespaces: tuple[str, ...] = ()
        if info.multi_tenant:
            holding = [t for t in statuses if counts.get(t) or t in inactive]
            namespaces = tuple(sorted(holding or statuses))
        extras: dict[str, JSONValue] = {"multi_tenant": info.multi_tenant, "legacy_vector": info.legacy_vector}
        if inactive:
            extras["inactive_tenants"] = inactive
        if info.references:
            extras["cross_references_not_migrated"] = list(info.references)
        overflow = {p.overflow_of: p.name for p in info.props.values() if p.overflow_of in info.props}
        if overflow:
            extras["object_overflow_properties"] = overflow
        return CollectionSchema(
            name=collection, vectors=vectors,
            fields=tuple(field_spec(p) for p in info.props.values() if p.overflow_of not in info.props),
            id_kind="uuid", namespaces=namespaces, dynamic_fields=False,
            count=None if inactive else sum(counts.values()), extras=extras)

    def _dims(self, collection: str, info: CollectionInfo, tenants: list[str | None]) -> dict[str, int]:
        dims: dict[str, int] = {}
        for tenant in tenants:
            with self._call(collection):
                page = self._handle(collection, tenant).query.fetch_objects(limit=_DIM_SAMPLE, include_vector=True)
            for obj in page.objects:
                for name, vec in (obj.vector or {}).items():
                    dims.setdefault(name, len(vec))
            if set(info.vectors) <= set(dims):
                break
        return dims

    def _count_one(self, collection: str, tenant: str | None) -> int:
        with self._call(collection):
            result = self._handle(collection, tenant).aggregate.over_all(total_count=True)
        return int(result.total_count or 0)

    def count(self, collection: str, namespace: str | None = None) -> int:
        """Exact object count (of one tenant, when given), by gRPC aggregate per tenant."""
        return sum(self._count_one(collection, t) for t in self._scope(collection, namespace))

    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        """Every object through the cursor API (``after`` = last uuid, uuid order), tenant by tenant.

        The cursor is ``{"tenant": name or None, "after": last uuid}``; it resumes in a new process because the
        order (tenants by name, objects by uuid) does not depend on the connection.
        """
        if batch_size < 1:
            msg = f"batch_size must be at least 1, got {batch_size}"
            raise ConfigError(msg)
        info = self._info(collection, refresh=True)
        if info.unsupported:
            self.describe(collection)  # raises, naming the vectors it cannot move
        tenants: list[str | None]
        if not info.multi_tenant:
            tenants = [None]
        elif self._tenant is not None:
            tenants = [self._tenant]
        else:
            tenants = [*sorted(self._tenants(collection))]
        start, last = _resume(tenants, after, info.multi_tenant)
        for tenant in tenants[start:]:
            handle = self._handle(collection, tenant)
            while True:
                with self._call(collection):
                    page = handle.query.fetch_objects(limit=batch_size, after=last, include_vector=True)
                objects = page.objects
                if not objects:
                    break
                info = self._current(collection, info, objects)
                yield from objects_to_batches(objects, info, tenant)
                last = str(objects[-1].uuid)
                if len(objects) < batch_size:
                    break
            last = None

    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        """Objects by uuid, in the order asked; ids that are not UUIDs (so cannot exist) are left out."""
        wanted = _uuids(ids)
        if not wanted:
            return []
        info = self._info(collection)
        found: dict[str, VectorRecord] = {}
        for tenant in self._scope(collection, namespace):
            remaining = [u for u in wanted if u not in found]
            for start in range(0, len(remaining), _ID_CHUNK):
                chunk = remaining[start:start + _ID_CHUNK]
                with self._call(collection):
                    page = self._handle(collection, tenant).query.fetch_objects(
                        filters=Filter.by_id().contains_any(chunk), limit=len(chunk), include_vector=True)
                info = self._current(collection, info, page.objects)
                for batch in objects_to_batches(page.objects, info, tenant):
                    for rec in batch.records():
                        found[str(rec.id)] = rec
            if len(found) == len(wanted):
                break
        return [found[u] for u in wanted if u in found]

    def _current(self, collection: str, info: CollectionInfo, objects: Sequence[Any]) -> CollectionInfo:
        """``info``, re-read when an object has a property it does not know (another writer added one since,
        such as the JSON companion of an object property, which reads must fold back)."""
        if any(key not in info.props for obj in objects for key in obj.properties or {}):
            return self._info(collection, refresh=True)
        return info

    # --- target --------------------------------------------------------------------------------------------

    def prepare(self, schema: CollectionSchema, *, if_exists: IfExists = "append") -> bool:
        """Check names first (refused names are reported with their renames), then the base ``prepare``."""
        self._check_collection_name(schema.name)
        self._check_names(schema)
        self._declare(schema)
        return super().prepare(schema, if_exists=if_exists)

    def _declare(self, schema: CollectionSchema) -> None:
        with self._lock:
            self._declared.setdefault(_key(schema.name), {}).update({f.name: f for f in schema.fields})

    def create_collection(self, schema: CollectionSchema) -> None:
        """A collection with typed properties, self-provided named vectors (HNSW, the schema's metric) and,
        when the schema has namespaces (or the tenant option is set), multi-tenancy with those tenants."""
        self._check_collection_name(schema.name)
        self._check_names(schema)
        if not schema.vectors:
            msg = f"weaviate collection {schema.name!r} needs at least one dense vector; the schema has none"
            raise SchemaMismatchError(msg, hint="Weaviate holds no sparse-only collections", collection=schema.name)
        tenants = sorted({*schema.namespaces, *([self._tenant] if self._tenant else [])})
        self._declare(schema)  # object fields are declared by the first batch holding values for them
        body = class_body(schema, multi_tenant=bool(tenants))
        with self._call(schema.name):
            self._conn().collections.create_from_dict(body)
            if tenants:
                self._handle(schema.name).tenants.create(tenants)
        self._forget(schema.name)

    def drop_collection(self, collection: str) -> None:
        """Delete the collection (nothing happens when it does not exist)."""
        with self._call(collection):
            self._conn().collections.delete(collection)
        self._forget(collection)

    def ensure_namespace(self, collection: str, namespace: str) -> None:
        """Create the tenant when it does not exist yet."""
        info = self._info(collection)
        if not info.multi_tenant:
            msg = f"weaviate collection {collection!r} is not multi-tenant, so it cannot hold namespace {namespace!r}"
            raise SchemaMismatchError(msg, hint="write into a new collection (it is created multi-tenant when the "
                                                "source has namespaces), or keep namespaces in a metadata field",
                                      collection=collection)
        problem = tenant_name_problem(namespace)
        if problem:
            msg = f"namespace {namespace!r} cannot be a weaviate tenant: it {problem}"
            raise SchemaMismatchError(msg, hint=f"rename it in the plan (e.g. {suggest_tenant_name(namespace)!r})",
                                      collection=collection, tenant_renames={namespace: suggest_tenant_name(namespace)})
        with self._lock:
            if namespace in self._known_tenants(collection):
                return
            with self._call(collection):
                self._handle(collection).tenants.create([namespace])
            if info.tenants is not None:
                info.tenants.add(namespace)

    def write_batch(self, collection: str, batch: Batch) -> None:
        """Insert (upsert by uuid) every object through one gRPC ``BatchObjects`` call.

        Raises:
            RecordError: the first object Weaviate refused (its uuid and field); the others were written, and
                writing the batch again without it is harmless.
            SchemaMismatchError: every object was refused for the same reason (a collection-level problem).
        """
        if not batch.ids:
            return
        info = self._info(collection)
        tenant = self._write_tenant(collection, info, batch.namespace)
        uuids = _batch_uuids(batch)
        names = {name: weaviate_vector_name(name) for name in batch.vectors}
        missing = sorted(n for n in names.values() if n not in info.vectors)
        if missing:
            have = ", ".join(repr(n) for n in info.vectors) or "none"
            msg = f"weaviate collection {collection!r} has no vector {', '.join(map(repr, missing))} (it has {have})"
            raise SchemaMismatchError(msg, hint="write into a new collection or use --if-exists recreate",
                                      collection=collection)
        info = self._ensure_properties(collection, info, batch)
        objects = [
            DataObject(properties=encode_properties(batch.metadata[i], info.props, rid), uuid=uuids[i],
                       vector={names[name]: mat[i] for name, mat in batch.vectors.items()})
            for i, rid in enumerate(batch.ids)
        ]
        self._insert(collection, tenant, objects, list(batch.ids))

    def _insert(self, collection: str, tenant: str | None, objects: list[DataObject[Any, Any]],
                ids: list[RecordId]) -> None:
        handle = self._handle(collection, tenant)
        all_failed: WeaviateInsertManyAllFailedError | None = None
        with self._call(collection):
            try:
                result = handle.data.insert_many(objects)
            except WeaviateInsertManyAllFailedError as exc:
                all_failed = exc
        if all_failed is None:
            if result.errors:
                index = min(result.errors)
                raise _refused(ids[index], result.errors[index].message)
            return
        reasons = _all_failed_reasons(all_failed)
        if len(objects) == 1:
            raise _refused(ids[0], reasons[0] if reasons else str(all_failed))
        if len(reasons) == 1:
            # Every object refused for one reason: the collection, not the records, is the problem (a vector
            # size, a property type, a tenant). Dead-lettering records one by one would only empty the batch.
            msg = f"weaviate refused all {len(objects)} objects of a batch for collection {collection!r}: {reasons[0]}"
            raise SchemaMismatchError(msg, hint="the target collection does not match the plan (vector sizes, property "
                                                "types or tenants); write into a new collection or fix the target",
                                      collection=collection)
        # Several reasons: find the first refused record by writing it alone (objects are upserts: harmless).
        self._insert(collection, tenant, objects[:1], ids[:1])
        self._insert(collection, tenant, objects[1:], ids[1:])

    def _write_tenant(self, collection: str, info: CollectionInfo, namespace: str | None) -> str | None:
        if self._tenant is not None:
            if namespace is not None and namespace != self._tenant:
                msg = f"batch for namespace {namespace!r}, but the tenant option restricts writes to {self._tenant!r}"
                raise ConfigError(msg, hint="drop the tenant option to write every namespace into its own tenant")
            namespace = self._tenant
        if info.multi_tenant:
            if namespace is None:
                msg = f"weaviate collection {collection!r} is multi-tenant, and the batch has no namespace"
                raise SchemaMismatchError(msg, hint="pick the tenant with --target-option tenant=NAME",
                                          collection=collection)
            self.ensure_namespace(collection, namespace)
            return namespace
        if namespace is not None:
            self.ensure_namespace(collection, namespace)  # raises: the collection has no tenants
        return None

    def _ensure_properties(self, collection: str, info: CollectionInfo, batch: Batch) -> CollectionInfo:
        """Add properties for metadata keys the collection does not have yet, typed from the batch's values, and
        the JSON-text companion of every object property some value of the batch does not fit.

        Weaviate's auto-schema would add them too, but it types every number as ``number`` (ints would come back
        as floats) and may not be enabled; adding them here keeps ints ints and JSON values JSON. An object field
        of the plan gets its ``object`` / ``object[]`` property here, nested properties inferred from this batch.
        """
        new = sorted({k for meta in batch.metadata for k in meta} - set(info.props))
        if not new and not self._misfits(info, batch):
            return info
        with self._lock:
            info = self._info(collection, refresh=True)
            new = [k for k in new if k not in info.props]
            if new:
                self._check_names(CollectionSchema(collection, fields=tuple(FieldSpec(k, "json") for k in new)),
                                  taken=list(info.props))
            declared = self._declared.get(_key(collection), {})
            for key in new:
                values = [meta[key] for meta in batch.metadata if meta.get(key) is not None]
                if not values:
                    continue  # nothing to store yet (Weaviate keeps no nulls)
                spec = declared.get(key) or infer_property(key, values)
                self._add_property(collection, new_property_body(spec, values))
            info = self._info(collection, refresh=True)
            misfits = self._misfits(info, batch)
            for key in misfits:
                taken = {n.lower() for n in info.props}
                name, n = f"{key}__json", 2
                while name.lower() in taken:
                    name, n = f"{key}__json_{n}", n + 1
                self._add_property(collection, companion_body(name, info.props[key]))
            if misfits:
                info = self._info(collection, refresh=True)
        return info

    @staticmethod
    def _misfits(info: CollectionInfo, batch: Batch) -> list[str]:
        """Object properties without a companion yet that some value of the batch does not fit."""
        out = []
        for key, prop in info.props.items():
            if prop.nested is None or prop.overflow is not None:
                continue
            if any(meta.get(key) is not None and not fits(prop, meta[key]) for meta in batch.metadata):
                out.append(key)
        return out

    def _add_property(self, collection: str, body: dict[str, Any]) -> None:
        name = body["name"]
        try:
            with self._call(collection):
                self._handle(collection).config.add_property(_property(body))
        except SchemaMismatchError:
            raise
        except TerminalError:
            # another writer may have added it a moment ago: accept it when it now exists
            if name not in self._info(collection, refresh=True).props:
                raise

    def delete(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        """Delete objects by uuid (in one tenant, when given) with gRPC batch deletes; unknown ids are ignored."""
        wanted = _uuids(ids)
        for tenant in self._scope(collection, namespace) if wanted else []:
            for start in range(0, len(wanted), _ID_CHUNK):
                chunk = wanted[start:start + _ID_CHUNK]
                with self._call(collection):
                    self._handle(collection, tenant).data.delete_many(where=Filter.by_id().contains_any(chunk))

    # --- search --------------------------------------------------------------------------------------------

    def search(self, collection: str, vector_name: str, query: Sequence[float], top_k: int,
               namespace: str | None = None) -> list[tuple[RecordId, float]]:
        """Nearest objects by ``near_vector``; scores are higher-is-better similarities.

        Weaviate returns distances: cosine ``1 - cos`` (score ``1 - d``), dot ``-a.b`` and l2-squared (score
        ``-d``). A Euclidean source therefore compares by rank, not by value: Weaviate's l2 is squared.
        """
        info = self._info(collection)
        name = weaviate_vector_name(vector_name)
        metric = info.vectors.get(name)
        if metric is None:
            have = ", ".join(repr(n) for n in info.vectors) or "none"
            msg = f"weaviate collection {collection!r} has no vector {name!r} (it has {have})"
            raise TerminalError(msg, collection=collection)
        vector = [float(x) for x in query]
        hits: list[tuple[RecordId, float]] = []
        for tenant in self._scope(collection, namespace):
            with self._call(collection):
                page = self._handle(collection, tenant).query.near_vector(
                    near_vector=vector, target_vector=None if info.legacy_vector else name, limit=top_k,
                    return_metadata=MetadataQuery(distance=True))
            for obj in page.objects:
                distance = float(obj.metadata.distance or 0.0)
                hits.append((str(obj.uuid), 1.0 - distance if metric is Metric.COSINE else -distance))
        hits.sort(key=lambda h: -h[1])
        return hits[:top_k]


# --- helpers -----------------------------------------------------------------------------------------------------


def _property(body: dict[str, Any]) -> Property:
    """A ``properties[]`` entry (with its nested properties) as the client's :class:`Property`."""
    nested = [_property(child) for child in body.get("nestedProperties") or []]
    return Property(name=body["name"], data_type=DataType(body["dataType"][0]), description=body.get("description"),
                    index_searchable=body.get("indexSearchable"), nested_properties=nested or None)


def _key(collection: str) -> str:
    """Weaviate treats the first letter of a collection name case-insensitively."""
    return collection[:1].upper() + collection[1:]


def _uuids(ids: Sequence[RecordId]) -> list[str]:
    """The canonical uuids among ``ids``, without repeats, in order (others cannot exist in Weaviate)."""
    out: dict[str, None] = {}
    for rid in ids:
        if isinstance(rid, str):
            try:
                out[str(uuid.UUID(rid))] = None
            except ValueError:
                continue
    return list(out)


def _batch_uuids(batch: Batch) -> list[str]:
    out = []
    for rid in batch.ids:
        try:
            out.append(str(uuid.UUID(rid if isinstance(rid, str) else "")))
        except ValueError:
            msg = f"record {rid!r}: weaviate ids are UUIDs, and this id is not one"
            raise RecordError(msg, record_id=rid, field="id",
                              hint="the plan maps other ids to UUIDv5; this record bypassed the plan") from None
    return out


def _refused(record_id: RecordId, reason: str) -> RecordError:
    match = _FIELD_IN_ERROR.search(reason)
    low = reason.lower()
    if match:
        field = f"metadata.{match.group(1)}"
    elif "vector" in low:
        field = "vector"
    elif "tenant" in low:
        field = "namespace"
    else:
        field = "record"
    return RecordError(f"record {record_id!r}: weaviate refused it: {reason}", record_id=record_id, field=field,
                       hint="fix the record in the source (or the property type in the target) and resume")


def _all_failed_reasons(exc: WeaviateInsertManyAllFailedError) -> list[str]:
    """The distinct reasons in the client's all-failed message (it joins them with newlines)."""
    text = str(exc)
    marker = "Here is the set of all errors:"
    body = text.split(marker, 1)[1] if marker in text else text
    return [line.strip() for line in body.strip().splitlines() if line.strip()]


def _resume(tenants: list[str | None], after: Cursor | None, multi_tenant: bool) -> tuple[int, str | None]:
    """Where a cursor resumes: (index of the tenant, last uuid read in it)."""
    if after is None:
        return 0, None
    last = after.get("after")
    if last is not None:
        try:
            last = str(uuid.UUID(str(last)))
        except ValueError:
            msg = f"weaviate cursor 'after' {last!r} is not a uuid"
            raise CheckpointError(msg, hint="the checkpoint was not written by the weaviate connector") from None
    tenant = after.get("tenant")
    if not multi_tenant:
        if tenant is not None:
            msg = f"this cursor names tenant {tenant!r}, but the collection is not multi-tenant"
            raise CheckpointError(msg, hint="resume against the collection the migration started from")
        return 0, last
    if not isinstance(tenant, str):
        msg = "this cursor names no tenant, but the collection is multi-tenant"
        raise CheckpointError(msg, hint="resume against the collection (and tenant option) the migration started with")
    for i, name in enumerate(tenants):
        if name == tenant:
            return i, last
        if name is not None and name > tenant:
            return i, None  # the tenant has vanished since: everything before it was read
    return len(tenants), None
