"""The Qdrant connector: a server over REST or gRPC, or qdrant-client's local mode (a folder or ``:memory:``)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from qdrant_client import QdrantClient, models

from vectormigrate.connectors.base import Aliasable, ConnectionConfig, Connector, OptionSpec, Searchable
from vectormigrate.connectors.qdrant._client import ClientHandle, open_client, release_client
from vectormigrate.connectors.qdrant._convert import (
    batch_to_points,
    collection_vectors,
    infer_fields,
    page_to_batches,
    point_id,
    record_id,
    record_of,
    validate_batch,
    vectors_config,
)
from vectormigrate.connectors.qdrant._errors import BadRequest, translate_errors
from vectormigrate.errors import CheckpointError, CollectionNotFound, ConfigError, RecordError, TerminalError
from vectormigrate.model import (
    Batch,
    Capabilities,
    CollectionSchema,
    Cursor,
    IdKind,
    JSONValue,
    Metric,
    RecordId,
    VectorRecord,
)

__all__ = ["QdrantConnector"]

_SAMPLE = 256
"""Points sampled by ``describe`` to infer payload fields."""
_NS_SCAN_PAGE = 10_000
"""Page size of the payload-only scan that lists namespace values (no vectors: pages stay small)."""
_FETCH_CHUNK = 256
"""Ids per ``retrieve``: the answer carries vectors, and 256 x 4096 dims stays well under 32 MB of JSON."""
_DELETE_CHUNK = 1000
_NIL_UUID = "00000000-0000-0000-0000-000000000000"
"""Qdrant orders integer ids before UUIDs, so scrolling from the nil UUID finds the first UUID point."""


@dataclass(frozen=True, slots=True)
class _Group:
    """One namespace of a ``namespace_field`` read: the scroll filter, plus an exact check when lists blur it."""

    namespace: str | None
    scroll_filter: models.Filter | None
    keep: Callable[[dict[str, JSONValue]], bool] | None = None

    @property
    def key(self) -> tuple[int, str]:
        """Read order: records without a namespace first, then namespaces by name."""
        return (0, "") if self.namespace is None else (1, self.namespace)


class QdrantConnector(Connector, Searchable, Aliasable):
    """Qdrant through qdrant-client: ``http(s)://host:6333`` (server), a folder (local mode) or ``:memory:``.

    Qdrant has no namespaces. With the ``namespace_field`` option, a payload key plays that part: the source
    reads each distinct string value as a namespace (one namespace per batch), and ``count``/``fetch``/``delete``
    filter on it. Payloads are passed through unchanged (the namespace key stays in the metadata).
    """

    name: ClassVar[str] = "qdrant"
    extra: ClassVar[str] = "qdrant"
    capabilities: ClassVar[Capabilities] = Capabilities(
        id_kinds=frozenset({"int", "uuid"}),
        max_batch_records=1000,
        # Batch.nbytes counts float32 vectors at 4 bytes, but REST sends them as JSON text at about 20 bytes per
        # float. 4 MiB of vectors is ~21 MB of JSON: under the server's 32 MB request limit with room for
        # payloads (1000 x 1536-d points would be ~33 MB of JSON and fail).
        max_batch_bytes=4 * 1024 * 1024,
        named_vectors=True,
        sparse_vectors=True,
        metrics=frozenset({Metric.COSINE, Metric.DOT, Metric.EUCLID}),
        # datetimes are left to the plan to turn into RFC 3339 strings (what Qdrant's datetime index reads)
        metadata_types=frozenset({"string", "int", "float", "bool", "list", "object", "json"}),
        namespace_model="none",
        stable_scan_order=True,
        idempotent_upsert=True,
        aliases=True,
        nested_metadata=True,
        null_metadata=True,
        max_dim=65_535,
        normalizes_cosine=True,
    )
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("prefer_grpc", "talk to the server over gRPC instead of REST", bool, False),
        OptionSpec("grpc_port", "the server's gRPC port (with prefer_grpc)", int, 6334),
        OptionSpec("timeout", "server request timeout in seconds", int, None),
        OptionSpec("namespace_field", "payload key that holds each record's namespace (tenant); unset: none",
                   str, None),
    )

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        if not config.url:
            msg = "the qdrant connector needs a URL"
            raise ConfigError(msg, hint="pass http(s)://host:6333 for a server, a folder path for local mode, or "
                                        ":memory: for an in-memory store")
        field = self.opts["namespace_field"]
        if field is not None and (not field or any(c in field for c in ".[]")):
            msg = f"qdrant option namespace_field={field!r} must be a top-level payload key"
            raise ConfigError(msg, hint="name a top-level key without '.', '[' or ']' (nested keys are not supported)")
        self._field: str | None = field
        self._handle: ClientHandle | None = None
        self._metrics: dict[tuple[str, str], Metric] = {}

    # --- plumbing ----------------------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return str(self.config.url)

    def _open(self) -> ClientHandle:
        # Opened on first use: building a connector (e.g. to list its options) touches nothing.
        if self._handle is None:
            self._handle = open_client(self.config, self.opts)
        return self._handle

    @contextlib.contextmanager
    def _call(self, collection: str | None = None, *, writing: bool = False) -> Iterator[QdrantClient]:
        """The client, with errors translated (and, for local mode, calls serialised)."""
        handle = self._open()
        lock = handle.lock if handle.local else contextlib.nullcontext()
        try:
            with lock, translate_errors(where=handle.where, collection=collection, writing=writing,
                                        secrets=(self.config.api_key,)):
                yield handle.client
        except CollectionNotFound as exc:
            raise self._not_found(collection or exc.fields.get("collection") or "?") from exc

    def _not_found(self, collection: str) -> CollectionNotFound:
        try:
            with self._call() as client:
                names = sorted(c.name for c in client.get_collections().collections)
        except Exception:  # noqa: BLE001 - the hint is best effort; the real error is "not found"
            names = None
        if names is None:
            hint = "check the collection name (--source-index / --target-index)"
        elif names:
            hint = f"existing collections at {self._where}: {', '.join(names)}"
        else:
            hint = f"there are no collections at {self._where}: is the URL or folder right?"
        msg = f"qdrant collection {collection!r} does not exist at {self._where}"
        return CollectionNotFound(msg, hint=hint, collection=collection)

    def _require_field(self, why: str) -> str:
        if self._field is None:
            msg = f"qdrant has no namespaces, so it cannot {why}"
            raise ConfigError(msg, hint="set --source-option/--target-option namespace_field=KEY to keep namespaces "
                                        "in a payload key")
        return self._field

    def _ns_condition(self, namespace: str) -> models.FieldCondition:
        field = self._require_field(f"filter on namespace {namespace!r}")
        return models.FieldCondition(key=field, match=models.MatchValue(value=namespace))

    def close(self) -> None:
        """Close the client; for a local folder this releases its lock (shared handles: the last close does)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            release_client(handle)

    # --- source and target: shared --------------------------------------------------------------------------

    def exists(self, collection: str) -> bool:
        """Whether the collection exists."""
        with self._call(collection) as client:
            return bool(client.collection_exists(collection))

    def describe(self, collection: str) -> CollectionSchema:
        """Vectors and distances from the collection config, payload fields from a sample, exact count.

        ``id_kind`` is ``int`` when the collection holds integer ids only, ``uuid`` for UUIDs only (and for an
        empty collection), ``str`` when it mixes both (``extras["id_kinds"]`` says so).
        """
        with self._call(collection) as client:
            info = client.get_collection(collection)
            count = int(client.count(collection, exact=True).count)
            sample, _ = client.scroll(collection, limit=_SAMPLE, with_payload=True, with_vectors=False)
            mixed = False
            if sample and isinstance(sample[0].id, int):
                uuids, _ = client.scroll(collection, limit=1, offset=_NIL_UUID, with_payload=False, with_vectors=False)
                mixed = bool(uuids)
        vectors, sparse = collection_vectors(collection, info.config.params)
        id_kind: IdKind = "str" if mixed else ("int" if sample and isinstance(sample[0].id, int) else "uuid")
        indexed = {key: _index_type(schema) for key, schema in (info.payload_schema or {}).items()}
        extras: dict[str, JSONValue] = {}
        if indexed:
            extras["payload_indexes"] = indexed
        if mixed:
            extras["id_kinds"] = ["int", "uuid"]
        namespaces: tuple[str, ...] = ()
        if self._field is not None:
            extras["namespace_field"] = self._field
            values, has_rest, _ = self._scan_namespaces(collection)
            namespaces = tuple(values)
            if has_rest and values:
                extras["records_without_namespace"] = True
        return CollectionSchema(
            name=collection,
            vectors=vectors,
            sparse_vectors=sparse,
            fields=infer_fields([p.payload or {} for p in sample], indexed),
            id_kind=id_kind,
            namespaces=namespaces,
            dynamic_fields=True,
            count=count,
            extras=extras,
        )

    def count(self, collection: str, namespace: str | None = None) -> int:
        """Exact point count (``exact=True``: Qdrant's default count is an estimate)."""
        count_filter = None if namespace is None else models.Filter(must=[self._ns_condition(namespace)])
        with self._call(collection) as client:
            return int(client.count(collection, count_filter=count_filter, exact=True).count)

    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        """Points by id, in the order asked; ids Qdrant cannot hold (so cannot have) are left out."""
        if namespace is not None:
            self._require_field(f"fetch from namespace {namespace!r}")
        wanted = _valid_ids(ids)
        found: dict[models.ExtendedPointId, VectorRecord] = {}
        for start in range(0, len(wanted), _FETCH_CHUNK):
            chunk = wanted[start:start + _FETCH_CHUNK]
            with self._call(collection) as client:
                points = client.retrieve(collection, ids=chunk, with_payload=True, with_vectors=True)
            for point in points:
                rec = record_of(point, self._field)
                if namespace is None or rec.namespace == namespace:
                    found[rec.id] = rec
        return [found[pid] for pid in wanted if pid in found]

    # --- source --------------------------------------------------------------------------------------------------

    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        """Scroll by id; ``{"offset": next_id}`` resumes exactly (``{"offset": None}``: nothing left).

        With ``namespace_field``: one filtered scroll per namespace (records without one first, then namespaces by
        name), and the cursor also names the namespace: ``{"namespace": ns, "offset": next_id}``.
        """
        if batch_size < 1:
            msg = f"batch_size must be at least 1, got {batch_size}"
            raise ConfigError(msg)
        with self._call(collection) as client:
            info = client.get_collection(collection)
        vectors, sparse = collection_vectors(collection, info.config.params)
        dense_names = [v.name for v in vectors]
        sparse_names = [s.name for s in sparse]
        if self._field is None:
            if after is not None and "namespace" in after:
                msg = "this cursor was made with the qdrant namespace_field option, which is now unset"
                raise CheckpointError(msg, hint="resume with the same --source-option namespace_field=... as before")
            offset = _cursor_offset(after)
            if after is not None and offset is None:
                return
            yield from self._scan(collection, _Group(None, None), batch_size, offset, dense_names, sparse_names,
                                  with_namespace=False)
            return
        groups = self._groups(collection)
        start, offset = _resume(groups, after)
        for group in groups[start:]:
            yield from self._scan(collection, group, batch_size, offset, dense_names, sparse_names,
                                  with_namespace=True)
            offset = None

    def _scan(self, collection: str, group: _Group, batch_size: int, offset: RecordId | None,
              dense: list[str], sparse: list[str], *, with_namespace: bool) -> Iterator[Batch]:
        while True:
            with self._call(collection) as client:
                page, next_offset = client.scroll(collection, scroll_filter=group.scroll_filter, limit=batch_size,
                                                  offset=offset, with_payload=True, with_vectors=True)
            if group.keep is not None:
                keep = group.keep
                page = [p for p in page if keep(p.payload or {})]
            for batch, next_first in page_to_batches(page, dense, sparse):
                resume = next_first if next_first is not None else _rid(next_offset)
                batch.namespace = group.namespace
                batch.cursor = {"offset": resume}
                if with_namespace:
                    batch.cursor["namespace"] = group.namespace
                yield batch
            if next_offset is None:
                return
            offset = _rid(next_offset)

    def _scan_namespaces(self, collection: str) -> tuple[list[str], bool, bool]:
        """Distinct string values of the namespace key (payload-only scan).

        Returns:
            the values sorted, whether some points have no string value there, and whether some hold a list
            (a list matches a filter on any of its elements, so those reads need an exact check).
        """
        field = self._require_field("list namespaces")
        values: set[str] = set()
        has_rest = lists = False
        offset: RecordId | None = None
        selector = models.PayloadSelectorInclude(include=[field])
        while True:
            with self._call(collection) as client:
                page, next_offset = client.scroll(collection, limit=_NS_SCAN_PAGE, offset=offset,
                                                  with_payload=selector, with_vectors=False)
            offset = _rid(next_offset)
            for point in page:
                value = (point.payload or {}).get(field)
                if isinstance(value, str):
                    values.add(value)
                else:
                    has_rest = True
                    lists = lists or isinstance(value, list)
            if offset is None:
                return sorted(values), has_rest, lists

    def _groups(self, collection: str) -> list[_Group]:
        field = self._require_field("group by namespace")
        values, has_rest, lists = self._scan_namespaces(collection)
        known = frozenset(values)
        groups: list[_Group] = []
        if has_rest:
            if lists:
                groups.append(_Group(None, None, lambda p: not (isinstance(v := p.get(field), str) and v in known)))
            elif values:
                cond = models.FieldCondition(key=field, match=models.MatchAny(any=values))
                groups.append(_Group(None, models.Filter(must_not=[cond])))
            else:
                groups.append(_Group(None, None))
        for value in values:
            cond = models.FieldCondition(key=field, match=models.MatchValue(value=value))
            keep = (lambda p, v=value: p.get(field) == v) if lists else None
            groups.append(_Group(value, models.Filter(must=[cond]), keep))
        return groups

    # --- target --------------------------------------------------------------------------------------------------

    def create_collection(self, schema: CollectionSchema) -> None:
        """Create the collection: unnamed vector when the schema's only vector is ``""``, else named vectors."""
        dense, sparse = vectors_config(schema)
        with self._call(schema.name) as client:
            client.create_collection(schema.name, vectors_config=dense, sparse_vectors_config=sparse or None)
            if self._field is not None and not self._open().local:
                # tenant index: Qdrant co-locates each tenant's points (local mode ignores indexes, with a warning)
                client.create_payload_index(schema.name, field_name=self._field, wait=True,
                                            field_schema=models.KeywordIndexParams(
                                                type=models.KeywordIndexType.KEYWORD, is_tenant=True))
        self._metrics = {k: v for k, v in self._metrics.items() if k[0] != schema.name}

    def drop_collection(self, collection: str) -> None:
        """Delete the collection (nothing happens when it does not exist)."""
        with self._call(collection) as client:
            client.delete_collection(collection)
        self._metrics = {k: v for k, v in self._metrics.items() if k[0] != collection}

    def write_batch(self, collection: str, batch: Batch) -> None:
        """Upsert the batch and wait until it is applied.

        A record Qdrant would refuse is reported before anything is sent when it can be seen here (id, NaN);
        otherwise, when the server refuses the request, the batch is bisected (upserts are idempotent) to name
        the record.
        """
        if not batch.ids:
            return
        ids = validate_batch(batch)
        payloads = batch.metadata
        if batch.namespace is not None:
            field = self._require_field(f"write a batch for namespace {batch.namespace!r}")
            payloads = [{**meta, field: batch.namespace} for meta in payloads]
        self._upsert(collection, batch, ids, payloads)

    def _upsert(self, collection: str, batch: Batch, ids: list[models.ExtendedPointId],
                payloads: list[dict[str, JSONValue]]) -> None:
        try:
            with self._call(collection, writing=True) as client:
                # built inside the block: a payload pydantic cannot serialise is a refused record too
                client.upsert(collection, points=batch_to_points(batch, ids, payloads), wait=True)
        except BadRequest as exc:
            if len(ids) == 1:
                msg = f"record {batch.ids[0]!r}: {exc.message}"
                raise RecordError(msg, hint=exc.hint, record_id=batch.ids[0]) from exc
            mid = len(ids) // 2
            self._upsert(collection, batch.slice(0, mid), ids[:mid], payloads[:mid])
            self._upsert(collection, batch.slice(mid, len(ids)), ids[mid:], payloads[mid:])

    def delete(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        """Delete points by id (in one namespace, when given); unknown ids are ignored."""
        wanted = _valid_ids(ids)
        for start in range(0, len(wanted), _DELETE_CHUNK):
            chunk = wanted[start:start + _DELETE_CHUNK]
            selector: models.PointIdsList | models.FilterSelector
            if namespace is None:
                selector = models.PointIdsList(points=chunk)
            else:
                selector = models.FilterSelector(filter=models.Filter(
                    must=[models.HasIdCondition(has_id=chunk), self._ns_condition(namespace)]))
            with self._call(collection) as client:
                client.delete(collection, points_selector=selector, wait=True)

    # --- aliases (zero-downtime cutover) --------------------------------------------------------------------------

    def point_alias(self, alias: str, collection: str) -> str | None:
        """Point ``alias`` at ``collection`` in one ``update_collection_aliases`` call (atomic on the server)."""
        previous = self.resolve_alias(alias)
        ops: list[models.DeleteAliasOperation | models.CreateAliasOperation] = []
        if previous is not None:
            ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
        ops.append(models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection,
                                                                               alias_name=alias)))
        with self._call(collection, writing=True) as client:
            client.update_collection_aliases(change_aliases_operations=ops)
        return previous

    def resolve_alias(self, alias: str) -> str | None:
        """The collection ``alias`` points to, or None."""
        with self._call() as client:
            found = [a.collection_name for a in client.get_aliases().aliases if a.alias_name == alias]
        return str(found[0]) if found else None

    # --- search --------------------------------------------------------------------------------------------------

    def search(self, collection: str, vector_name: str, query: Sequence[float], top_k: int,
               namespace: str | None = None) -> list[tuple[RecordId, float]]:
        """Nearest points by ``query_points``; scores are higher-is-better (Euclid distances are negated)."""
        metric = self._metric(collection, vector_name)
        query_filter = None if namespace is None else models.Filter(must=[self._ns_condition(namespace)])
        vector = [float(x) for x in query]
        with self._call(collection) as client:
            result = client.query_points(collection, query=vector, using=vector_name or None, limit=top_k,
                                         query_filter=query_filter, with_payload=False, with_vectors=False)
        sign = -1.0 if metric is Metric.EUCLID else 1.0
        return [(record_id(point.id), sign * float(point.score)) for point in result.points]

    def _metric(self, collection: str, vector_name: str) -> Metric:
        key = (collection, vector_name)
        if key not in self._metrics:
            with self._call(collection) as client:
                info = client.get_collection(collection)
            vectors, _ = collection_vectors(collection, info.config.params)
            for spec in vectors:
                self._metrics[(collection, spec.name)] = spec.metric
            if key not in self._metrics:
                names = ", ".join(repr(v.name) for v in vectors) or "none"
                msg = f"qdrant collection {collection!r} has no dense vector {vector_name!r} (it has {names})"
                raise TerminalError(msg, collection=collection)
        return self._metrics[key]


def _index_type(schema: Any) -> str:
    """The data type of a payload index (``keyword``, ``integer``...)."""
    data_type = getattr(schema, "data_type", None)
    return str(getattr(data_type, "value", data_type))


def _rid(pid: object) -> RecordId | None:
    """A scroll offset as a JSON-safe cursor value (the client may also type it as a gRPC ``PointId``)."""
    if pid is None:
        return None
    if isinstance(pid, int | str | uuid.UUID) and not isinstance(pid, bool):
        return record_id(pid)
    msg = f"unexpected qdrant point id {pid!r}"
    raise TypeError(msg)


def _valid_ids(ids: Sequence[RecordId]) -> list[models.ExtendedPointId]:
    """The ids Qdrant can hold, canonical (UUIDs lowercase hyphenated), without repeats."""
    out: dict[models.ExtendedPointId, None] = {}
    for rid in ids:
        try:
            out[point_id(rid)] = None
        except RecordError:
            continue
    return list(out)


def _cursor_offset(after: Cursor | None) -> RecordId | None:
    if after is None:
        return None
    offset = after.get("offset")
    if offset is None or (isinstance(offset, int | str) and not isinstance(offset, bool)):
        return offset
    msg = f"qdrant cursor offset {offset!r} is neither a point id nor null"
    raise CheckpointError(msg, hint="the checkpoint was not written by the qdrant connector")


def _resume(groups: list[_Group], after: Cursor | None) -> tuple[int, RecordId | None]:
    """Which group to start with, and where in it."""
    if after is None:
        return 0, None
    if "namespace" not in after:
        msg = "this cursor was made without the qdrant namespace_field option, which is now set"
        raise CheckpointError(msg, hint="resume with the same --source-option settings as the first run")
    ns = after["namespace"]
    if ns is not None and not isinstance(ns, str):
        msg = f"qdrant cursor namespace {ns!r} is not a string"
        raise CheckpointError(msg, hint="the checkpoint was not written by the qdrant connector")
    offset = _cursor_offset(after)
    key = (0, "") if ns is None else (1, ns)
    for i, group in enumerate(groups):
        if group.key == key:
            return (i + 1, None) if offset is None else (i, offset)
        if group.key > key:
            # the namespace has vanished since: everything before it was read, carry on from the next one
            return i, None
    return len(groups), None
