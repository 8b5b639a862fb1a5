"""The Pinecone connector: the official ``pinecone`` SDK over REST (control plane + one data-plane host per index)."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from pinecone import Pinecone
from pinecone.index import Index
from pinecone.models.indexes.index import IndexModel
from pinecone.models.vectors.responses import DescribeIndexStatsResponse
from pinecone.models.vectors.vector import Vector

from vectormigrate.connectors.base import ConnectionConfig, Connector, OptionSpec, Searchable
from vectormigrate.connectors.pinecone._convert import (
    DEFAULT_SPARSE_NAME,
    METRIC_NAME,
    SPARSE_TAG,
    IndexInfo,
    check_index_name,
    fetch_chunks,
    index_info,
    infer_fields,
    pack_requests,
    records_of,
    schema_vectors,
    to_upsert,
)
from vectormigrate.connectors.pinecone._errors import BadRequest, translate_errors
from vectormigrate.errors import (
    CheckpointError,
    CollectionNotFound,
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
    JSONValue,
    Metric,
    RecordId,
    VectorRecord,
)

__all__ = ["PineconeConnector"]

DEFAULT_URL = "https://api.pinecone.io"
_LIST_PAGE = 100
"""``list`` returns at most 100 ids per page (the SDK refuses larger limits)."""
_SAMPLE_IDS = 100
"""Records ``describe`` fetches to infer metadata fields."""
_DELETE_CHUNK = 1000
_INDEX_WAIT = 600
"""Seconds to wait for a new index to be ready, or a deleted one to be gone."""
_DEFAULT_NS = ("", "__default__")
"""The default namespace: ``""`` in vector requests, ``"__default__"`` in index stats since API 2026-07."""
_SCHEMA_PROBLEM = re.compile(r"(?i)dimension .*does not match|does not support sparse|is a sparse index")


def _canon_ns(name: str) -> str:
    return "" if name in _DEFAULT_NS else name


def _ns_key(name: str) -> tuple[int, str]:
    """Read order: the default namespace first, then the others by name."""
    return (0, "") if name == "" else (1, name)


class PineconeConnector(Connector, Searchable):
    """Pinecone serverless (and, as a target, pod) indexes through the official SDK's REST client.

    ``--*-url`` names the control plane (default ``https://api.pinecone.io``; Pinecone Local:
    ``http://localhost:5080``); each index's data-plane host comes from describing it, so plain ``http://`` hosts
    work. The API key is ``--*-api-key`` or ``$PINECONE_API_KEY``.

    A record is an ASCII string id, one dense vector (the canonical unnamed vector ``""``), optionally one sparse
    vector (named by the index tag ``vectormigrate-sparse-name``, else ``"sparse"``) and flat metadata. The default
    namespace is the canonical "no namespace" (``batch.namespace is None``); other namespaces keep their names.
    """

    name: ClassVar[str] = "pinecone"
    extra: ClassVar[str] = "pinecone"
    capabilities: ClassVar[Capabilities] = Capabilities(
        id_kinds=frozenset({"str"}),
        max_batch_records=1000,
        # Batch.nbytes counts a float32 at 4 bytes, but the SDK sends it as JSON text of the 64-bit float, ~20 bytes.
        # ~340 KB of batch is ~1.8 MB of JSON: about one request under the 2 MB limit per runner sub-batch, so the
        # runner's writers parallelise requests. write_batch still splits by the exact encoded size.
        max_batch_bytes=340_000,
        named_vectors=False,
        sparse_vectors=True,
        metrics=frozenset({Metric.COSINE, Metric.DOT, Metric.EUCLID}),
        metadata_types=frozenset({"string", "float", "int", "bool", "list"}),
        namespace_model="namespace",
        stable_scan_order=True,
        idempotent_upsert=True,
        nested_metadata=False,
        null_metadata=False,
        max_id_length=512,
        max_metadata_bytes=40_960,
        max_dim=20_000,
        list_element_types=frozenset({"string"}),
        ascii_ids=True,
        unnamed_vector="",
    )
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("cloud", "cloud of a serverless index this creates (aws, gcp, azure)", str, "aws"),
        OptionSpec("region", "region of a serverless index this creates", str, "us-east-1"),
        OptionSpec("namespace", "read only this namespace (__default__: the default one); unset: every namespace",
                   str, None),
        OptionSpec("timeout", "seconds per HTTP request", float, 30.0),
    )

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        if config.url and not config.is_server:
            msg = f"the pinecone URL {config.url!r} is not an http(s):// URL"
            raise ConfigError(msg, hint="pass the control plane, e.g. https://api.pinecone.io or http://localhost:5080 "
                                        "(Pinecone Local)")
        ns = self.opts["namespace"]
        self._only_ns: str | None = None if ns is None else _canon_ns(ns)
        self._pc: Pinecone | None = None
        self._handles: dict[str, tuple[IndexInfo, Index]] = {}
        self._lock = threading.RLock()

    # --- plumbing ----------------------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return self.config.url or DEFAULT_URL

    @property
    def _secrets(self) -> tuple[str | None, ...]:
        return (self.config.api_key, os.environ.get("PINECONE_API_KEY"))

    def _client(self) -> Pinecone:
        # Opened on first use: building a connector (e.g. to list its options) touches nothing.
        with self._lock:
            if self._pc is None:
                key = self.config.api_key or os.environ.get("PINECONE_API_KEY")
                if not key:
                    msg = "pinecone needs an API key"
                    raise ConfigError(msg, hint="pass --source-api-key / --target-api-key or set PINECONE_API_KEY")
                with translate_errors(where=self._where, secrets=self._secrets):
                    self._pc = Pinecone(api_key=key, host=self.config.url or None, timeout=float(self.opts["timeout"]))
            return self._pc

    @contextlib.contextmanager
    def _call(self, collection: str | None = None, *, where: str | None = None,
              writing: bool = False) -> Iterator[None]:
        """Errors translated; a missing index gets a hint listing the indexes that exist."""
        try:
            with translate_errors(where=where or self._where, collection=collection, writing=writing,
                                  secrets=self._secrets):
                yield
        except CollectionNotFound as exc:
            self._forget(collection)
            raise self._not_found(collection or "?") from exc

    def _not_found(self, collection: str) -> CollectionNotFound:
        try:
            names: list[str] | None = sorted(m.name for m in self._client().indexes.list())
        except Exception:  # noqa: BLE001 - the hint is best effort; the real error is "not found"
            names = None
        if names is None:
            hint = "check the index name (--source-index / --target-index)"
        elif names:
            hint = f"indexes in this project: {', '.join(names)}"
        else:
            hint = f"this project has no indexes at {self._where}: is the API key or URL right?"
        msg = f"pinecone index {collection!r} does not exist at {self._where}"
        return CollectionNotFound(msg, hint=hint, collection=collection)

    def _describe_model(self, collection: str) -> IndexModel:
        pc = self._client()
        with self._call(collection):
            return pc.indexes.describe(collection)

    def _describe_index(self, collection: str) -> IndexInfo:
        return index_info(self._describe_model(collection))

    def _handle(self, collection: str, *, refresh: bool = False) -> tuple[IndexInfo, Index]:
        """The index's layout and a data-plane client for its host (cached: one HTTP pool per index).

        ``refresh`` re-reads the layout; the client is kept while the host stays the same (writers may be using it).
        """
        with self._lock:
            cached = self._handles.get(collection)
        if cached is not None and not refresh:
            return cached
        info = self._describe_index(collection)
        if cached is not None and cached[0].host == info.host:
            with self._lock:
                self._handles[collection] = (info, cached[1])
            return info, cached[1]
        pc = self._client()
        with self._call(collection, where=info.host):
            index = pc.index(host=info.host)  # REST (grpc=False): an Index
        with self._lock:
            other = self._handles.get(collection)
            if other is not None and other is not cached and other[0].host == info.host:
                index.close()  # another thread opened it meanwhile
                return other
            self._handles[collection] = (info, index)
        return info, index

    def _forget(self, collection: str | None) -> None:
        with self._lock:
            handle = self._handles.pop(collection or "", None)
        if handle is not None:
            handle[1].close()

    def close(self) -> None:
        """Close the HTTP pools."""
        with self._lock:
            handles, self._handles = list(self._handles.values()), {}
            pc, self._pc = self._pc, None
        for _, index in handles:
            index.close()
        if pc is not None:
            pc.close()

    def _stats(self, collection: str, info: IndexInfo, index: Index) -> DescribeIndexStatsResponse:
        with self._call(collection, where=info.host):
            return index.describe_index_stats()

    def _namespaces(self, collection: str, info: IndexInfo, index: Index) -> dict[str, int]:
        """Namespaces holding records (``""`` = default), with counts, in read order."""
        stats = self._stats(collection, info, index)
        counts = {_canon_ns(ns): int(s.vector_count) for ns, s in stats.namespaces.items() if s.vector_count}
        if self._only_ns is not None:
            counts = {ns: n for ns, n in counts.items() if ns == self._only_ns}
        return dict(sorted(counts.items(), key=lambda kv: _ns_key(kv[0])))

    # --- source and target: shared --------------------------------------------------------------------------

    def exists(self, collection: str) -> bool:
        """Whether the index exists (an invalid index name cannot)."""
        try:
            check_index_name(collection)
        except ConfigError:
            return False
        pc = self._client()
        with translate_errors(where=self._where, collection=collection, secrets=self._secrets):
            return bool(pc.indexes.exists(collection))  # a document index exists too: describe() and writes refuse it

    def describe(self, collection: str) -> CollectionSchema:
        """Dense/sparse layout from the index, namespaces and counts from the index stats, fields from a sample.

        Counts come from ``describe_index_stats``, which the service documents as eventually consistent: right
        after writes it may lag for a few seconds.
        """
        info, index = self._handle(collection, refresh=True)
        counts = self._namespaces(collection, info, index)
        sample: list[VectorRecord] = []
        if info.listable and counts:
            per_ns = max(10, _SAMPLE_IDS // len(counts))
            for ns in list(counts)[:10]:
                with self._call(collection, where=info.host):
                    page = index.list_paginated(namespace=ns, limit=min(per_ns, _LIST_PAGE))
                sample.extend(self._fetch_ns(collection, info, index, [v.id for v in page.vectors if v.id], ns))
        dense, sparse = schema_vectors(info, any(rec.sparse for rec in sample))
        vector_type = "sparse" if info.dimension is None else "hybrid" if info.sparse else "dense"
        extras: dict[str, JSONValue] = {"deployment_type": info.deployment_type, **info.deployment, "host": info.host,
                                        "vector_type": vector_type,
                                        "namespace_counts": {ns or "__default__": n for ns, n in counts.items()},
                                        "counts": "eventually consistent (describe_index_stats)"}
        if not info.listable:
            extras["export"] = "not supported: pod-based indexes have no list operation"
        return CollectionSchema(
            name=collection, vectors=dense, sparse_vectors=sparse, fields=infer_fields(sample), id_kind="str",
            id_max_length=512, namespaces=tuple(ns for ns in counts if ns), dynamic_fields=True,
            count=sum(counts.values()), extras=extras)

    def count(self, collection: str, namespace: str | None = None) -> int:
        """Records in the index (or one namespace) from the index stats (eventually consistent in the service)."""
        info, index = self._handle(collection)
        counts = self._namespaces(collection, info, index)
        if namespace is not None:
            return counts.get(_canon_ns(namespace), 0)
        return sum(counts.values())

    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        """Records by id, in the order asked; ``namespace=None`` looks in every namespace (default first)."""
        info, index = self._handle(collection)
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i and i.isascii() and len(i) <= 512))
        if not wanted:
            return []
        spaces = [_canon_ns(namespace)] if namespace is not None else list(self._namespaces(collection, info, index))
        found: dict[str, VectorRecord] = {}
        for ns in spaces:
            missing = [i for i in wanted if i not in found]
            if not missing:
                break
            for rec in self._fetch_ns(collection, info, index, missing, ns):
                found[str(rec.id)] = rec
        return [found[i] for i in wanted if i in found]

    def _fetch_ns(self, collection: str, info: IndexInfo, index: Index, ids: list[str],
                  ns: str) -> list[VectorRecord]:
        return list(self._fetch_batch(collection, info, index, ids, ns).records())

    def _fetch_batch(self, collection: str, info: IndexInfo, index: Index, ids: list[str], ns: str) -> Batch:
        found: dict[str, Vector] = {}
        for chunk in fetch_chunks(ids, info.dimension):
            with self._call(collection, where=info.host):
                found.update(index.fetch(ids=chunk, namespace=ns).vectors)
        return records_of(ids, found, info, ns or None)

    # --- source --------------------------------------------------------------------------------------------------

    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        """Every namespace (default first, then by name): ids by ``list`` pages, records by ``fetch``.

        The cursor ``{"namespace", "page", "offset", "last", "done"}`` names the list page (its pagination token;
        null for the first page) and the position in it of the next record, so a new process resumes exactly;
        ``last`` (the last id read) re-anchors the position when the page changed since.
        """
        if batch_size < 1:
            msg = f"batch_size must be at least 1, got {batch_size}"
            raise ConfigError(msg)
        info, index = self._handle(collection)
        if not info.listable:
            msg = (f"pinecone index {collection!r} is pod-based, and pod-based indexes have no list operation, so "
                   "VectorMigrate cannot enumerate its records")
            raise TerminalError(msg, collection=collection, hint=(
                "copy it into a serverless index first (a collection of the pod index, then create a serverless index "
                "from it, or Pinecone's backup and restore), then migrate from that index; exporting by random "
                "queries is possible but not implemented"))
        start = _parse_cursor(after)
        for ns in self._namespaces(collection, info, index):
            resume: tuple[str | None, int, str | None] = (None, 0, None)
            if start is not None:
                if _ns_key(ns) < _ns_key(start[0]):
                    continue
                if ns == start[0]:
                    if start[4]:
                        continue
                    resume = (start[1], start[2], start[3])
            yield from self._scan(collection, info, index, ns, batch_size, *resume)

    def _scan(self, collection: str, info: IndexInfo, index: Index, ns: str, batch_size: int,
              token: str | None, offset: int, last: str | None) -> Iterator[Batch]:
        pending: list[str] = []
        first = True
        while True:
            with self._call(collection, where=info.host):
                page = index.list_paginated(namespace=ns, limit=_LIST_PAGE, pagination_token=token)
            ids = [v.id for v in page.vectors if v.id]
            next_token = page.pagination.next if page.pagination is not None else None
            begin = 0
            if first:
                begin = ids.index(last) + 1 if last is not None and last in ids else min(offset, len(ids))
                first = False
            for i in range(begin, len(ids)):
                pending.append(ids[i])
                if len(pending) == batch_size:
                    # where the next record is: later in this page, or at the start of the next one
                    end = i == len(ids) - 1
                    cursor: Cursor = {"namespace": ns, "page": next_token if end else token, "offset": 0 if end else i + 1,
                                      "last": ids[i], "done": end and next_token is None}
                    yield from self._emit(collection, info, index, pending, ns, cursor)
                    pending = []
            if next_token is None:
                if pending:
                    cursor = {"namespace": ns, "page": None, "offset": 0, "last": pending[-1], "done": True}
                    yield from self._emit(collection, info, index, pending, ns, cursor)
                return
            token = next_token

    def _emit(self, collection: str, info: IndexInfo, index: Index, ids: list[str], ns: str,
              cursor: Cursor) -> Iterator[Batch]:
        batch = self._fetch_batch(collection, info, index, ids, ns)
        if len(batch):  # ids deleted since they were listed are simply gone
            batch.cursor = cursor
            yield batch

    # --- target --------------------------------------------------------------------------------------------------

    def create_collection(self, schema: CollectionSchema) -> None:
        """Create a serverless index (cloud and region from the options) and wait until it is ready.

        One dense vector becomes the index's values (dimension, metric); one sparse vector adds a sparse field
        (a hybrid index), whose canonical name is kept in the index tag ``vectormigrate-sparse-name``. A schema with
        only a sparse vector makes a sparse index. Namespaces need no creating: the first upsert makes them.
        """
        check_index_name(schema.name)
        if len(schema.vectors) > 1 or len(schema.sparse_vectors) > 1 or not (schema.vectors or schema.sparse_vectors):
            msg = (f"a pinecone index holds one dense and one sparse vector per record; the schema has "
                   f"{len(schema.vectors)} dense and {len(schema.sparse_vectors)} sparse")
            raise SchemaMismatchError(msg, hint="the plan maps one vector of each kind", collection=schema.name)
        fields: dict[str, Any] = {}
        for spec in schema.vectors:
            fields["_values"] = {"type": "dense_vector", "dimension": spec.dim, "metric": METRIC_NAME[spec.metric]}
        tags: dict[str, str] | None = None
        for sparse in schema.sparse_vectors:
            fields["_sparse_values"] = {"type": "sparse_vector"}
            if sparse.name != DEFAULT_SPARSE_NAME and sparse.name.isascii() and sparse.name.isprintable() \
                    and 0 < len(sparse.name) <= 120:
                tags = {SPARSE_TAG: sparse.name}
        deployment = {"deployment_type": "managed", "cloud": self.opts["cloud"], "region": self.opts["region"]}
        self._forget(schema.name)
        pc = self._client()
        with self._call(schema.name):
            pc.indexes.create(name=schema.name, schema={"fields": fields}, deployment=deployment, tags=tags,
                              timeout=_INDEX_WAIT)

    def drop_collection(self, collection: str) -> None:
        """Delete the index and wait until it is gone (nothing happens when it does not exist)."""
        self._forget(collection)
        pc = self._client()
        with contextlib.suppress(CollectionNotFound), self._call(collection):
            pc.indexes.delete(collection, timeout=_INDEX_WAIT)

    def write_batch(self, collection: str, batch: Batch) -> None:
        """Upsert the batch into ``batch.namespace`` (None: the default namespace); durable when it returns.

        The batch is cut into requests of at most 1,000 records and ~1.9 MB of JSON, measured exactly, and sent
        one after the other (not with the SDK's concurrent batching: the runner already runs writers in parallel).
        A record Pinecone would refuse is named before anything is sent when it can be seen here; otherwise a
        refused request is bisected to find it.
        """
        if not batch.ids:
            return
        info, index = self._handle(collection)
        vectors, sizes = to_upsert(batch, info, collection)
        ns = batch.namespace or ""
        for start, stop in pack_requests(sizes):
            self._upsert(collection, info, index, vectors[start:stop], batch.ids[start:stop], ns)

    def _upsert(self, collection: str, info: IndexInfo, index: Index, vectors: list[Vector],
                ids: list[RecordId], ns: str) -> None:
        try:
            with self._call(collection, where=info.host, writing=True):
                index.upsert(vectors=vectors, namespace=ns, batch_size=None, show_progress=False)
        except BadRequest as exc:
            if _SCHEMA_PROBLEM.search(exc.message):
                msg = f"pinecone index {collection!r} cannot hold the batch: {exc.message}"
                raise SchemaMismatchError(msg, hint="write into a new index", collection=collection) from exc
            if len(vectors) == 1:
                msg = f"record {ids[0]!r}: {exc.message}"
                raise RecordError(msg, hint="fix or drop the record in the source, then resume",
                                  record_id=ids[0], field=_field_of(exc.message)) from exc
            mid = len(vectors) // 2
            self._upsert(collection, info, index, vectors[:mid], ids[:mid], ns)
            self._upsert(collection, info, index, vectors[mid:], ids[mid:], ns)

    def delete(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        """Delete ids (in one namespace, or in every namespace when None); unknown ids are ignored."""
        info, index = self._handle(collection)
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i and i.isascii() and len(i) <= 512))
        spaces = [_canon_ns(namespace)] if namespace is not None else list(self._namespaces(collection, info, index))
        for ns in spaces:
            for start in range(0, len(wanted), _DELETE_CHUNK):
                with self._call(collection, where=info.host):
                    index.delete(ids=wanted[start:start + _DELETE_CHUNK], namespace=ns)

    # --- search --------------------------------------------------------------------------------------------------

    def search(self, collection: str, vector_name: str, query: Sequence[float], top_k: int,
               namespace: str | None = None) -> list[tuple[RecordId, float]]:
        """Nearest records by ``query``; scores are higher-is-better (euclidean squared distances are negated)."""
        info, index = self._handle(collection)
        if info.dimension is None:
            msg = f"pinecone index {collection!r} is a sparse index: it has no dense vector to search"
            raise TerminalError(msg, collection=collection)
        vector = [float(x) for x in query]
        spaces = [_canon_ns(namespace)] if namespace is not None else list(self._namespaces(collection, info, index))
        sign = -1.0 if info.metric is Metric.EUCLID else 1.0
        hits: list[tuple[RecordId, float]] = []
        for ns in spaces or [""]:
            with self._call(collection, where=info.host):
                result = index.query(vector=vector, top_k=top_k, namespace=ns, include_values=False,
                                     include_metadata=False)
            hits.extend((m.id, sign * float(m.score)) for m in result.matches)
        hits.sort(key=lambda hit: -hit[1])
        return hits[:top_k]


def _field_of(message: str) -> str:
    low = message.lower()
    if "metadata" in low:
        match = re.search(r"for field '([^']*)'", message)
        return f"metadata.{match.group(1)}" if match else "metadata"
    if "sparse" in low:
        return "sparse vector"
    if "id" in low.split():
        return "id"
    return "vector" if "vector" in low or "values" in low else "record"


def _parse_cursor(after: Cursor | None) -> tuple[str, str | None, int, str | None, bool] | None:
    if after is None:
        return None
    ns, page, offset, last, done = (after.get(k) for k in ("namespace", "page", "offset", "last", "done"))
    if not isinstance(ns, str) or not (page is None or isinstance(page, str)) or not isinstance(offset, int) \
            or not (last is None or isinstance(last, str)) or not isinstance(done, bool):
        msg = f"pinecone cursor {after!r} is not one this connector wrote"
        raise CheckpointError(msg, hint="the checkpoint was not written by the pinecone connector")
    return ns, page, offset, last, done
