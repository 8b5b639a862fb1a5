"""Conversions between the pinecone SDK's models and the canonical model, and upsert request sizing."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from pinecone.models.indexes.deployment import ManagedDeployment, PodDeployment
from pinecone.models.indexes.index import IndexModel
from pinecone.models.indexes.schema import DenseVectorField, SparseVectorField
from pinecone.models.vectors.sparse import SparseValues
from pinecone.models.vectors.vector import Vector

from vectormigrate.errors import ConfigError, RecordError, SchemaMismatchError
from vectormigrate.model import (
    DEFAULT_VECTOR,
    Batch,
    FieldSpec,
    FieldType,
    JSONValue,
    Metric,
    RecordId,
    SparseSpec,
    SparseVector,
    VectorRecord,
    VectorSpec,
)

__all__ = [
    "DEFAULT_SPARSE_NAME",
    "METRIC_NAME",
    "SPARSE_TAG",
    "IndexInfo",
    "check_index_name",
    "fetch_chunks",
    "index_info",
    "infer_fields",
    "pack_requests",
    "records_of",
    "to_upsert",
]

DENSE_FIELD = "_values"
SPARSE_FIELD = "_sparse_values"
"""The reserved schema field names of a *vector* index in API 2026-07 (other names make a document index)."""

SPARSE_TAG = "vectormigrate-sparse-name"
"""Index tag that remembers the canonical name of the index's one (unnamed) sparse vector."""
DEFAULT_SPARSE_NAME = "sparse"
"""The sparse vector's name when the index carries no tag (indexes VectorMigrate did not create)."""

MAX_ID_LENGTH = 512
MAX_METADATA_BYTES = 40_960
MAX_SPARSE_NNZ = 1000
MAX_UPSERT_RECORDS = 1000
REQUEST_BUDGET = 1_900_000
"""JSON bytes per upsert request. The limit is "2 MB"; 5% below the decimal reading covers the request envelope
and encoder differences."""
FETCH_BUDGET = 2_000_000
"""Approximate JSON bytes per fetch answer (the service caps results at a few MB)."""
FETCH_URL_BUDGET = 16_000
"""Characters of ``ids=...`` per fetch: fetch is a GET, and proxies refuse very long URLs."""

METRIC_NAME = {Metric.COSINE: "cosine", Metric.DOT: "dotproduct", Metric.EUCLID: "euclidean"}
_METRIC_OF = {name: metric for metric, name in METRIC_NAME.items()}
_INDEX_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?")
_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """What the connector needs to know about one index, from ``describe_index``."""

    name: str
    host: str
    dimension: int | None
    metric: Metric
    sparse: bool
    """The schema declares a sparse field (a hybrid or a sparse index)."""
    sparse_name: str
    deployment_type: str
    deployment: dict[str, JSONValue] = field(default_factory=dict)

    @property
    def listable(self) -> bool:
        """Pinecone's ``list`` (the only way to enumerate ids) exists on serverless indexes only."""
        return self.deployment_type != "pod"


def check_index_name(name: str) -> None:
    """Refuse a name Pinecone would refuse, with the rule in the hint.

    Raises:
        ConfigError: not 1-45 lowercase letters, digits or hyphens, starting and ending with a letter or digit.
    """
    if not _INDEX_NAME.fullmatch(name):
        msg = f"{name!r} is not a valid Pinecone index name"
        raise ConfigError(msg, hint="Pinecone index names are 1-45 lowercase letters, digits and '-', starting and "
                                    "ending with a letter or digit (e.g. --target-index my-index)")


def index_info(model: IndexModel) -> IndexInfo:
    """Dense/sparse layout and deployment of an index.

    Raises:
        ConfigError: a document index (API 2026-07 schema with named fields) or an integrated-embedding index.
    """
    fields = model.schema.fields
    dense, sparse = fields.get(DENSE_FIELD), fields.get(SPARSE_FIELD)
    if not isinstance(dense, DenseVectorField) and not isinstance(sparse, SparseVectorField):
        names = ", ".join(sorted(fields)) or "none"
        msg = (f"pinecone index {model.name!r} is not a vector index (its schema fields are {names}); VectorMigrate "
               "moves vector indexes, whose vectors are upserted as values / sparse values")
        raise ConfigError(msg, hint="document and integrated-embedding indexes are not supported yet")
    deployment = model.deployment
    if isinstance(deployment, PodDeployment):
        dep: dict[str, JSONValue] = {"environment": deployment.environment, "pod_type": deployment.pod_type}
        kind = "pod"
    elif isinstance(deployment, ManagedDeployment):
        dep, kind = {"cloud": deployment.cloud, "region": deployment.region}, "managed"
    else:
        dep, kind = {"environment": deployment.environment}, "byoc"
    dim = dense.dimension if isinstance(dense, DenseVectorField) else None
    metric = _METRIC_OF.get(dense.metric.lower(), Metric.COSINE) if isinstance(dense, DenseVectorField) else Metric.DOT
    return IndexInfo(name=model.name, host=model.host or "", dimension=dim, metric=metric,
                     sparse=isinstance(sparse, SparseVectorField),
                     sparse_name=(model.tags or {}).get(SPARSE_TAG) or DEFAULT_SPARSE_NAME,
                     deployment_type=kind, deployment=dep)


def schema_vectors(info: IndexInfo, sparse_seen: bool) -> tuple[tuple[VectorSpec, ...], tuple[SparseSpec, ...]]:
    """The canonical vectors of an index: the unnamed dense vector, and the sparse one when declared or seen."""
    dense = (VectorSpec(DEFAULT_VECTOR, info.dimension, info.metric),) if info.dimension is not None else ()
    sparse = (SparseSpec(info.sparse_name),) if info.sparse or sparse_seen else ()
    return dense, sparse


# --- read --------------------------------------------------------------------------------------------------


def fetch_chunks(ids: Sequence[str], dimension: int | None) -> list[list[str]]:
    """Split ids into fetch requests: at most 1,000 ids, a bounded answer size and a bounded URL."""
    per_record = 12 * (dimension or 0) + 600  # float32 as short JSON text (~12 bytes) + metadata and sparse
    cap = max(1, min(1000, FETCH_BUDGET // per_record))
    chunks: list[list[str]] = []
    cur: list[str] = []
    url = 0
    for rid in ids:
        cost = 3 * len(rid) + 5  # "ids=" + percent-encoding at worst + "&"
        if cur and (len(cur) >= cap or url + cost > FETCH_URL_BUDGET):
            chunks.append(cur)
            cur, url = [], 0
        cur.append(rid)
        url += cost
    if cur:
        chunks.append(cur)
    return chunks


def records_of(ids: Sequence[str], found: Mapping[str, Vector], info: IndexInfo,
               namespace: str | None) -> Batch:
    """A batch of the fetched records, in the order of ``ids`` (ids not found are left out)."""
    present = [rid for rid in ids if rid in found]
    vectors: dict[str, npt.NDArray[np.float32]] = {}
    if info.dimension is not None:
        mat = np.asarray([found[rid].values for rid in present], dtype=np.float32)
        vectors[DEFAULT_VECTOR] = mat.reshape(len(present), info.dimension)
    sparse: dict[str, list[SparseVector | None]] = {}
    col = [_sparse_of(found[rid].sparse_values) for rid in present]
    if info.sparse or any(s is not None for s in col):
        sparse[info.sparse_name] = col
    # The SDK decodes a fresh dict per response: nothing here is shared with a cache.
    metadata = [dict(found[rid].metadata or {}) for rid in present]
    return Batch(ids=list(present), vectors=vectors, sparse=sparse, metadata=metadata, namespace=namespace)


def _sparse_of(values: SparseValues | None) -> SparseVector | None:
    if values is None:
        return None
    return SparseVector.of(values.indices, values.values)


def infer_fields(records: Sequence[VectorRecord]) -> tuple[FieldSpec, ...]:
    """Metadata fields seen in a sample (``declared=False``: Pinecone metadata has no schema).

    Pinecone stores every number as a 64-bit float, so numbers are ``float`` whatever they were written as.
    """
    kinds: dict[str, set[FieldType]] = {}
    for rec in records:
        for key, value in rec.metadata.items():
            kind: FieldType = ("bool" if isinstance(value, bool) else "float" if isinstance(value, int | float)
                               else "string" if isinstance(value, str) else "list" if isinstance(value, list)
                               else "json")
            kinds.setdefault(key, set()).add(kind)
    out: list[FieldSpec] = []
    for key in sorted(kinds):
        seen = kinds[key]
        ftype: FieldType = next(iter(seen)) if len(seen) == 1 else "json"
        present = sum(1 for r in records if key in r.metadata)
        out.append(FieldSpec(key, ftype, nullable=present < len(records),
                             element_type="string" if ftype == "list" else None, declared=False))
    return tuple(out)


# --- write -------------------------------------------------------------------------------------------------


def to_upsert(batch: Batch, info: IndexInfo, collection: str) -> tuple[list[Vector], list[int]]:
    """SDK vectors for a batch, and each one's size as JSON in the request.

    Every check runs before the costly conversion of vectors to lists: the runner re-submits a batch without the
    record a RecordError named, so a batch of many bad records must fail fast each time.

    Raises:
        SchemaMismatchError: the batch cannot go into this index at all (vector count, dimension, sparse).
        RecordError: one record Pinecone would refuse (id, NaN or all-zero vector, metadata type or size).
    """
    dense = _dense_matrix(batch, info, collection)
    sparse_col = _sparse_column(batch, info, collection)
    if dense is not None:
        finite = np.asarray(np.isfinite(dense).all(axis=1))
        nonzero = np.asarray(dense.any(axis=1))
        for i in np.flatnonzero(~finite | ~nonzero).tolist():
            why = "contains NaN or infinite values" if not finite[i] else "is all zeros, which Pinecone refuses"
            msg = f"record {batch.ids[i]!r}: the dense vector {why}"
            raise RecordError(msg, hint="fix or re-embed the record in the source", record_id=batch.ids[i],
                              field="vector")
    envelopes: list[dict[str, Any]] = []
    for i, rid in enumerate(batch.ids):
        envelope: dict[str, Any] = {"id": _check_id(rid), "values": []}
        sv = sparse_col[i] if sparse_col is not None else None
        if sv is not None:
            if sv.indices.size > MAX_SPARSE_NNZ:
                msg = f"record {rid!r}: the sparse vector has {sv.indices.size} non-zero values; Pinecone allows " \
                      f"{MAX_SPARSE_NNZ}"
                raise RecordError(msg, hint="prune the sparse vector's smallest weights in the source",
                                  record_id=rid, field="sparse vector")
            envelope["sparseValues"] = {"indices": sv.indices.tolist(), "values": sv.values.tolist()}
        elif info.dimension is None:
            msg = f"record {rid!r} has no sparse vector, which a sparse-only Pinecone index requires"
            raise RecordError(msg, hint="records without a sparse vector cannot go into a sparse index",
                              record_id=rid, field="sparse vector")
        meta = _clean_metadata(rid, batch.metadata[i])
        if meta:
            if (size := len(orjson.dumps(meta))) > MAX_METADATA_BYTES:  # the 40 KB limit is on the metadata's JSON
                msg = f"record {rid!r}: metadata is {size} bytes of JSON; Pinecone allows {MAX_METADATA_BYTES}"
                raise RecordError(msg, hint="shorten large text fields in the source record", record_id=rid,
                                  field="metadata")
            envelope["metadata"] = meta
        envelopes.append(envelope)
    rows: list[list[float]] = dense.tolist() if dense is not None else [[] for _ in batch.ids]
    value_sizes = _values_json_sizes(dense, len(batch.ids))
    vectors: list[Vector] = []
    sizes: list[int] = []
    for env, row, value_size in zip(envelopes, rows, value_sizes, strict=True):
        raw = env.get("sparseValues")
        sparse = SparseValues(indices=raw["indices"], values=raw["values"]) if raw is not None else None
        vectors.append(Vector(id=env["id"], values=row, sparse_values=sparse, metadata=env.get("metadata")))
        sizes.append(len(orjson.dumps(env)) - 2 + value_size + 1)  # "[]" replaced by the values, plus a comma
    return vectors, sizes


def pack_requests(sizes: Sequence[int], *, max_records: int = MAX_UPSERT_RECORDS,
                  budget: int = REQUEST_BUDGET) -> list[tuple[int, int]]:
    """``(start, stop)`` ranges whose records fit one upsert request (count and encoded bytes)."""
    out: list[tuple[int, int]] = []
    start, total = 0, 64  # {"vectors":[...],"namespace":"..."}
    for i, size in enumerate(sizes):
        if i > start and (i - start >= max_records or total + size > budget):
            out.append((start, i))
            start, total = i, 64
        total += size
    if start < len(sizes):
        out.append((start, len(sizes)))
    return out


def _dense_matrix(batch: Batch, info: IndexInfo, collection: str) -> npt.NDArray[np.float32] | None:
    mats = list(batch.vectors.values())
    if info.dimension is None:
        if any(m.size for m in mats):
            msg = f"pinecone index {collection!r} is a sparse index and holds no dense vectors"
            raise SchemaMismatchError(msg, hint="write into a dense or hybrid index", collection=collection)
        return None
    if len(mats) != 1:
        what = "no dense vector" if not mats else f"{len(mats)} dense vectors ({', '.join(map(repr, batch.vectors))})"
        msg = f"pinecone index {collection!r} holds one dense vector per record; the batch has {what}"
        raise SchemaMismatchError(msg, hint="the plan maps one source vector to Pinecone's values", collection=collection)
    mat = mats[0]
    if mat.shape[1] != info.dimension:
        msg = f"pinecone index {collection!r} has dimension {info.dimension}; the batch's vectors have {mat.shape[1]}"
        raise SchemaMismatchError(msg, hint="write into a new index (--target-index NEW)", collection=collection)
    return mat


def _sparse_column(batch: Batch, info: IndexInfo, collection: str) -> list[SparseVector | None] | None:
    if not batch.sparse:
        return None
    if len(batch.sparse) > 1:
        msg = f"pinecone holds one sparse vector per record; the batch has {len(batch.sparse)} ({', '.join(batch.sparse)})"
        raise SchemaMismatchError(msg, hint="the plan must map one source sparse vector", collection=collection)
    (col,) = batch.sparse.values()
    if not info.sparse and any(s is not None for s in col):
        msg = f"pinecone index {collection!r} declares no sparse field, so it cannot hold sparse vectors"
        raise SchemaMismatchError(msg, hint="write into a new index: VectorMigrate creates hybrid indexes with a "
                                            "sparse field", collection=collection)
    return col


def _values_json_sizes(dense: npt.NDArray[np.float32] | None, n: int) -> list[int]:
    """The length of each row as the JSON the SDK sends (float32 values widened to 64-bit floats)."""
    if dense is None:
        return [2] * n  # "[]"
    dim = dense.shape[1]
    if n * (25 * dim + 600) <= REQUEST_BUDGET:
        return [25 * dim + 2] * n  # an upper bound is enough when the whole batch fits anyway
    # orjson writes numpy float64 like Python floats (shortest round-trip text), without building float objects
    wide = dense.astype(np.float64)
    return [len(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY)) for row in wide]


def _check_id(rid: RecordId) -> str:
    if isinstance(rid, str):
        if rid and rid.isascii() and "\x00" not in rid and len(rid) <= MAX_ID_LENGTH:
            return rid
        problem = ("is empty" if not rid else f"is {len(rid)} characters long; Pinecone allows {MAX_ID_LENGTH}"
                   if rid.isascii() and "\x00" not in rid else "has non-ASCII (or NUL) characters, which Pinecone refuses")
    else:
        problem = f"is {type(rid).__name__}; Pinecone ids are strings"
    msg = f"record id {rid!r} {problem}"
    raise RecordError(msg, hint="map such ids to UUIDv5 strings (the original is kept in metadata)",
                      record_id=rid, field="id")


def _clean_metadata(rid: RecordId, meta: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """Pinecone's metadata rules: strings, numbers, booleans and lists of strings; nulls are left out."""
    out: dict[str, JSONValue] = {}
    for key, value in meta.items():
        if value is None:
            continue  # the service strips null values anyway: do not spend request bytes on them
        problem = None
        if isinstance(value, str | bool):
            pass
        elif isinstance(value, int):
            if not -_INT64 <= value < _INT64:
                problem = "an integer beyond 64 bits"
        elif isinstance(value, float):
            if not math.isfinite(value):
                problem = "NaN or infinite"
        elif isinstance(value, list | tuple):
            if not all(isinstance(v, str) for v in value):
                problem = "a list of non-strings (Pinecone stores lists of strings only)"
            value = list(value)
        else:
            problem = f"a {type(value).__name__} (Pinecone stores flat metadata)"
        if problem is not None:
            msg = f"record {rid!r}: metadata field {key!r} is {problem}"
            raise RecordError(msg, hint="Pinecone metadata is flat: strings, numbers, booleans and lists of strings; "
                                        "convert this value in the source",
                              record_id=rid, field=f"metadata.{key}")
        out[key] = value
    return out
