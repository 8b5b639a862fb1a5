"""The Milvus connector: a Milvus server (``http(s)://host:port``) or a milvus-lite file (``./data/milvus.db``).

Everything goes through pymilvus's ``MilvusClient``. The quirks it works around are in ``NOTES.md``; the ones
that shape this module:

* **Scans** are pk-ordered pages: ``query(filter="pk > <last>", limit=N)`` with the query-iterator flags
  (``iterator=True``), which make both Milvus and milvus-lite return the N smallest primary keys in order. The
  cursor is ``{"partition": p, "after": last_pk}``, so a new process resumes exactly after the last record
  yielded. (pymilvus's ``query_iterator`` keeps its position in memory or in a local file, which a checkpoint
  cannot carry.) Without ``iterator=True`` milvus-lite 3 returns pages in insertion order.
* **Partitions** are namespaces, ``_default`` is namespace ``None``. A partition-key collection has no
  namespaces: its key is an ordinary metadata field (reported in ``extras["partition_key"]``).
* **Capabilities depend on the server**: Milvus before 2.4 has one vector field per collection and no sparse
  vectors; the connector reads the server version when it connects and narrows ``capabilities`` to match.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from vectormigrate.connectors.base import Aliasable, ConnectionConfig, Connector, OptionSpec, Searchable
from vectormigrate.connectors.milvus._codec import Page, decode_page, encode_rows
from vectormigrate.connectors.milvus._errors import translate_errors
from vectormigrate.connectors.milvus._schema import (
    DEFAULT_PARTITION,
    INT64_MAX,
    INT64_MIN,
    UNNAMED_VECTOR,
    MilvusCollection,
    after_filter,
    all_rows_filter,
    build_schema,
    check_partition_name,
    infer_dynamic_fields,
    metric_name,
    parse_collection,
    pk_in_filter,
)
from vectormigrate.connectors.milvus._server import (
    ServerInfo,
    lite_write_lock,
    release_lite,
    resolve_url,
    retain_lite,
)
from vectormigrate.errors import CheckpointError, ConfigError, RecordError, SchemaMismatchError, TerminalError
from vectormigrate.model import (
    Batch,
    Capabilities,
    CollectionSchema,
    Cursor,
    FieldSpec,
    Metric,
    RecordId,
    SparseVector,
    VectorRecord,
)

__all__ = ["MilvusConnector"]

# pymilvus logs every failed RPC at ERROR level with a traceback before raising it. We translate and re-raise
# every one of them, so that log only duplicates our message (and leaks internals into the CLI's stderr).
logging.getLogger("pymilvus.decorators").setLevel(logging.CRITICAL)

_CONSISTENCY = {"strong": "Strong", "bounded": "Bounded", "session": "Session", "eventually": "Eventually"}
_MAX_QUERY_WINDOW = 16_384
"""Milvus refuses a query ``limit`` above 16,384 (``quotaAndLimits.limits.maxQueryResultWindow``)."""
_PAGE_BYTES = 16 * 1024 * 1024
"""Target size of one scan page: big pages amortise milvus-lite's per-query cost, and stay far below 64 MB."""
_FETCH_CHUNK = 1000
_NOT_LOADED = 101
"""Milvus status code of "collection not loaded" (milvus-lite: "is in state 'released'")."""
_DYNAMIC_SAMPLE = 100
_PARTITION_KEY_BUCKET = re.compile(r"^(_pk_\d+|_default_\d+)$")
"""Partitions a partition-key collection shows: ``_pk_0..15`` on milvus-lite 3, ``_default_0..N`` on servers."""

_BASE_CAPABILITIES = Capabilities(
    id_kinds=frozenset({"int", "uuid", "str"}),
    max_batch_records=10_000,
    max_batch_bytes=16 * 1024 * 1024,   # Milvus refuses RPCs over 64 MB; leave room for the metadata estimate
    named_vectors=True,
    sparse_vectors=True,
    metrics=frozenset(Metric),
    metadata_types=frozenset({"string", "int", "float", "bool", "list", "object", "json"}),
    namespace_model="partition",
    stable_scan_order=True,
    idempotent_upsert=True,
    aliases=True,
    nested_metadata=True,
    null_metadata=True,
    max_id_length=65_535,
    max_metadata_bytes=None,
    max_dim=32_768,
    normalizes_cosine=False,
    unnamed_vector=UNNAMED_VECTOR,
)


class MilvusConnector(Connector, Searchable, Aliasable):
    """Milvus (server or milvus-lite) as a source and a target, through pymilvus ``MilvusClient``.

    ``--*-url``: ``http(s)://host:port`` for a server (the api key is the token: ``user:password`` or a Zilliz
    Cloud key), or a path ending in ``.db`` for milvus-lite (created if missing; its folder must exist).

    ``capabilities`` is narrowed per instance once the server version is known (Milvus < 2.4: a single vector
    field, no sparse vectors).
    """

    name: ClassVar[str] = "milvus"
    extra: ClassVar[str] = "milvus"
    capabilities: ClassVar[Capabilities] = _BASE_CAPABILITIES
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("db_name", "Milvus database to use (default: the server's default database)", str, ""),
        OptionSpec("consistency_level",
                   "consistency of counts, fetches and created collections: Strong (default), Bounded, Session, "
                   "Eventually. Servers default to Bounded, which hides writes of the last seconds from count()",
                   str, "Strong"),
        OptionSpec("varchar_max_length",
                   "max_length in bytes of the VARCHAR columns (and string primary key) this connector creates; "
                   "Milvus does not preallocate it, so the maximum, 65535, costs nothing", int, 65_535),
        OptionSpec("timeout", "seconds one Milvus call may take, pymilvus's own retries included", float, 120.0),
    )

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        level = str(self.opts["consistency_level"]).strip().lower()
        if level not in _CONSISTENCY:
            msg = f"milvus option consistency_level={self.opts['consistency_level']!r} is not a consistency level"
            raise ConfigError(msg, hint="use Strong, Bounded, Session or Eventually")
        self._consistency = _CONSISTENCY[level]
        self._varchar_max = int(self.opts["varchar_max_length"])
        if not 1 <= self._varchar_max <= 65_535:
            msg = f"milvus option varchar_max_length={self._varchar_max} is out of range"
            raise ConfigError(msg, hint="Milvus VARCHAR max_length is between 1 and 65535 bytes")
        self._timeout = float(self.opts["timeout"])
        self._uri, self._where = resolve_url(config.url)
        self._lite_path = None if config.is_server else self._uri
        # Writes to milvus-lite are serialised per folder (see lite_write_lock); servers take them concurrently.
        self._writing: AbstractContextManager[Any] = (
            lite_write_lock(self._lite_path) if self._lite_path is not None else nullcontext())
        # Opening a lite file starts its in-process server; two threads doing it at once both try to lock the
        # folder and one fails, so opening (and closing, below) takes the same per-folder lock as writes.
        with self._writing, self._errors("connect to", connecting=True):
            self._client = MilvusClient(uri=self._uri, token=config.api_key or "",
                                        db_name=str(self.opts["db_name"] or ""), timeout=min(self._timeout, 30.0))
            if self._lite_path is not None:
                retain_lite(self._lite_path)
        try:
            with self._errors("connect to", connecting=True):
                version = str(self._client.get_server_version(timeout=self._timeout))
        except BaseException:
            self.close()   # do not leave a lite server holding the folder's lock
            raise
        self.server = ServerInfo.detect(version)
        # Narrow the class-level capabilities for this server. `capabilities` is a ClassVar in the contract (the
        # registry lists it without connecting); an instance attribute shadows it for the plan and the tests.
        vars(self)["capabilities"] = replace(
            _BASE_CAPABILITIES,
            named_vectors=self.server.multi_vector,
            sparse_vectors=self.server.sparse,
            max_metadata_bytes=self.server.max_dynamic_bytes,
            max_id_length=self._varchar_max,
        )
        self._collections: dict[str, MilvusCollection] = {}
        self._loaded: set[str] = set()
        self._partitions: dict[str, set[str]] = {}

    # --- plumbing --------------------------------------------------------------------------------------------

    def _errors(self, action: str, collection: str | None = None, *, connecting: bool = False) -> Any:
        return translate_errors(action, where=self._where, collection=collection, connecting=connecting,
                                existing=self._list_quietly, secrets=(self.config.api_key,))

    def _list_quietly(self) -> list[str]:
        return [str(n) for n in self._client.list_collections(timeout=10.0)]

    def close(self) -> None:
        """Close the client; the last connector on a milvus-lite path also stops its in-process server.

        milvus-lite locks its folder for the whole process while its server runs, so another process (a resumed
        migration, the CLI after the MCP server used the file) could not open it until this one exits.
        """
        client = self.__dict__.pop("_client", None)
        if client is None:
            return
        with self._writing:   # never stop the lite server under another thread's write or open
            client.close()
            if self._lite_path is not None:
                release_lite(self._lite_path)

    def _collection(self, name: str, *, refresh: bool = False) -> MilvusCollection:
        """The cached view of a collection (describe + indexes); raises CollectionNotFound."""
        if refresh or name not in self._collections:
            with self._errors("describe", name):
                desc = self._client.describe_collection(name, timeout=self._timeout)
                indexes: dict[str, dict[str, Any]] = {}
                for index_name in self._client.list_indexes(name, timeout=self._timeout):
                    info = self._client.describe_index(name, index_name, timeout=self._timeout)
                    if info:
                        indexes[str(info.get("field_name", index_name))] = dict(info)
            self._collections[name] = parse_collection(desc, indexes)
        return self._collections[name]

    def _ensure_loaded(self, name: str) -> None:
        """Load a released collection before querying it (milvus-lite 3 forgets the load state on reopen)."""
        if name in self._loaded:
            return
        with self._errors("load", name):
            state = self._client.get_load_state(name, timeout=self._timeout).get("state")
            if getattr(state, "name", str(state)) != "Loaded":
                self._client.load_collection(name, timeout=self._timeout)
        self._loaded.add(name)

    def _user_partitions(self, name: str, *, refresh: bool = False) -> set[str]:
        """Partitions other than ``_default`` (and other than a partition key's buckets)."""
        if refresh or name not in self._partitions:
            with self._errors("list the partitions of", name):
                parts = self._client.list_partitions(name, timeout=self._timeout)
            self._partitions[name] = {str(p) for p in parts
                                      if p != DEFAULT_PARTITION and not _PARTITION_KEY_BUCKET.match(str(p))}
        return self._partitions[name]

    def _forget(self, name: str) -> None:
        self._collections.pop(name, None)
        self._loaded.discard(name)
        self._partitions.pop(name, None)

    def _query(self, col: MilvusCollection, *, filter_: str, output_fields: list[str], partition: str | None,
               **kwargs: Any) -> Any:
        def once() -> Any:
            with self._errors("query", col.name):
                return self._client.query(col.name, filter=filter_, output_fields=output_fields,
                                          partition_names=[partition] if partition else None,
                                          timeout=self._timeout, **kwargs)
        try:
            return once()
        except TerminalError as exc:
            # Someone released the collection under us (or milvus-lite restarted): load it again, once.
            if getattr(exc.__cause__, "code", None) != _NOT_LOADED:
                raise
            self._loaded.discard(col.name)
            self._ensure_loaded(col.name)
            return once()

    # --- source ----------------------------------------------------------------------------------------------

    def exists(self, collection: str) -> bool:
        """Whether the collection exists."""
        with self._errors("look up", collection):
            return bool(self._client.has_collection(collection, timeout=self._timeout))

    def describe(self, collection: str) -> CollectionSchema:
        """Schema, exact count, partitions holding data and a sample of dynamic-field keys."""
        col = self._collection(collection, refresh=True)
        self._ensure_loaded(collection)
        namespaces: list[str] = []
        if not col.partition_key:
            parts = sorted(self._user_partitions(collection, refresh=True))
            namespaces.extend(p for p in parts if self._count(col, p) > 0)
        dynamic: tuple[FieldSpec, ...] = ()
        if col.dynamic:
            res = self._query(col, filter_=all_rows_filter(col.pk, col.pk_kind), output_fields=[col.pk, "$meta"],
                              partition=None, limit=_DYNAMIC_SAMPLE, consistency_level=self._consistency)
            sample = [{k: v for k, v in row.items() if k != col.pk and k not in col.scalars} for row in res]
            dynamic = infer_dynamic_fields(sample)
        return col.canonical(count=self._count(col, None), namespaces=namespaces, dynamic_fields=dynamic,
                             server=self.server.version)

    def count(self, collection: str, namespace: str | None = None) -> int:
        """Exact count (``count(*)`` at the configured consistency, Strong by default)."""
        col = self._collection(collection)
        self._ensure_loaded(collection)
        if namespace is None:
            return self._count(col, None)
        part = _partition(namespace)
        if part != DEFAULT_PARTITION and part not in self._user_partitions(collection, refresh=True):
            return 0
        return self._count(col, part)

    def _count(self, col: MilvusCollection, partition: str | None) -> int:
        # milvus-lite ignores partition_names in count(*) when the filter is empty: always give one.
        res = self._query(col, filter_=all_rows_filter(col.pk, col.pk_kind) if partition else "",
                          output_fields=["count(*)"], partition=partition, consistency_level=self._consistency)
        return int(res[0]["count(*)"]) if len(res) else 0

    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        """Every record, partition by partition (``_default`` first, then by name), in primary-key order.

        The cursor ``{"partition": name | None, "after": last_pk}`` resumes right after the last record yielded,
        in this process or a new one.
        """
        if batch_size < 1:
            msg = f"batch_size must be at least 1, got {batch_size}"
            raise ConfigError(msg, hint="pass a positive --batch-size")
        col = self._collection(collection, refresh=True)
        self._ensure_loaded(collection)
        parts: list[str | None] = ([None] if col.partition_key
                                   else [DEFAULT_PARTITION, *sorted(self._user_partitions(collection, refresh=True))])
        start, last = self._resume_point(col, parts, after)
        # One query at the configured consistency (Strong by default) first: scan pages then run at the
        # collection's own level (pymilvus forces it for iterator queries), but this one has made the server
        # catch up with every write acknowledged before the scan started.
        self._query(col, filter_=all_rows_filter(col.pk, col.pk_kind), output_fields=[col.pk], partition=None,
                    limit=1, consistency_level=self._consistency)
        page_size = _page_size(col, batch_size)
        for i, part in enumerate(parts[start:]):
            yield from self._scan(col, part, batch_size, page_size, last if i == 0 else None)

    def _resume_point(self, col: MilvusCollection, parts: list[str | None],
                      after: Cursor | None) -> tuple[int, RecordId | None]:
        if not after:
            return 0, None
        if "partition" not in after or "after" not in after:
            msg = f"cursor {after!r} was not made by the milvus connector"
            raise CheckpointError(msg, hint="resume with the same source type, or start the migration over")
        part, last = after["partition"], after["after"]
        valid = isinstance(last, int) and not isinstance(last, bool) if col.pk_kind == "int" else isinstance(last, str)
        if not valid:
            msg = f"cursor {after!r} does not fit collection {col.name!r} (primary key {col.pk} is {col.pk_kind})"
            raise CheckpointError(msg, hint="the source collection changed since the checkpoint; start over")
        if part in parts:
            return parts.index(part), last
        # The cursor's partition is gone (dropped since): continue with the next one in scan order.
        key = _part_key(part)
        later = [i for i, p in enumerate(parts) if _part_key(p) > key]
        return (later[0] if later else len(parts)), None

    def _scan(self, col: MilvusCollection, part: str | None, batch_size: int, page_size: int,
              last: RecordId | None) -> Iterator[Batch]:
        namespace = None if part in (None, DEFAULT_PARTITION) else part
        fields = col.output_fields
        while True:
            # iterator=True: the server returns the `limit` smallest pks above `last`, in pk order (milvus-lite 3
            # would otherwise return insertion order). reduce_stop_for_best=False keeps pages at exactly `limit`.
            res = self._query(col, filter_=after_filter(col.pk, col.pk_kind, last), output_fields=fields,
                              partition=part, limit=page_size, iterator="True", reduce_stop_for_best="False")
            page = _in_pk_order(decode_page(col, res), last)
            if not len(page):
                return
            for lo in range(0, len(page), batch_size):
                batch = page.to_batch(lo, min(lo + batch_size, len(page)), namespace)
                batch.cursor = {"partition": part, "after": batch.ids[-1]}
                yield batch
            last = page.ids[-1]

    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        """The records with these ids (in the order asked), each with the namespace it lives in."""
        col = self._collection(collection)
        wanted = [i for i in dict.fromkeys(ids) if _id_fits(col, i)]
        if not wanted:
            return []
        self._ensure_loaded(collection)
        parts = self._parts_for(col, namespace)
        found: dict[RecordId, VectorRecord] = {}
        for part in parts:
            remaining = [i for i in wanted if i not in found]
            for lo in range(0, len(remaining), _FETCH_CHUNK):
                chunk = remaining[lo:lo + _FETCH_CHUNK]
                res = self._query(col, filter_=pk_in_filter(col.pk, chunk), output_fields=col.output_fields,
                                  partition=part, consistency_level=self._consistency)
                page = decode_page(col, res)
                ns = None if part in (None, DEFAULT_PARTITION) else part
                for rec in _records(page, ns):
                    found.setdefault(rec.id, rec)
        return [found[i] for i in wanted if i in found]

    def _parts_for(self, col: MilvusCollection, namespace: str | None) -> list[str | None]:
        """Partitions to look in: the namespace's, or each partition in turn (to learn each record's)."""
        if namespace is not None:
            part = _partition(namespace)
            if part == DEFAULT_PARTITION or part in self._user_partitions(col.name, refresh=True):
                return [part]
            return []
        if col.partition_key:
            return [None]
        users = sorted(self._user_partitions(col.name, refresh=True))
        return [DEFAULT_PARTITION, *users] if users else [None]

    # --- target ----------------------------------------------------------------------------------------------

    def create_collection(self, schema: CollectionSchema) -> None:
        """Create the collection, one AUTOINDEX per dense vector (the schema's metric), its partitions; load it.

        Declared, non-nullable string / int / float / bool fields become typed columns (VARCHAR, INT64, DOUBLE,
        BOOL); every other metadata key goes to the dynamic field.
        """
        plan = build_schema(schema, varchar_max_length=self._varchar_max, multi_vector=self.server.multi_vector,
                            sparse_supported=self.server.sparse)
        namespaces = [ns for ns in dict.fromkeys(schema.namespaces) if _partition(ns) != DEFAULT_PARTITION]
        for ns in namespaces:
            check_partition_name(ns)
        ms = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
        if plan.pk_kind == "int":
            ms.add_field(plan.pk, DataType.INT64, is_primary=True)
        else:
            ms.add_field(plan.pk, DataType.VARCHAR, is_primary=True, max_length=plan.pk_max_length)
        index = MilvusClient.prepare_index_params()
        for fname, spec in plan.vectors.items():
            ms.add_field(fname, DataType.FLOAT_VECTOR, dim=spec.dim)
            # AUTOINDEX: the server picks (HNSW on 2.3-2.5, milvus-lite's FAISS); the only type Zilliz Cloud takes.
            index.add_index(fname, index_type="AUTOINDEX", metric_type=metric_name(spec.metric))
        for fname in plan.sparse:
            ms.add_field(fname, DataType.SPARSE_FLOAT_VECTOR)
            index.add_index(fname, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        for fname, (dtype, fspec) in plan.typed.items():
            if dtype == DataType.VARCHAR:
                ms.add_field(fname, dtype, max_length=fspec.max_length or self._varchar_max)
            else:
                ms.add_field(fname, dtype)
        self._forget(schema.name)
        with self._writing, self._errors("create collection", schema.name):
            self._client.create_collection(schema.name, schema=ms, consistency_level=self._consistency,
                                           timeout=self._timeout)
            # sync=False: pymilvus would poll the index state (sleeping 0.5 s per index first, and calling an RPC
            # milvus-lite does not implement); loading below waits for the indexes anyway.
            self._client.create_index(schema.name, index, timeout=self._timeout, sync=False)
            for ns in namespaces:
                self._client.create_partition(schema.name, ns, timeout=self._timeout)
            self._client.load_collection(schema.name, timeout=self._timeout)
        self._loaded.add(schema.name)

    def drop_collection(self, collection: str) -> None:
        """Drop the collection if it exists."""
        with self._writing, self._errors("drop", collection):
            if self._client.has_collection(collection, timeout=self._timeout):
                self._client.drop_collection(collection, timeout=self._timeout)
        self._forget(collection)

    def ensure_namespace(self, collection: str, namespace: str) -> None:
        """Create the partition for ``namespace`` if it is missing."""
        part = _partition(namespace)
        if part == DEFAULT_PARTITION or part in self._partitions.get(collection, set()):
            return
        check_partition_name(part)
        col = self._collection(collection)
        if col.partition_key:
            msg = (f"collection {collection!r} routes records by its partition key {col.partition_key!r}; "
                   f"it cannot also take namespace {namespace!r} as a partition")
            raise SchemaMismatchError(msg, hint="move the namespace into a metadata field (the partition key)",
                                      collection=collection)
        if part not in self._user_partitions(collection, refresh=True):
            with self._writing, self._errors(f"create partition {part!r} in", collection):
                self._client.create_partition(collection, part, timeout=self._timeout)
            self._user_partitions(collection, refresh=True)

    def write_batch(self, collection: str, batch: Batch) -> None:
        """Upsert the batch (into ``batch.namespace``'s partition, created if missing)."""
        if not len(batch):
            return
        col = self._collection(collection)
        if self.server.hides_int64_max and col.pk_kind == "int" and INT64_MAX in batch.ids:
            msg = (f"record {INT64_MAX}: Milvus {self.server.version} stores a primary key of 2^63-1 but never "
                   f"returns it from a query, so it could not be read back or validated")
            raise RecordError(msg, hint="upgrade to Milvus 2.4+ or map the id in the plan", record_id=INT64_MAX,
                              field="id", collection=collection)
        rows = encode_rows(col, batch, max_dynamic_bytes=self.server.max_dynamic_bytes)
        part = ""
        if batch.namespace is not None and _partition(batch.namespace) != DEFAULT_PARTITION:
            self.ensure_namespace(collection, batch.namespace)
            part = batch.namespace
        with self._writing, self._errors("upsert into", collection):
            self._client.upsert(collection, rows, partition_name=part, timeout=self._timeout)

    def delete(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        """Delete these ids (in one namespace's partition when given); missing ids are ignored."""
        col = self._collection(collection)
        wanted = [i for i in dict.fromkeys(ids) if _id_fits(col, i)]
        if not wanted:
            return
        part: str | None = None
        if namespace is not None:
            part = _partition(namespace)
            if part != DEFAULT_PARTITION and part not in self._user_partitions(collection, refresh=True):
                return
        self._ensure_loaded(collection)
        for lo in range(0, len(wanted), _FETCH_CHUNK):
            chunk = wanted[lo:lo + _FETCH_CHUNK]
            if part is not None:
                # milvus-lite 3 ignores partition_name in delete: only send the ids that live in this partition.
                res = self._query(col, filter_=pk_in_filter(col.pk, chunk), output_fields=[col.pk], partition=part,
                                  consistency_level=self._consistency)
                chunk = [row[col.pk] for row in res]
                if not chunk:
                    continue
            with self._writing, self._errors("delete from", collection):
                # pymilvus's `ids=` builds the filter without escaping quotes; build it ourselves.
                self._client.delete(collection, filter=pk_in_filter(col.pk, chunk), partition_name=part,
                                    timeout=self._timeout)

    # --- aliases (zero-downtime cutover) ----------------------------------------------------------------------

    def point_alias(self, alias: str, collection: str) -> str | None:
        """Point ``alias`` at ``collection``: ``alter_alias`` when it exists (atomic), else ``create_alias``."""
        previous = self.resolve_alias(alias)
        with self._errors(f"point alias {alias!r} at", collection):
            if previous is None:
                self._client.create_alias(collection, alias, timeout=self._timeout)
            else:
                self._client.alter_alias(collection, alias, timeout=self._timeout)
        return previous

    def resolve_alias(self, alias: str) -> str | None:
        """The collection ``alias`` points to, or None."""
        try:
            info = self._client.describe_alias(alias, timeout=self._timeout)
        except MilvusException as exc:
            text = str(exc).lower()
            if "not exist" in text or "not found" in text:
                return None
            with self._errors(f"look up alias {alias!r} in", None):
                raise
        name = info.get("collection_name") if info else None
        return str(name) if name else None

    # --- search ----------------------------------------------------------------------------------------------

    def search(self, collection: str, vector_name: str, query: Sequence[float], top_k: int,
               namespace: str | None = None) -> list[tuple[RecordId, float]]:
        """ANN search on one dense vector. Scores are Milvus's: similarity for COSINE / IP, distance for L2."""
        col = self._collection(collection)
        fname = vector_name if vector_name in col.vectors else (
            next(iter(col.vectors)) if not vector_name and len(col.vectors) == 1 else None)
        if fname is None:
            msg = f"collection {collection!r} has no dense vector {vector_name!r} ({', '.join(col.vectors)})"
            raise SchemaMismatchError(msg, hint="search one of the collection's vector fields", collection=collection)
        self._ensure_loaded(collection)
        parts = None
        if namespace is not None:
            parts = self._parts_for(col, namespace)
            if not parts:
                return []
        vec = np.asarray(query, dtype=np.float32).tolist()
        with self._errors("search", collection):
            res = self._client.search(
                collection, data=[vec], anns_field=fname, limit=top_k, output_fields=[col.pk],
                partition_names=[p for p in parts if p] if parts else None,
                search_params={"metric_type": metric_name(col.vectors[fname].metric)},
                consistency_level=self._consistency, timeout=self._timeout)
        return [(hit["id"], float(hit["distance"])) for hit in res[0]]


# --- helpers -------------------------------------------------------------------------------------------------

def _partition(namespace: str) -> str:
    return namespace or DEFAULT_PARTITION


def _part_key(part: str | None) -> tuple[int, str]:
    return (0, "") if part in (None, DEFAULT_PARTITION) else (1, str(part))


def _id_fits(col: MilvusCollection, rid: RecordId) -> bool:
    """Whether ``rid`` could be a key of this collection (an id of the other kind cannot exist in it)."""
    if col.pk_kind == "int":
        return isinstance(rid, int) and not isinstance(rid, bool) and INT64_MIN <= rid <= INT64_MAX
    return isinstance(rid, str) and bool(rid)


def _page_size(col: MilvusCollection, batch_size: int) -> int:
    """Rows per scan query: at least one batch, about 16 MB, at most Milvus's query window."""
    row_bytes = 4 * sum(v.dim for v in col.vectors.values()) + 400 * len(col.sparse) + 512
    return max(1, min(_MAX_QUERY_WINDOW, max(batch_size, _PAGE_BYTES // row_bytes)))


def _in_pk_order(page: Page, last: RecordId | None) -> Page:
    """The page sorted by primary key, without keys at or below ``last``.

    Milvus already returns iterator pages in pk order; this guards the cursor against a server that does not.
    """
    ids = page.ids
    ordered = all(a < b for a, b in itertools.pairwise(ids))  # type: ignore[operator]
    keep = list(range(len(ids)))
    if not ordered:
        keep.sort(key=lambda i: ids[i])
    if last is not None:
        keep = [i for i in keep if ids[i] > last]  # type: ignore[operator]
    if ordered and len(keep) == len(ids):
        return page
    return page.reorder(keep)


def _records(page: Page, namespace: str | None) -> Iterator[VectorRecord]:
    for i, rid in enumerate(page.ids):
        sparse: dict[str, SparseVector] = {}
        for name, col in page.sparse.items():
            sv = col[i]
            if sv is not None:
                sparse[name] = sv
        yield VectorRecord(id=rid, vectors={k: v[i] for k, v in page.vectors.items()}, sparse=sparse,
                           metadata=page.metadata[i], namespace=namespace)

