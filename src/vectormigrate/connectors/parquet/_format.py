"""The on-disk format: file names, the manifest, and Batch <-> Arrow conversion.

See ``NOTES.md`` for the format as users of pyarrow, pandas or DuckDB see it. Everything that decides a
byte on disk lives here, so the format has one definition.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from vectormigrate.errors import RecordError, SchemaMismatchError, TerminalError
from vectormigrate.model import Batch, CollectionSchema, JSONValue, RecordId, SparseVector

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST",
    "Manifest",
    "Part",
    "arrow_schema",
    "batch_to_table",
    "record_batch_to_batch",
    "sparse_column",
    "vector_column",
]

FORMAT_NAME = "vectormigrate-parquet"
FORMAT_VERSION = 1
MANIFEST = "_manifest.json"
"""Leading underscore: pyarrow, pandas and Spark skip ``_*`` and ``.*`` files when reading a folder."""
PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"
TMP_PREFIX = ".tmp-"
LOCK_FILE = ".lock"

SPARSE_TYPE = pa.struct([pa.field("indices", pa.list_(pa.uint32())), pa.field("values", pa.list_(pa.float32()))])
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def vector_column(name: str) -> str:
    """Column of dense vector ``name``: ``vector`` for the unnamed one, else ``vector_<name>``."""
    return "vector" if name == "" else f"vector_{name}"


def sparse_column(name: str) -> str:
    """Column of sparse vector ``name``: ``sparse`` for the unnamed one, else ``sparse_<name>``."""
    return "sparse" if name == "" else f"sparse_{name}"


def part_name(seq: int) -> str:
    """File name of part ``seq`` (zero-padded so that a name sort is a sequence sort)."""
    return f"{PART_PREFIX}{seq:010d}{PART_SUFFIX}"


def now_utc() -> str:
    """An ISO-8601 UTC timestamp with a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Part:
    """One committed part file: every row of it lives in ``namespace``."""

    file: str
    seq: int
    rows: int
    namespace: str | None


@dataclass(slots=True)
class Manifest:
    """The authoritative list of a collection's part files, and its schema."""

    schema: CollectionSchema
    parts: list[Part] = field(default_factory=list)
    next_seq: int = 1
    generation: int = 0
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Identifies this incarnation of the collection: a dropped and re-created one gets a new uid."""
    created_at: str = field(default_factory=now_utc)
    updated_at: str = field(default_factory=now_utc)

    @property
    def int_ids(self) -> bool:
        """Whether the ``id`` column is ``int64`` (else ``string``)."""
        return self.schema.id_kind == "int"

    @property
    def count(self) -> int:
        """Records in the collection (parts never overlap, so this is exact)."""
        return sum(p.rows for p in self.parts)

    def namespaces(self) -> tuple[str, ...]:
        """Namespaces that hold records, sorted."""
        return tuple(sorted({p.namespace for p in self.parts if p.namespace and p.rows}))

    def to_json(self) -> dict[str, JSONValue]:
        """The manifest document (``_manifest.json``)."""
        schema = self.schema.to_json()
        schema["count"] = self.count
        schema["namespaces"] = list(self.namespaces() or self.schema.namespaces)
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "generation": self.generation,
            "collection_uid": self.uid,
            "id_type": "int64" if self.int_ids else "string",
            "columns": {
                "id": "id",
                "namespace": "namespace",
                "metadata": "metadata",
                "vectors": {v.name: vector_column(v.name) for v in self.schema.vectors},
                "sparse_vectors": {s.name: sparse_column(s.name) for s in self.schema.sparse_vectors},
            },
            "schema": schema,
            "count": self.count,
            "next_seq": self.next_seq,
            "parts": [{"file": p.file, "seq": p.seq, "rows": p.rows, "namespace": p.namespace} for p in self.parts],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, JSONValue], where: str) -> Manifest:
        """Parse a manifest document; ``where`` names the file in error messages."""
        if doc.get("format") != FORMAT_NAME:
            msg = f"{where} is not a VectorMigrate Parquet manifest (format={doc.get('format')!r})"
            raise TerminalError(msg, hint="point the URL at the folder that holds the collection folders")
        version = doc.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            msg = f"{where} has format version {version!r}; this VectorMigrate reads up to {FORMAT_VERSION}"
            raise TerminalError(msg, hint="upgrade VectorMigrate (pip install -U 'vectormigrate[parquet]')")
        try:
            parts = [Part(str(p["file"]), int(p["seq"]), int(p["rows"]), p.get("namespace")) for p in doc["parts"]]
            return cls(
                schema=CollectionSchema.from_json(doc["schema"]),
                parts=sorted(parts, key=lambda p: p.seq),
                next_seq=int(doc["next_seq"]),
                generation=int(doc.get("generation", 0)),
                uid=str(doc.get("collection_uid") or where),
                created_at=str(doc.get("created_at") or now_utc()),
                updated_at=str(doc.get("updated_at") or now_utc()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"{where} is damaged: {exc!r}"
            raise TerminalError(msg, hint="restore the manifest from a copy; the part files are intact") from exc


def arrow_schema(schema: CollectionSchema) -> pa.Schema:
    """The Arrow schema of every part file of a collection."""
    fields = [
        pa.field("id", pa.int64() if schema.id_kind == "int" else pa.string(), nullable=False),
        pa.field("namespace", pa.string()),
    ]
    fields += [pa.field(vector_column(v.name), pa.list_(pa.float32(), v.dim), nullable=False,
                        metadata={"vectormigrate.vector": v.name, "metric": v.metric.value})
               for v in schema.vectors]
    fields += [pa.field(sparse_column(s.name), SPARSE_TYPE, metadata={"vectormigrate.sparse": s.name})
               for s in schema.sparse_vectors]
    fields.append(pa.field("metadata", pa.string(), metadata={"encoding": "json"}))
    doc = json.dumps({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "schema": schema.to_json()})
    return pa.schema(fields, metadata={"vectormigrate": doc})


def validate_ids(ids: Sequence[RecordId], *, int_ids: bool) -> None:
    """Refuse ids the ``id`` column cannot hold, naming the first offending record."""
    for rid in ids:
        if int_ids:
            ok = isinstance(rid, int) and not isinstance(rid, bool) and _INT64_MIN <= rid <= _INT64_MAX
            if not ok:
                msg = f"record {rid!r}: this collection stores int64 ids"
                raise RecordError(msg, hint="write it into a collection created with id_kind 'str'",
                                  record_id=rid, field="id")
        elif not isinstance(rid, str):
            msg = f"record {rid!r}: this collection stores string ids"
            raise RecordError(msg, hint="write it into a collection created with id_kind 'int', or convert the id",
                              record_id=rid, field="id")


def batch_to_table(batch: Batch, schema: CollectionSchema, target: pa.Schema) -> pa.Table:
    """Arrow table of a batch; dense vectors are wrapped without copying the float32 buffer."""
    n = len(batch)
    expected = {v.name: v.dim for v in schema.vectors}
    problems = [f"dense vector {name!r} is not in the collection" for name in batch.vectors if name not in expected]
    problems += [f"dense vector {name!r} is missing" for name in expected if name not in batch.vectors]
    problems += [f"dense vector {name!r} has dimension {batch.vectors[name].shape[1]}, the collection {dim}"
                 for name, dim in expected.items() if name in batch.vectors and batch.vectors[name].shape[1] != dim]
    sparse_names = {s.name for s in schema.sparse_vectors}
    problems += [f"sparse vector {name!r} is not in the collection" for name in batch.sparse if name not in sparse_names]
    if problems:
        msg = f"batch does not fit collection {schema.name!r}: " + "; ".join(problems)
        raise SchemaMismatchError(msg, hint="write into a collection created for this schema (--if-exists recreate)",
                                  collection=schema.name)
    columns: list[pa.Array] = []
    if schema.id_kind == "int":
        columns.append(pa.array(np.asarray(batch.ids, dtype=np.int64)))
    else:
        columns.append(_utf8_array(batch.ids, batch.ids, "id"))
    namespace = batch.namespace or None
    if namespace is None:
        columns.append(pa.nulls(n, pa.string()))
    else:
        columns.append(pa.repeat(_utf8_array([namespace], batch.ids[:1], "namespace")[0], n))
    for spec in schema.vectors:
        flat = pa.array(batch.vectors[spec.name].reshape(-1))  # zero-copy view of the C-contiguous matrix
        columns.append(pa.FixedSizeListArray.from_arrays(flat, spec.dim))
    columns += [_sparse_array(batch.sparse.get(s.name), n) for s in schema.sparse_vectors]
    columns.append(_metadata_array(batch))
    return pa.Table.from_arrays(columns, schema=target)


def _sparse_array(col: list[SparseVector | None] | None, n: int) -> pa.Array:
    if col is None:
        return pa.nulls(n, SPARSE_TYPE)
    present = [s for s in col if s is not None]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum([0 if s is None else s.indices.size for s in col], out=offsets[1:])
    indices = np.concatenate([s.indices for s in present]).astype(np.uint32, copy=False) if present else \
        np.zeros(0, dtype=np.uint32)
    values = np.concatenate([s.values for s in present]).astype(np.float32, copy=False) if present else \
        np.zeros(0, dtype=np.float32)
    pa_offsets = pa.array(offsets)
    mask = pa.array(np.fromiter((s is None for s in col), dtype=bool, count=n))
    return pa.StructArray.from_arrays(
        [pa.ListArray.from_arrays(pa_offsets, pa.array(indices)), pa.ListArray.from_arrays(pa_offsets, pa.array(values))],
        fields=list(SPARSE_TYPE), mask=mask)


def _utf8_array(values: Sequence[Any], ids: Sequence[RecordId], what: str) -> pa.Array:
    """A string array, or a RecordError naming the record whose text is not valid UTF-8 (a lone surrogate)."""
    try:
        return pa.array(values, type=pa.string())
    except UnicodeEncodeError as exc:
        for rid, value in zip(ids, values, strict=False):
            if not _is_utf8(value):
                msg = f"record {rid!r}: its {what} {value!r} holds a lone surrogate, which UTF-8 cannot store"
                raise RecordError(msg, hint=f"fix the {what} in the source", record_id=rid, field=what) from exc
        raise


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays are lossless as JSON numbers/lists; dates become ISO-8601 strings (the
    # capabilities leave "datetime" out, so the plan knows they come back as strings).
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime | date):
        return value.isoformat()
    msg = f"{type(value).__name__} is not JSON serialisable"
    raise TypeError(msg)


# allow_nan (the default) keeps NaN / Infinity lossless, as Python's json and pandas read them back. One encoder
# object for every record: json.dumps with options builds a new one per call. orjson would encode ~4x faster but
# turns NaN into null and fails on ints beyond 64 bits; decoding, which dominates reads, it barely speeds up.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)
_ASCII_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=_json_default)
_dumps = _ENCODER.encode


def _metadata_array(batch: Batch) -> pa.Array:
    texts = _encode_metadata(batch)
    try:
        return pa.array(texts, type=pa.string())
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8: \u-escape those records (still exact once decoded).
        return pa.array([t if _is_utf8(t) else _ASCII_ENCODER.encode(m) for t, m in zip(texts, batch.metadata,
                                                                                         strict=True)],
                        type=pa.string())


def _encode_metadata(batch: Batch) -> list[str]:
    try:
        return [_dumps(m) for m in batch.metadata]
    except (TypeError, ValueError):
        for rid, meta in zip(batch.ids, batch.metadata, strict=True):
            try:
                _dumps(meta)
            except (TypeError, ValueError) as exc:
                msg = f"record {rid!r}: metadata cannot be stored as JSON ({exc})"
                raise RecordError(msg, hint="coerce the field to a JSON type (string, number, list, object)",
                                  record_id=rid, field="metadata") from exc
        raise


def record_batch_to_batch(rb: pa.RecordBatch, schema: CollectionSchema, namespace: str | None) -> Batch:
    """A canonical batch from a record batch read from a part; vectors stay views of Arrow's buffers."""
    ids: list[RecordId] = rb.column("id").to_pylist()
    vectors = {}
    for spec in schema.vectors:
        arr = rb.column(vector_column(spec.name))
        flat = arr.flatten()  # honours the array's offset, unlike .values
        vectors[spec.name] = flat.to_numpy(zero_copy_only=flat.null_count == 0).reshape(-1, spec.dim)
    sparse = {s.name: _decode_sparse(rb.column(sparse_column(s.name))) for s in schema.sparse_vectors}
    sparse = {k: v for k, v in sparse.items() if any(x is not None for x in v)}
    texts = rb.column("metadata").to_pylist()
    try:
        metadata = [{} if m is None else json.loads(m) for m in texts]
    except ValueError:
        metadata = [_decode_one(rid, m) for rid, m in zip(ids, texts, strict=True)]
    return Batch(ids=ids, vectors=vectors, sparse=sparse, metadata=metadata, namespace=namespace)


def _decode_one(rid: RecordId, text: str | None) -> dict[str, JSONValue]:
    try:
        value = {} if text is None else json.loads(text)
    except ValueError as exc:
        msg = f"record {rid!r}: its metadata is not valid JSON ({exc})"
        raise TerminalError(msg, hint="the part file was edited by another tool; fix or remove that record") from exc
    if not isinstance(value, dict):
        msg = f"record {rid!r}: its metadata is a JSON {type(value).__name__}, not an object"
        raise TerminalError(msg, hint="the part file was edited by another tool; fix or remove that record")
    return value


def _decode_sparse(arr: pa.StructArray) -> list[SparseVector | None]:
    idx_list, val_list = arr.field("indices"), arr.field("values")
    offsets = idx_list.offsets.to_numpy()
    val_offsets = val_list.offsets.to_numpy()
    indices = idx_list.values.to_numpy(zero_copy_only=False)
    values = val_list.values.to_numpy(zero_copy_only=False)
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    return [SparseVector(indices[offsets[i]:offsets[i + 1]], values[val_offsets[i]:val_offsets[i + 1]])
            if valid[i] else None for i in range(len(arr))]
