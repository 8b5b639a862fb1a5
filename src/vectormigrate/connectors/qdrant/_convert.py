"""Conversions between qdrant-client models and the canonical model, and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from qdrant_client import models

from vectormigrate.errors import RecordError, SchemaMismatchError
from vectormigrate.model import (
    DEFAULT_VECTOR,
    Batch,
    CollectionSchema,
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
from vectormigrate.model import (
    infer_fields as infer_metadata_fields,
)

__all__ = [
    "DISTANCE_OF",
    "batch_to_points",
    "collection_vectors",
    "infer_fields",
    "page_to_batches",
    "point_id",
    "record_id",
    "record_of",
    "validate_batch",
    "vectors_config",
]

_UINT64_MAX = 2**64 - 1

_METRIC_OF = {
    models.Distance.COSINE: Metric.COSINE,
    models.Distance.DOT: Metric.DOT,
    models.Distance.EUCLID: Metric.EUCLID,
}
DISTANCE_OF = {metric: distance for distance, metric in _METRIC_OF.items()}

_DTYPE_OF = {models.Datatype.FLOAT16: "float16", models.Datatype.UINT8: "uint8", models.Datatype.FLOAT32: "float32"}
_DATATYPE_OF = {name: datatype for datatype, name in _DTYPE_OF.items()}

_INDEX_TYPE: dict[str, FieldType] = {"keyword": "string", "text": "string", "uuid": "string", "integer": "int",
                                     "float": "float", "bool": "bool", "datetime": "datetime", "geo": "object"}


# --- schema ------------------------------------------------------------------------------------------------


def collection_vectors(name: str, params: models.CollectionParams) -> tuple[tuple[VectorSpec, ...],
                                                                             tuple[SparseSpec, ...]]:
    """Dense and sparse vector specs of a collection; refuses what the canonical model cannot hold.

    Raises:
        SchemaMismatchError: a Manhattan distance or a multivector (ColBERT-style) field.
    """
    raw = params.vectors
    named: dict[str, models.VectorParams]
    if raw is None:
        named = {}
    elif isinstance(raw, models.VectorParams):
        named = {DEFAULT_VECTOR: raw}
    else:
        named = dict(raw)
    specs: list[VectorSpec] = []
    for vname, vp in named.items():
        label = "the unnamed vector" if vname == DEFAULT_VECTOR else f"vector {vname!r}"
        metric = _METRIC_OF.get(vp.distance)
        if metric is None:
            msg = (f"qdrant collection {name!r}: {label} uses {vp.distance.value} distance, which VectorMigrate "
                   "does not support (cosine, dot and euclidean only)")
            raise SchemaMismatchError(msg, hint="copy this collection with Qdrant snapshots, or re-embed it into a "
                                                "collection with a supported distance", collection=name)
        if vp.multivector_config is not None:
            msg = f"qdrant collection {name!r}: {label} is a multivector, which VectorMigrate does not support"
            raise SchemaMismatchError(msg, hint="copy this collection with Qdrant snapshots", collection=name)
        dtype = _DTYPE_OF.get(vp.datatype, "float32") if vp.datatype is not None else "float32"
        specs.append(VectorSpec(vname, int(vp.size), metric, dtype))
    sparse = tuple(SparseSpec(sname) for sname in (params.sparse_vectors or {}))
    return tuple(specs), sparse


def vectors_config(schema: CollectionSchema) -> tuple[models.VectorParams | dict[str, models.VectorParams],
                                                      dict[str, models.SparseVectorParams]]:
    """``vectors_config`` and ``sparse_vectors_config`` for ``create_collection``.

    A schema whose only dense vector is called ``""`` becomes Qdrant's unnamed vector; anything else is named.
    """
    def params(spec: VectorSpec) -> models.VectorParams:
        datatype = _DATATYPE_OF.get(spec.dtype) if spec.dtype != "float32" else None
        return models.VectorParams(size=spec.dim, distance=DISTANCE_OF[spec.metric], datatype=datatype)

    dense: models.VectorParams | dict[str, models.VectorParams]
    if len(schema.vectors) == 1 and schema.vectors[0].name == DEFAULT_VECTOR:
        dense = params(schema.vectors[0])
    else:
        dense = {spec.name: params(spec) for spec in schema.vectors}
    sparse = {spec.name: models.SparseVectorParams() for spec in schema.sparse_vectors}
    return dense, sparse


def infer_fields(payloads: Sequence[Mapping[str, JSONValue]],
                 indexed: Mapping[str, str] | None = None) -> tuple[FieldSpec, ...]:
    """Top-level payload fields seen in a sample (``declared=False``: Qdrant payloads have no schema).

    Args:
        payloads: the sampled payloads.
        indexed: payload index types (``keyword``, ``integer``...) of fields that may be missing from the sample.
    """
    fields = list(infer_metadata_fields(payloads))
    known = {f.name for f in fields}
    for key, index_type in sorted((indexed or {}).items()):
        if key not in known and "." not in key:
            fields.append(FieldSpec(key, _INDEX_TYPE.get(index_type, "json"), declared=False))
    return tuple(fields)


# --- ids ---------------------------------------------------------------------------------------------------


def point_id(rid: RecordId) -> int | str:
    """The Qdrant point id for a canonical id: an unsigned 64-bit int or a UUID string.

    Raises:
        RecordError: any other id (Qdrant would refuse the whole request).
    """
    if isinstance(rid, int) and not isinstance(rid, bool):
        if 0 <= rid <= _UINT64_MAX:
            return rid
        msg = f"record {rid!r}: qdrant ids must be unsigned 64-bit integers or UUIDs"
        raise RecordError(msg, hint="map ids to UUIDs (the plan's uuid5 id strategy)", record_id=rid, field="id")
    if isinstance(rid, str):
        try:
            return str(uuid.UUID(rid))
        except ValueError:
            pass
    msg = f"record {rid!r}: qdrant ids must be unsigned 64-bit integers or UUIDs"
    raise RecordError(msg, hint="map ids to UUIDs (the plan's uuid5 id strategy)", record_id=rid, field="id")


def record_id(pid: models.ExtendedPointId) -> RecordId:
    """A Qdrant point id as a canonical id (UUIDs as canonical lowercase hyphenated strings)."""
    return str(pid) if isinstance(pid, uuid.UUID) else pid


# --- read --------------------------------------------------------------------------------------------------


def _vector_dict(raw: Any) -> dict[str, Any]:
    """A point's vectors by name (an unnamed vector comes back as a bare list)."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    return {DEFAULT_VECTOR: raw}


def _sparse(raw: Any) -> SparseVector | None:
    if raw is None:
        return None
    return SparseVector.of(raw.indices, raw.values)


def page_to_batches(records: Sequence[models.Record], dense: Sequence[str],
                    sparse: Sequence[str]) -> list[tuple[Batch, RecordId | None]]:
    """Turn one scroll page into batches, each with the id of the first point after it (None: the last one).

    Qdrant lets a point lack any named vector, but a :class:`Batch` holds full matrices. So the page is cut into
    contiguous runs of points that carry the same dense vectors: each run is a batch, and since scroll offsets are
    inclusive and ordered by id, "the first id of the next run" is an exact resume point. Usually a page is one run.
    """
    if not records:
        return []
    vecs = [_vector_dict(r.vector) for r in records]
    present = [tuple(n for n in dense if n in v) for v in vecs]
    out: list[tuple[Batch, RecordId | None]] = []
    start = 0
    for stop in range(1, len(records) + 1):
        if stop < len(records) and present[stop] == present[start]:
            continue
        run = range(start, stop)
        batch = Batch(
            ids=[record_id(records[i].id) for i in run],
            # one float32 conversion per vector name and run, never per element
            vectors={n: np.asarray([vecs[i][n] for i in run], dtype=np.float32) for n in present[start]},
            sparse={n: [_sparse(vecs[i].get(n)) for i in run] for n in sparse},
            metadata=[records[i].payload or {} for i in run],
        )
        out.append((batch, record_id(records[stop].id) if stop < len(records) else None))
        start = stop
    return out


def record_of(point: models.Record, namespace_field: str | None) -> VectorRecord:
    """A retrieved point as a canonical record."""
    payload = point.payload or {}
    vectors: dict[str, Any] = {}
    sparse: dict[str, SparseVector] = {}
    for name, value in _vector_dict(point.vector).items():
        if isinstance(value, models.SparseVector):
            sparse[name] = SparseVector.of(value.indices, value.values)
        else:
            vectors[name] = np.asarray(value, dtype=np.float32)
    ns = payload.get(namespace_field) if namespace_field else None
    return VectorRecord(id=record_id(point.id), vectors=vectors, sparse=sparse, metadata=payload,
                        namespace=ns if isinstance(ns, str) else None)


# --- write -------------------------------------------------------------------------------------------------


def validate_batch(batch: Batch) -> list[models.ExtendedPointId]:
    """Check what Qdrant would refuse for the whole request, record by record; returns the point ids.

    Raises:
        RecordError: naming the first bad record and field (id, NaN/inf vector, duplicate sparse index).
    """
    ids: list[models.ExtendedPointId] = [point_id(rid) for rid in batch.ids]
    for name, mat in batch.vectors.items():
        finite = np.isfinite(mat).all(axis=1)
        if not finite.all():
            bad = int(np.argmin(finite))
            label = name or "(unnamed)"
            msg = f"record {batch.ids[bad]!r}: vector {label} contains NaN or infinity"
            raise RecordError(msg, hint="fix the vector at the source or let it go to the dead-letter file",
                              record_id=batch.ids[bad], field=f"vector:{name}")
    for name, col in batch.sparse.items():
        for i, sv in enumerate(col):
            if sv is None:
                continue
            if (sv.indices.size > 1 and bool((np.diff(sv.indices.astype(np.int64)) == 0).any())) or \
                    not bool(np.isfinite(sv.values).all()):
                msg = f"record {batch.ids[i]!r}: sparse vector {name!r} has a repeated index or a NaN value"
                raise RecordError(msg, hint="fix the vector at the source", record_id=batch.ids[i],
                                  field=f"sparse:{name}")
    return ids


def _sparse_model(sv: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=sv.indices.tolist(), values=sv.values.tolist())


def batch_to_points(batch: Batch, ids: list[models.ExtendedPointId],
                    payloads: list[dict[str, JSONValue]]) -> models.Batch | list[models.PointStruct]:
    """The ``points`` argument of ``upsert`` for a validated batch.

    Column form (``models.Batch``) when every record has every vector: the client turns each float32 matrix into
    lists in one ``tolist()`` call. Records without some sparse vector need the per-point form.
    """
    unnamed_only = not batch.sparse and list(batch.vectors) == [DEFAULT_VECTOR]
    if all(sv is not None for col in batch.sparse.values() for sv in col):
        if unnamed_only:
            # the model's annotation says lists, its validator takes ndarrays (tolist() in C)
            matrix: Any = batch.vectors[DEFAULT_VECTOR]
            return models.Batch(ids=ids, vectors=matrix, payloads=payloads)
        columns: dict[str, Any] = dict(batch.vectors)
        for name, col in batch.sparse.items():
            columns[name] = [_sparse_model(sv) for sv in col if sv is not None]
        return models.Batch(ids=ids, vectors=columns, payloads=payloads)
    rows = {name: mat.tolist() for name, mat in batch.vectors.items()}
    points: list[models.PointStruct] = []
    for i, pid in enumerate(ids):
        vector: dict[str, Any] = {name: rows[name][i] for name in rows}
        for name, col in batch.sparse.items():
            sv = col[i]
            if sv is not None:
                vector[name] = _sparse_model(sv)
        points.append(models.PointStruct(id=pid, vector=vector, payload=payloads[i]))
    return points
