"""The canonical model: every connector converts to and from these types at its edge, and nowhere else.

A :class:`Batch` is column-oriented: one ``float32`` matrix ``(n, dim)`` per dense vector name, so vectors
move as numpy buffers and are never turned into Python float lists by the pipeline itself.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_VECTOR",
    "Batch",
    "Capabilities",
    "CollectionSchema",
    "Cursor",
    "FieldSpec",
    "FieldType",
    "IdKind",
    "JSONValue",
    "Metric",
    "NamespaceModel",
    "RecordId",
    "SparseSpec",
    "SparseVector",
    "VectorRecord",
    "VectorSpec",
    "id_kind_of",
    "infer_fields",
    "json_type",
]

RecordId: TypeAlias = str | int
JSONValue: TypeAlias = Any
Cursor: TypeAlias = dict[str, JSONValue]
"""Where a source read stopped; JSON-serialisable, opaque to everyone but the connector that made it."""

IdKind = Literal["int", "uuid", "str"]
FieldType = Literal["string", "int", "float", "bool", "list", "object", "json", "datetime"]
NamespaceModel = Literal["none", "namespace", "partition", "tenant"]

DEFAULT_VECTOR = ""
"""Name of the single unnamed dense vector (Pinecone's ``values``, Qdrant's unnamed vector)."""

FloatMatrix: TypeAlias = npt.NDArray[np.float32]


class Metric(enum.StrEnum):
    """Similarity metric, named once for every database."""

    COSINE = "cosine"
    DOT = "dot"
    EUCLID = "euclidean"

    @classmethod
    def parse(cls, value: str) -> Metric:
        """Accept every spelling the databases use (``IP``, ``dotproduct``, ``L2``, ``Cosine``...)."""
        key = value.strip().lower()
        aliases = {
            "cosine": cls.COSINE, "cos": cls.COSINE,
            "dot": cls.DOT, "dotproduct": cls.DOT, "ip": cls.DOT, "inner_product": cls.DOT,
            "euclidean": cls.EUCLID, "euclid": cls.EUCLID, "l2": cls.EUCLID, "l2-squared": cls.EUCLID,
        }
        if key not in aliases:
            msg = f"unknown metric {value!r}; expected one of cosine, dot, euclidean"
            raise ValueError(msg)
        return aliases[key]


@dataclass(frozen=True, slots=True)
class SparseVector:
    """A sparse vector: strictly increasing ``uint32`` indices and their ``float32`` values."""

    indices: npt.NDArray[np.uint32]
    values: npt.NDArray[np.float32]

    @classmethod
    def of(cls, indices: Sequence[int] | npt.NDArray[Any], values: Sequence[float] | npt.NDArray[Any]) -> SparseVector:
        """Build a sparse vector, sorted by index (databases disagree on order; we normalise once)."""
        idx = np.asarray(indices, dtype=np.int64)
        val = np.asarray(values, dtype=np.float32)
        if idx.shape != val.shape:
            msg = f"sparse vector has {idx.size} indices but {val.size} values"
            raise ValueError(msg)
        if idx.size and (idx.min() < 0 or idx.max() > 0xFFFFFFFF):
            msg = "sparse vector index out of the uint32 range"
            raise ValueError(msg)
        order = np.argsort(idx, kind="stable")
        return cls(idx[order].astype(np.uint32), val[order])

    def to_dict(self) -> dict[int, float]:
        """``{index: value}``, the shape Milvus uses."""
        return dict(zip(self.indices.tolist(), self.values.tolist(), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseVector):
            return NotImplemented
        return bool(np.array_equal(self.indices, other.indices) and np.allclose(self.values, other.values, rtol=1e-6))

    def __hash__(self) -> int:
        return hash((self.indices.tobytes(), self.values.tobytes()))


@dataclass(frozen=True, slots=True)
class VectorSpec:
    """One dense vector field."""

    name: str
    dim: int
    metric: Metric = Metric.COSINE
    dtype: str = "float32"


@dataclass(frozen=True, slots=True)
class SparseSpec:
    """One sparse vector field."""

    name: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One metadata field as the source declares or as sampling observed it."""

    name: str
    type: FieldType
    nullable: bool = True
    max_length: int | None = None
    element_type: FieldType | None = None
    """For ``list`` fields: the type of the elements, when known."""
    declared: bool = True
    """False when the field was inferred from a sample (schemaless payloads, dynamic fields)."""


@dataclass(frozen=True, slots=True)
class CollectionSchema:
    """What a collection holds, as far as a migration cares."""

    name: str
    vectors: tuple[VectorSpec, ...] = ()
    sparse_vectors: tuple[SparseSpec, ...] = ()
    fields: tuple[FieldSpec, ...] = ()
    id_kind: IdKind = "str"
    id_max_length: int | None = None
    namespaces: tuple[str, ...] = ()
    """Partitions / tenants / namespaces that hold data; empty when the collection has none."""
    dynamic_fields: bool = False
    count: int | None = None
    extras: Mapping[str, JSONValue] = field(default_factory=dict)
    """Connector-specific facts worth showing in a plan (partition key, index type...)."""

    def vector(self, name: str) -> VectorSpec:
        """The dense vector called ``name``."""
        for spec in self.vectors:
            if spec.name == name:
                return spec
        msg = f"collection {self.name!r} has no dense vector named {name!r}"
        raise KeyError(msg)

    def with_name(self, name: str) -> CollectionSchema:
        """The same schema for a collection called ``name``."""
        return replace(self, name=name)

    def to_json(self) -> dict[str, JSONValue]:
        """A JSON-serialisable description (for plans, status and the MCP tools)."""
        return {
            "name": self.name,
            "id_kind": self.id_kind,
            "vectors": [{"name": v.name, "dim": v.dim, "metric": v.metric.value, "dtype": v.dtype} for v in self.vectors],
            "sparse_vectors": [s.name for s in self.sparse_vectors],
            "fields": [
                {"name": f.name, "type": f.type, "nullable": f.nullable, "declared": f.declared}
                | ({"max_length": f.max_length} if f.max_length else {})
                | ({"element_type": f.element_type} if f.element_type else {})
                for f in self.fields
            ],
            "namespaces": list(self.namespaces),
            "dynamic_fields": self.dynamic_fields,
            "count": self.count,
            "extras": dict(self.extras),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSONValue]) -> CollectionSchema:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=data["name"],
            id_kind=data.get("id_kind", "str"),
            vectors=tuple(VectorSpec(v["name"], int(v["dim"]), Metric.parse(v["metric"]), v.get("dtype", "float32"))
                          for v in data.get("vectors", [])),
            sparse_vectors=tuple(SparseSpec(s) for s in data.get("sparse_vectors", [])),
            fields=tuple(FieldSpec(f["name"], f["type"], f.get("nullable", True), f.get("max_length"),
                                   f.get("element_type"), f.get("declared", True)) for f in data.get("fields", [])),
            namespaces=tuple(data.get("namespaces", [])),
            dynamic_fields=bool(data.get("dynamic_fields", False)),
            count=data.get("count"),
            extras=dict(data.get("extras", {})),
        )


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a connector can hold and how it behaves: the pipeline reads this instead of probing with hasattr."""

    id_kinds: frozenset[IdKind]
    max_batch_records: int
    max_batch_bytes: int
    named_vectors: bool
    sparse_vectors: bool
    metrics: frozenset[Metric]
    metadata_types: frozenset[FieldType]
    namespace_model: NamespaceModel
    stable_scan_order: bool
    """Reads come back in the same order every time, so a cursor can resume a scan."""
    idempotent_upsert: bool
    """Writing the same id twice leaves one record: re-writing a batch after a crash is harmless."""
    aliases: bool = False
    nested_metadata: bool = True
    null_metadata: bool = True
    max_id_length: int | None = None
    max_metadata_bytes: int | None = None
    max_dim: int | None = None
    normalizes_cosine: bool = False
    """Stores cosine vectors normalised (Qdrant): compare by cosine, never by equality."""
    list_element_types: frozenset[FieldType] | None = None
    """Element types a metadata list may hold (Pinecone: strings only); other lists are stored as JSON text."""
    ascii_ids: bool = False
    """String ids must be ASCII (Pinecone): others become UUIDv5, the original kept in metadata."""
    unnamed_vector: str = DEFAULT_VECTOR
    """The name this database gives a collection's single dense vector when the source had no name for it."""


@dataclass(slots=True)
class VectorRecord:
    """One record, row-shaped: for validation, fetch-by-id and tests. The pipeline moves :class:`Batch`."""

    id: RecordId
    vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    sparse: dict[str, SparseVector] = field(default_factory=dict)
    metadata: dict[str, JSONValue] = field(default_factory=dict)
    namespace: str | None = None


@dataclass(slots=True)
class Batch:
    """A column-oriented slice of a collection.

    Attributes:
        ids: record ids, in read order.
        vectors: per dense vector name, a C-contiguous ``float32`` matrix ``(len(ids), dim)``.
        sparse: per sparse vector name, one :class:`SparseVector` or ``None`` per record.
        metadata: one dict per record.
        namespace: the namespace / partition / tenant every record of the batch lives in (``None``: none).
        cursor: resume the source read *after* this batch.
    """

    ids: list[RecordId]
    vectors: dict[str, FloatMatrix] = field(default_factory=dict)
    sparse: dict[str, list[SparseVector | None]] = field(default_factory=dict)
    metadata: list[dict[str, JSONValue]] = field(default_factory=list)
    namespace: str | None = None
    cursor: Cursor | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not self.metadata:
            self.metadata = [{} for _ in range(n)]
        for name, mat in list(self.vectors.items()):
            arr = np.ascontiguousarray(mat, dtype=np.float32)
            if arr.ndim != 2 or arr.shape[0] != n:
                msg = f"vector {name!r} has shape {arr.shape}, expected ({n}, dim)"
                raise ValueError(msg)
            self.vectors[name] = arr
        for name, col in self.sparse.items():
            if len(col) != n:
                msg = f"sparse vector {name!r} has {len(col)} entries for {n} ids"
                raise ValueError(msg)
        if len(self.metadata) != n:
            msg = f"batch has {len(self.metadata)} metadata dicts for {n} ids"
            raise ValueError(msg)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        """A cheap estimate of the batch's size on the wire (vectors exact, metadata approximate)."""
        return int(self.record_sizes().sum())

    def record_sizes(self) -> npt.NDArray[np.int64]:
        """:attr:`nbytes` per record: one walk of the metadata, for callers that cut the batch by size."""
        row = sum(m.shape[1] * m.itemsize for m in self.vectors.values())
        sizes = np.fromiter((_approx_size(m) + len(str(i)) + 8 + row for i, m in zip(self.ids, self.metadata,
                                                                                      strict=True)),
                            dtype=np.int64, count=len(self.ids))
        for col in self.sparse.values():
            sizes += np.fromiter((0 if s is None else 8 * s.indices.size for s in col), dtype=np.int64, count=len(col))
        return sizes

    def take(self, positions: Sequence[int] | npt.NDArray[np.intp]) -> Batch:
        """A new batch of the records at ``positions`` (cursor not carried over)."""
        pos = np.asarray(positions, dtype=np.intp)
        plist = pos.tolist()
        return Batch(
            ids=[self.ids[i] for i in plist],
            vectors={k: v[pos] for k, v in self.vectors.items()},
            sparse={k: [col[i] for i in plist] for k, col in self.sparse.items()},
            metadata=[self.metadata[i] for i in plist],
            namespace=self.namespace,
        )

    def slice(self, start: int, stop: int) -> Batch:
        """Records ``start:stop`` (cursor not carried over)."""
        return Batch(
            ids=self.ids[start:stop],
            vectors={k: v[start:stop] for k, v in self.vectors.items()},
            sparse={k: col[start:stop] for k, col in self.sparse.items()},
            metadata=self.metadata[start:stop],
            namespace=self.namespace,
        )

    def records(self) -> Iterator[VectorRecord]:
        """Row view of the batch."""
        for i, rid in enumerate(self.ids):
            sparse = {k: col[i] for k, col in self.sparse.items() if col[i] is not None}
            yield VectorRecord(
                id=rid,
                vectors={k: v[i] for k, v in self.vectors.items()},
                sparse={k: s for k, s in sparse.items() if s is not None},
                metadata=self.metadata[i],
                namespace=self.namespace,
            )

    @classmethod
    def from_records(cls, records: Sequence[VectorRecord], *, namespace: str | None = None,
                     dims: Mapping[str, int] | None = None) -> Batch:
        """Column batch from rows. Every record must carry the same dense vector names.

        Args:
            records: the rows.
            namespace: the batch's namespace (defaults to the first record's).
            dims: dense vector dims, needed only to build an empty batch with the right shapes.
        """
        names = list(records[0].vectors) if records else list(dims or {})
        sparse_names = sorted({k for r in records for k in r.sparse})
        vectors: dict[str, FloatMatrix] = {}
        for name in names:
            if records:
                vectors[name] = np.stack([np.asarray(r.vectors[name], dtype=np.float32) for r in records])
            else:
                vectors[name] = np.zeros((0, (dims or {})[name]), dtype=np.float32)
        return cls(
            ids=[r.id for r in records],
            vectors=vectors,
            sparse={k: [r.sparse.get(k) for r in records] for k in sparse_names},
            metadata=[dict(r.metadata) for r in records],
            namespace=namespace if namespace is not None else (records[0].namespace if records else None),
        )


def _approx_size(value: JSONValue) -> int:
    """Rough JSON size of a metadata value, without serialising it (hot path: once per record)."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return 2 + sum(len(str(k)) + 3 + _approx_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 2 + sum(_approx_size(v) + 1 for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        return 4
    return 8


def id_kind_of(value: RecordId) -> IdKind:
    """Classify one id: ``int``, a canonical ``uuid`` string, or any other ``str``."""
    if isinstance(value, bool):
        return "str"
    if isinstance(value, int):
        return "int"
    if _looks_like_uuid(value):
        return "uuid"
    return "str"


def _looks_like_uuid(value: str) -> bool:
    import uuid

    if len(value) not in (32, 36, 38, 45):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def json_type(value: JSONValue) -> FieldType | None:
    """The field type of one metadata value (``None`` for a null; ``bool`` before ``int``, as Python needs)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return "json"


def infer_fields(sample: Sequence[Mapping[str, JSONValue]]) -> tuple[FieldSpec, ...]:
    """FieldSpecs (``declared=False``) for the top-level keys of a sample of schemaless metadata dicts.

    A key with one type keeps it (ints mixed with floats are ``float``), any other mix is ``json``; a list's
    ``element_type`` is set when its elements agree; a key that is null or missing in some records is nullable.
    """
    kinds: dict[str, set[FieldType]] = {}
    elements: dict[str, set[FieldType]] = {}
    nullable: set[str] = set()
    present: dict[str, int] = {}
    for meta in sample:
        for key, value in meta.items():
            present[key] = present.get(key, 0) + 1
            kind = json_type(value)
            seen = kinds.setdefault(key, set())
            if kind is None:
                nullable.add(key)
                continue
            seen.add(kind)
            if kind == "list":
                elements.setdefault(key, set()).update(k for k in map(json_type, value) if k is not None)
    out: list[FieldSpec] = []
    for key in sorted(kinds):
        seen = {"float"} if kinds[key] == {"int", "float"} else kinds[key]
        ftype: FieldType = next(iter(seen)) if len(seen) == 1 else "json"
        elem = elements.get(key, set())
        out.append(FieldSpec(key, ftype, nullable=key in nullable or present[key] < len(sample),
                             element_type=next(iter(elem)) if ftype == "list" and len(elem) == 1 else None,
                             declared=False))
    return tuple(out)
