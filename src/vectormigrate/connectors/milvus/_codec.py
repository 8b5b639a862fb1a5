"""Batches -> pymilvus rows (with per-record validation), and query results -> column batches.

Reading avoids per-float Python work: pymilvus 3 returns query results as a ``HybridExtraList`` whose scalar
columns are already unpacked into row dicts, while vectors and JSON stay in the raw protobuf ``FieldData``
(``_lazy_field_data``) until a row is touched. We take the float vectors straight from the protobuf's packed
buffer into one ``float32`` matrix (``np.array`` over the repeated field uses the buffer protocol: ~1 ms for
1000 x 128) and decode JSON with orjson once per record. When that private attribute is missing (another
pymilvus), we fall back to pymilvus's public row materialisation, which is slower but equivalent.

Writing goes through ``MilvusClient.upsert`` rows: pymilvus only takes rows or lists there, and converts each
vector with ``ndarray.tolist()`` itself, so we hand it the ndarray rows and let it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pymilvus import DataType

from vectormigrate.connectors.milvus._schema import INT64_MAX, INT64_MIN, MilvusCollection, ScalarColumn
from vectormigrate.errors import RecordError, SchemaMismatchError, TerminalError
from vectormigrate.model import DEFAULT_VECTOR, Batch, JSONValue, RecordId, SparseVector

try:  # a pymilvus dependency; the stdlib json is the fallback
    import orjson

    def _loads(raw: bytes) -> Any:
        return orjson.loads(raw)

    def _dumps_len(value: Any) -> int:
        return len(orjson.dumps(value))
except ImportError:  # pragma: no cover - pymilvus 3 requires orjson
    import json

    def _loads(raw: bytes) -> Any:
        return json.loads(raw)

    def _dumps_len(value: Any) -> int:
        return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


__all__ = ["Page", "decode_page", "encode_rows"]

_INT_RANGES = {
    DataType.INT8: (-(2**7), 2**7 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.INT64: (INT64_MIN, INT64_MAX),
}
_SPARSE_DTYPE = np.dtype([("i", "<u4"), ("v", "<f4")])
_MISSING = object()


@dataclass(slots=True)
class Page:
    """One query result as columns, in the order the server returned it."""

    ids: list[RecordId]
    vectors: dict[str, npt.NDArray[np.float32]]
    sparse: dict[str, list[SparseVector | None]]
    metadata: list[dict[str, JSONValue]]

    def __len__(self) -> int:
        return len(self.ids)

    def to_batch(self, start: int, stop: int, namespace: str | None) -> Batch:
        """Records ``start:stop`` as a :class:`Batch`."""
        return Batch(
            ids=self.ids[start:stop],
            vectors={k: v[start:stop] for k, v in self.vectors.items()},
            sparse={k: col[start:stop] for k, col in self.sparse.items()},
            metadata=self.metadata[start:stop],
            namespace=namespace,
        )

    def reorder(self, order: Sequence[int]) -> Page:
        """The same page with its records in ``order``."""
        pos = np.asarray(order, dtype=np.intp)
        return Page(
            ids=[self.ids[i] for i in order],
            vectors={k: v[pos] for k, v in self.vectors.items()},
            sparse={k: [col[i] for i in order] for k, col in self.sparse.items()},
            metadata=[self.metadata[i] for i in order],
        )


# --- reading -------------------------------------------------------------------------------------------------

def decode_page(col: MilvusCollection, result: Sequence[Mapping[str, Any]]) -> Page:
    """Turn a ``MilvusClient.query`` result into columns."""
    lazy = getattr(result, "_lazy_field_data", None)
    if lazy is None or not isinstance(result, list):
        return _decode_materialised(col, [dict(r) for r in result])
    rows: list[dict[str, Any]] = list(list.__iter__(result))  # the eager row dicts, without materialising
    n = len(rows)
    eager = [name for name, c in col.scalars.items() if c.dtype != DataType.JSON]
    ids: list[RecordId] = [r[col.pk] for r in rows]
    metadata: list[dict[str, JSONValue]] = [{k: r.get(k) for k in eager} for r in rows]
    vectors: dict[str, npt.NDArray[np.float32]] = {}
    sparse: dict[str, list[SparseVector | None]] = {}
    for fd in lazy:
        name = fd.field_name
        if fd.type == DataType.FLOAT_VECTOR and name in col.vectors:
            if len(fd.valid_data):
                msg = f"vector field {name!r} of {col.name!r} is nullable; VectorMigrate needs a vector in every record"
                raise TerminalError(msg, hint="fill the missing vectors or drop the field", collection=col.name)
            dim = col.vectors[name].dim
            vectors[name] = np.array(fd.vectors.float_vector.data, dtype=np.float32).reshape(n, dim)
        elif fd.type == DataType.SPARSE_FLOAT_VECTOR and name in col.sparse:
            contents = fd.vectors.sparse_float_vector.contents
            valid = list(fd.valid_data)
            if valid:
                it = iter(contents)
                sparse[name] = [_sparse(next(it)) if ok else None for ok in valid]
            else:
                sparse[name] = [_sparse(raw) for raw in contents]
        elif fd.type == DataType.JSON:
            data = fd.scalars.json_data.data
            valid = list(fd.valid_data)
            if fd.is_dynamic:
                for i, raw in enumerate(data):
                    if raw:
                        meta = metadata[i]
                        for key, value in _loads(raw).items():
                            meta.setdefault(key, value)   # a typed column wins over a same-named dynamic key
            elif name in col.scalars:
                for i in range(n):
                    metadata[i][name] = None if (valid and not valid[i]) or i >= len(data) else _loads(data[i])
    return Page(ids, vectors, sparse, metadata)


def _sparse(raw: bytes) -> SparseVector:
    pairs = np.frombuffer(raw, dtype=_SPARSE_DTYPE)
    return SparseVector.of(pairs["i"], pairs["v"])


def _decode_materialised(col: MilvusCollection, rows: list[dict[str, Any]]) -> Page:
    """The slow, public path: pymilvus has turned every row into Python lists and dicts already."""
    ids: list[RecordId] = [r.pop(col.pk) for r in rows]
    vectors = {name: np.asarray([r.pop(name) for r in rows], dtype=np.float32).reshape(len(rows), spec.dim)
               for name, spec in col.vectors.items()}
    sparse: dict[str, list[SparseVector | None]] = {}
    for name in col.sparse:
        values = [r.pop(name, None) for r in rows]
        sparse[name] = [None if v is None else SparseVector.of(list(v.keys()), list(v.values())) for v in values]
    for r in rows:
        r.pop("$meta", None)
    return Page(ids, vectors, sparse, rows)


# --- writing -------------------------------------------------------------------------------------------------

def encode_rows(col: MilvusCollection, batch: Batch, *, max_dynamic_bytes: int | None) -> list[dict[str, Any]]:
    """pymilvus upsert rows for ``batch``; a record Milvus would refuse raises :class:`RecordError` naming it.

    Args:
        col: the target collection.
        batch: records already converted by the plan (ids, vector names and metadata types of this target).
        max_dynamic_bytes: the server's limit on one record's dynamic-field JSON (65,536 on Milvus servers).

    Raises:
        RecordError: one record cannot be stored (wrong id kind, NaN vector, missing or mistyped column...).
        SchemaMismatchError: the batch as a whole does not fit the collection (vector names, dims).
    """
    _check_ids(col, batch.ids)
    vec_cols = _vector_columns(col, batch)
    sparse_cols = _sparse_columns(col, batch)
    reserved = col.reserved
    rows: list[dict[str, Any]] = []
    for i, rid in enumerate(batch.ids):
        meta = batch.metadata[i]
        row = _metadata_row(col, rid, meta, reserved, max_dynamic_bytes)
        row[col.pk] = rid
        for fname, mat in vec_cols:
            row[fname] = mat[i]
        for fname, values in sparse_cols:
            row[fname] = values[i]
        rows.append(row)
    return rows


def _check_ids(col: MilvusCollection, ids: Sequence[RecordId]) -> None:
    for rid in ids:
        if col.pk_kind == "int":
            if not isinstance(rid, int) or isinstance(rid, bool) or not INT64_MIN <= rid <= INT64_MAX:
                msg = f"record {rid!r}: collection {col.name!r} has an INT64 primary key and this id is not an int64"
                raise RecordError(msg, hint="migrate into a collection with a VARCHAR primary key", record_id=rid,
                                  field="id")
        else:
            if not isinstance(rid, str):
                msg = f"record {rid!r}: collection {col.name!r} has a VARCHAR primary key and this id is not a string"
                raise RecordError(msg, hint="migrate into a collection with an INT64 primary key", record_id=rid,
                                  field="id")
            if not rid:
                msg = f"collection {col.name!r}: an empty string is not a valid Milvus primary key"
                raise RecordError(msg, record_id=rid, field="id")
            if col.pk_max_length is not None and len(rid.encode()) > col.pk_max_length:
                msg = (f"record {rid[:40]!r}...: id is {len(rid.encode())} bytes, the primary key of {col.name!r} "
                       f"holds at most {col.pk_max_length}")
                raise RecordError(msg, record_id=rid, field="id")


def _vector_columns(col: MilvusCollection, batch: Batch) -> list[tuple[str, npt.NDArray[np.float32]]]:
    out: list[tuple[str, npt.NDArray[np.float32]]] = []
    for name, mat in batch.vectors.items():
        fname = name if name in col.vectors else (
            next(iter(col.vectors)) if name == DEFAULT_VECTOR and len(col.vectors) == 1 else None)
        if fname is None:
            msg = f"the batch has a vector {name!r} that collection {col.name!r} does not have ({', '.join(col.vectors)})"
            raise SchemaMismatchError(msg, hint="map the vector names in the plan", collection=col.name)
        dim = col.vectors[fname].dim
        if mat.shape[1] != dim:
            msg = f"vector {fname!r} of collection {col.name!r} has dimension {dim}, the batch has {mat.shape[1]}"
            raise SchemaMismatchError(msg, hint="the target collection was created for another source",
                                      collection=col.name)
        finite = np.isfinite(mat).all(axis=1)
        if not finite.all():
            i = int(np.argmin(finite))
            rid = batch.ids[i]
            msg = f"record {rid!r}: vector {fname!r} holds NaN or infinity, which Milvus refuses"
            raise RecordError(msg, hint="fix or drop the record in the source", record_id=rid, field=fname)
        out.append((fname, mat))
    missing = [v for v in col.vectors if v not in {f for f, _ in out}]
    if missing and len(batch):
        msg = f"the batch has no values for vector(s) {', '.join(missing)} of collection {col.name!r}"
        raise SchemaMismatchError(msg, hint="every Milvus vector field needs a value in every record",
                                  collection=col.name)
    return out


def _sparse_columns(col: MilvusCollection, batch: Batch) -> list[tuple[str, list[dict[int, float]]]]:
    out: list[tuple[str, list[dict[int, float]]]] = []
    given = dict(batch.sparse)
    if DEFAULT_VECTOR in given and DEFAULT_VECTOR not in col.sparse and len(col.sparse) == 1:
        given[col.sparse[0]] = given.pop(DEFAULT_VECTOR)
    unknown = sorted(set(given) - set(col.sparse))
    if unknown:
        msg = f"the batch has sparse vector(s) {', '.join(map(repr, unknown))} that collection {col.name!r} does not have"
        raise SchemaMismatchError(msg, hint="map the sparse vector names in the plan", collection=col.name)
    for fname in col.sparse:
        values = given.get(fname)
        column: list[dict[int, float]] = []
        for i in range(len(batch)):
            sv = values[i] if values is not None else None
            if sv is None or not sv.indices.size:
                # Sparse fields cannot be null, and milvus-lite 3 refuses an empty sparse vector.
                rid = batch.ids[i]
                msg = f"record {rid!r}: has no sparse vector {fname!r}, and Milvus needs one in every record"
                raise RecordError(msg, hint="records without it go to the dead-letter file; or drop the sparse "
                                  "vector in the plan", record_id=rid, field=fname)
            if not np.isfinite(sv.values).all() or int(sv.indices.max()) >= 2**32 - 1:
                rid = batch.ids[i]
                msg = f"record {rid!r}: sparse vector {fname!r} has a NaN value or an index of 2^32-1 or more"
                raise RecordError(msg, record_id=rid, field=fname)
            column.append(sv.to_dict())
        out.append((fname, column))
    return out


def _metadata_row(col: MilvusCollection, rid: RecordId, meta: Mapping[str, JSONValue], reserved: set[str],
                  max_dynamic_bytes: int | None) -> dict[str, Any]:
    row: dict[str, Any] = {}
    dynamic: dict[str, JSONValue] = {}
    for key, value in meta.items():
        column = col.scalars.get(key)
        if column is not None:
            row[key] = _typed_value(col, rid, column, value)
        elif key in reserved:
            msg = (f"record {rid!r}: metadata key {key!r} has the name of a vector or primary-key field of "
                   f"{col.name!r}, and Milvus cannot store both")
            raise RecordError(msg, hint="rename the key in the plan's field mapping", record_id=rid, field=key)
        elif not col.dynamic:
            msg = (f"record {rid!r}: collection {col.name!r} has no column {key!r} and no dynamic field to hold it")
            raise RecordError(msg, hint="add the field to the collection, or drop it in the plan", record_id=rid,
                              field=key)
        else:
            dynamic[key] = value
    for name, column in col.scalars.items():
        if name not in row and not column.spec.nullable:
            msg = f"record {rid!r}: metadata field {name!r} is missing and its Milvus column is not nullable"
            raise RecordError(msg, hint="give it a value in the source or map a default in the plan",
                              record_id=rid, field=name)
    if dynamic and max_dynamic_bytes is not None:
        size = _dumps_len(dynamic)
        if size > max_dynamic_bytes:
            msg = f"record {rid!r}: its metadata is {size} bytes of JSON; Milvus's dynamic field holds {max_dynamic_bytes}"
            raise RecordError(msg, hint="drop or shorten large metadata values in the plan", record_id=rid,
                              field="$meta")
    row.update(dynamic)
    return row


def _typed_value(col: MilvusCollection, rid: RecordId, column: ScalarColumn, value: JSONValue) -> JSONValue:
    if value is None:
        if column.spec.nullable:
            return None
        return _bad(col, rid, column, value, "is null and the column is not nullable")
    dtype = column.dtype
    if dtype == DataType.BOOL:
        if not isinstance(value, bool):
            return _bad(col, rid, column, value, "is not a boolean")
    elif dtype in _INT_RANGES:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return _bad(col, rid, column, value, "is not an integer")
        lo, hi = _INT_RANGES[dtype]
        if not lo <= value <= hi:
            return _bad(col, rid, column, value, f"is out of the column's range [{lo}, {hi}]")
    elif dtype in (DataType.FLOAT, DataType.DOUBLE):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return _bad(col, rid, column, value, "is not a finite number")
        value = float(value)
    elif dtype == DataType.VARCHAR:
        if not isinstance(value, str):
            return _bad(col, rid, column, value, "is not a string")
        if column.max_length is not None and len(value.encode()) > column.max_length:
            return _bad(col, rid, column, value, f"is {len(value.encode())} bytes, the column holds {column.max_length}")
    elif dtype == DataType.ARRAY and not isinstance(value, list):
        return _bad(col, rid, column, value, "is not a list")
    return value


def _bad(col: MilvusCollection, rid: RecordId, column: ScalarColumn, value: JSONValue, why: str) -> JSONValue:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    msg = f"record {rid!r}: field {column.name!r} = {shown} {why} (Milvus column {DataType(column.dtype).name})"
    raise RecordError(msg, hint="coerce the field in the plan, or let it go to the dynamic field", record_id=rid,
                      field=column.name, collection=col.name)
