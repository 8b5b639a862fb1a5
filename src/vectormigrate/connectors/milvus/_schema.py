"""Milvus schemas <-> the canonical :class:`~vectormigrate.model.CollectionSchema`, and filter-expression literals.

Reading: :func:`parse_collection` turns ``describe_collection`` + ``describe_index`` into a :class:`MilvusCollection`,
the connector's cached view of one collection. Writing: :func:`build_schema` plans the Milvus schema for a
canonical one (:class:`CreatePlan`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pymilvus import DataType

from vectormigrate.errors import SchemaMismatchError
from vectormigrate.model import (
    CollectionSchema,
    FieldSpec,
    FieldType,
    IdKind,
    JSONValue,
    Metric,
    SparseSpec,
    VectorSpec,
    infer_fields,
)

__all__ = [
    "DEFAULT_PARTITION",
    "INT64_MAX",
    "INT64_MIN",
    "UNNAMED_VECTOR",
    "CreatePlan",
    "MilvusCollection",
    "ScalarColumn",
    "after_filter",
    "all_rows_filter",
    "build_schema",
    "check_name",
    "check_partition_name",
    "infer_dynamic_fields",
    "literal",
    "metric_name",
    "parse_collection",
    "pk_in_filter",
]

DEFAULT_PARTITION = "_default"
"""Milvus's built-in partition; it is namespace ``None``."""
UNNAMED_VECTOR = "vector"
"""The field name we give a single dense vector that had no name (what ``MilvusClient`` quick-create uses)."""
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_PK_CANDIDATES = ("id", "pk", "_id", "vm_pk")

_SCALARS: dict[int, FieldType] = {
    DataType.BOOL: "bool",
    DataType.INT8: "int",
    DataType.INT16: "int",
    DataType.INT32: "int",
    DataType.INT64: "int",
    DataType.FLOAT: "float",
    DataType.DOUBLE: "float",
    DataType.VARCHAR: "string",
    DataType.JSON: "json",
    DataType.ARRAY: "list",
}
_METRICS = {"COSINE": Metric.COSINE, "IP": Metric.DOT, "L2": Metric.EUCLID}
_METRIC_NAMES = {Metric.COSINE: "COSINE", Metric.DOT: "IP", Metric.EUCLID: "L2"}
# Typed columns we create for declared, non-nullable fields; everything else lives in the dynamic field.
_CREATE_TYPES: dict[FieldType, DataType] = {
    "string": DataType.VARCHAR,
    "int": DataType.INT64,
    "float": DataType.DOUBLE,   # DOUBLE, not FLOAT: a float64 source value must come back unchanged
    "bool": DataType.BOOL,
}


@dataclass(frozen=True, slots=True)
class ScalarColumn:
    """A typed (non-vector, non-primary) field of a collection."""

    name: str
    dtype: int
    spec: FieldSpec
    max_length: int | None = None
    """VARCHAR limit in bytes (Milvus servers count UTF-8 bytes)."""


@dataclass(slots=True)
class MilvusCollection:
    """What the connector needs to know about one collection, from ``describe_collection`` and its indexes."""

    name: str
    pk: str
    pk_kind: IdKind
    pk_max_length: int | None
    auto_id: bool
    vectors: dict[str, VectorSpec]
    sparse: list[str]
    scalars: dict[str, ScalarColumn]
    dynamic: bool
    partition_key: str | None
    consistency: str
    indexes: dict[str, dict[str, JSONValue]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    """Fields we cannot represent (binary / float16 / int8 vectors, struct arrays...): name -> Milvus type."""

    @property
    def output_fields(self) -> list[str]:
        """Every field a full read asks for (``$meta`` is the dynamic field)."""
        out = [self.pk, *self.vectors, *self.sparse, *self.scalars]
        if self.dynamic:
            out.append("$meta")
        return out

    @property
    def reserved(self) -> set[str]:
        """Names a metadata key cannot take in the dynamic field (they are static fields)."""
        return {self.pk, *self.vectors, *self.sparse, *self.skipped}

    def canonical(self, *, count: int | None, namespaces: Sequence[str], dynamic_fields: Sequence[FieldSpec],
                  server: str) -> CollectionSchema:
        """The canonical schema of this collection."""
        extras: dict[str, JSONValue] = {
            "primary_key": self.pk,
            "consistency_level": self.consistency,
            "indexes": self.indexes,
            "server": server,
        }
        if self.auto_id:
            extras["auto_id"] = True
        if self.partition_key:
            extras["partition_key"] = self.partition_key
        if self.skipped:
            extras["skipped_fields"] = dict(self.skipped)
        return CollectionSchema(
            name=self.name,
            vectors=tuple(self.vectors.values()),
            sparse_vectors=tuple(SparseSpec(s) for s in self.sparse),
            fields=(*(c.spec for c in self.scalars.values()), *dynamic_fields),
            id_kind=self.pk_kind,
            id_max_length=self.pk_max_length,
            namespaces=tuple(namespaces),
            dynamic_fields=self.dynamic,
            count=count,
            extras=extras,
        )


def metric_name(metric: Metric) -> str:
    """Milvus's spelling of a metric."""
    return _METRIC_NAMES[metric]


def parse_collection(desc: Mapping[str, Any], indexes: Mapping[str, Mapping[str, Any]]) -> MilvusCollection:
    """Build the cached view of a collection.

    Args:
        desc: ``MilvusClient.describe_collection`` output.
        indexes: ``describe_index`` output per field name (vector fields without an index are absent).

    Returns:
        The collection view.
    """
    pk = ""
    pk_kind: IdKind = "int"
    pk_max: int | None = None
    vectors: dict[str, VectorSpec] = {}
    sparse: list[str] = []
    scalars: dict[str, ScalarColumn] = {}
    skipped: dict[str, str] = {}
    partition_key: str | None = None
    index_info: dict[str, dict[str, JSONValue]] = {}
    for f in desc.get("fields", []):
        name = str(f["name"])
        dtype = int(f["type"])
        params = f.get("params") or {}
        if f.get("is_primary"):
            pk = name
            pk_kind = "int" if dtype == DataType.INT64 else "str"
            pk_max = int(params["max_length"]) if "max_length" in params else None
            continue
        if f.get("is_partition_key"):
            partition_key = name
        if dtype == DataType.FLOAT_VECTOR:
            idx = indexes.get(name, {})
            metric = _METRICS.get(str(idx.get("metric_type", "")).upper(), Metric.COSINE)
            vectors[name] = VectorSpec(name, int(params["dim"]), metric)
            index_info[name] = {"index_type": idx.get("index_type"), "metric_type": idx.get("metric_type")}
        elif dtype == DataType.SPARSE_FLOAT_VECTOR:
            sparse.append(name)
            idx = indexes.get(name, {})
            index_info[name] = {"index_type": idx.get("index_type"), "metric_type": idx.get("metric_type")}
        elif dtype in _SCALARS:
            scalars[name] = _scalar_column(name, dtype, f, params)
        else:
            skipped[name] = _type_name(dtype)
    return MilvusCollection(
        name=str(desc.get("collection_name", "")),
        pk=pk,
        pk_kind=pk_kind,
        pk_max_length=pk_max,
        auto_id=bool(desc.get("auto_id")),
        vectors=vectors,
        sparse=sparse,
        scalars=scalars,
        dynamic=bool(desc.get("enable_dynamic_field")),
        partition_key=partition_key,
        consistency=str(desc.get("consistency_level_name") or desc.get("consistency_level") or ""),
        indexes=index_info,
        skipped=skipped,
    )


def _type_name(dtype: int) -> str:
    try:
        return str(DataType(dtype).name)
    except ValueError:
        return str(dtype)


def _scalar_column(name: str, dtype: int, f: Mapping[str, Any], params: Mapping[str, Any]) -> ScalarColumn:
    max_length = int(params["max_length"]) if "max_length" in params else None
    element: FieldType | None = None
    if dtype == DataType.ARRAY:
        element = _SCALARS.get(int(f.get("element_type", 0)))
    spec = FieldSpec(
        name,
        _SCALARS[dtype],
        nullable=bool(f.get("nullable", False)),
        max_length=max_length if dtype == DataType.VARCHAR else None,
        element_type=element,
        declared=True,
    )
    return ScalarColumn(name, dtype, spec, max_length if dtype == DataType.VARCHAR else None)


def infer_dynamic_fields(sample: Iterable[Mapping[str, JSONValue]]) -> tuple[FieldSpec, ...]:
    """FieldSpecs (``declared=False``) for the keys seen in a sample of dynamic-field dicts.

    Dynamic-field keys are optional by nature, so every one is nullable.
    """
    return tuple(replace(f, nullable=True) for f in infer_fields(list(sample)))


def check_name(name: str, what: str) -> None:
    """Refuse a collection / field name Milvus servers reject (letters, digits, ``_``; not starting with a digit)."""
    if not _NAME_RE.match(name):
        msg = f"{what} {name!r} is not a valid Milvus name"
        raise SchemaMismatchError(
            msg, hint="Milvus names use letters, digits and underscores, start with a letter or _, at most 255 chars")


def check_partition_name(name: str) -> None:
    """Refuse a namespace that cannot be a Milvus partition name, before anything is written.

    milvus-lite 3 accepts more (dashes, spaces, unicode), but servers refuse them, so a migration tested on lite
    would fail on the real thing; we apply the server's rule everywhere.
    """
    if not re.match(r"^[A-Za-z0-9_]{1,255}$", name):
        msg = f"namespace {name!r} cannot be a Milvus partition name"
        raise SchemaMismatchError(
            msg,
            hint="Milvus partition names allow only letters, digits and underscores (at most 255); rename the "
                 "namespaces, or move them into a metadata field instead of partitions",
        )


def literal(value: str | int) -> str:
    """A filter-expression literal for a primary-key value.

    Strings are JSON-quoted without ASCII escaping: Milvus's parser (and milvus-lite's) understands ``\\"``,
    ``\\\\`` and the control-character escapes json emits, and takes other characters verbatim.
    """
    if isinstance(value, bool):
        msg = f"not a primary key value: {value!r}"
        raise TypeError(msg)
    if isinstance(value, int):
        return str(value)
    return str(json.dumps(value, ensure_ascii=False))


def all_rows_filter(pk: str, kind: IdKind) -> str:
    """An always-true filter. milvus-lite ignores ``partition_names`` in ``count(*)`` when the filter is empty."""
    return f"{pk} <= {INT64_MAX}" if kind == "int" else f'{pk} >= ""'


def after_filter(pk: str, kind: IdKind, after: str | int | None) -> str:
    """The filter of a pk-ordered scan page: every pk greater than ``after``."""
    if after is None:
        return all_rows_filter(pk, kind)
    if kind == "int" and int(after) == INT64_MIN:
        # `pk > -9223372036854775808` does not parse on Milvus (the literal is negated after parsing).
        return f"{pk} >= {INT64_MIN + 1}"
    return f"{pk} > {literal(after)}"


def pk_in_filter(pk: str, ids: Sequence[str | int]) -> str:
    """``pk in [...]`` with properly escaped literals (pymilvus's own helper does not escape quotes)."""
    return f"{pk} in [{', '.join(literal(i) for i in ids)}]"


@dataclass(frozen=True, slots=True)
class CreatePlan:
    """The Milvus collection to create for a canonical schema."""

    pk: str
    pk_kind: IdKind
    pk_max_length: int | None
    vectors: dict[str, VectorSpec]
    """Milvus field name -> spec (the unnamed vector becomes ``vector``)."""
    sparse: tuple[str, ...]
    typed: dict[str, tuple[DataType, FieldSpec]]
    """Typed columns; every other metadata key goes to the dynamic field."""


def build_schema(schema: CollectionSchema, *, varchar_max_length: int, multi_vector: bool,
                 sparse_supported: bool) -> CreatePlan:
    """Plan the Milvus collection for ``schema``, refusing what this Milvus cannot hold.

    Args:
        schema: the canonical schema.
        varchar_max_length: max_length (bytes) of every VARCHAR we create.
        multi_vector: the server accepts more than one vector field (Milvus >= 2.4, milvus-lite 3).
        sparse_supported: the server has SPARSE_FLOAT_VECTOR (Milvus >= 2.4, milvus-lite 3).

    Raises:
        SchemaMismatchError: with every problem at once.
    """
    check_name(schema.name, "collection name")
    problems: list[str] = []
    vectors: dict[str, VectorSpec] = {}
    for v in schema.vectors:
        fname = v.name or UNNAMED_VECTOR
        if not _NAME_RE.match(fname):
            problems.append(f"vector name {v.name!r} is not a valid Milvus field name")
        if v.dim < 2 or v.dim > 32_768:
            problems.append(f"vector {fname!r} has dimension {v.dim}; Milvus accepts 2 to 32768")
        vectors[fname] = VectorSpec(fname, v.dim, v.metric, v.dtype)
    sparse = tuple(s.name or "sparse" for s in schema.sparse_vectors)
    problems.extend(f"sparse vector name {s!r} is not a valid Milvus field name" for s in sparse if not _NAME_RE.match(s))
    if not vectors and not sparse:
        problems.append("Milvus needs at least one vector field and the source has none")
    if len(vectors) + len(sparse) > 1 and not multi_vector:
        problems.append(f"this Milvus holds one vector field per collection (before 2.4) and the source has "
                        f"{len(vectors) + len(sparse)}: {', '.join([*vectors, *sparse])}")
    if sparse and not sparse_supported:
        problems.append(f"this Milvus has no sparse vectors (they need Milvus 2.4+); the source has {', '.join(sparse)}")
    names = {*vectors, *sparse}
    clash = sorted(names & {f.name for f in schema.fields})
    if clash:
        problems.append(f"metadata field(s) {', '.join(map(repr, clash))} have the name of a vector field")
    if problems:
        msg = f"Milvus cannot hold collection {schema.name!r} as it is: " + "; ".join(problems)
        raise SchemaMismatchError(
            msg, hint="rename the vectors, drop the extra ones, or use milvus-lite 3 / Milvus 2.4+ as the target",
            collection=schema.name)
    taken = names | {f.name for f in schema.fields}
    pk = next((c for c in _PK_CANDIDATES if c not in taken), "vm_pk")
    typed: dict[str, tuple[DataType, FieldSpec]] = {}
    for f in schema.fields:
        dtype = _CREATE_TYPES.get(f.type)
        if f.declared and not f.nullable and dtype is not None and _NAME_RE.match(f.name) and f.name != pk:
            spec = f if dtype != DataType.VARCHAR else FieldSpec(
                f.name, f.type, nullable=False, max_length=varchar_max_length, declared=True)
            typed[f.name] = (dtype, spec)
    pk_kind: IdKind = "int" if schema.id_kind == "int" else "str"
    return CreatePlan(pk=pk, pk_kind=pk_kind, pk_max_length=None if pk_kind == "int" else varchar_max_length,
                      vectors=vectors, sparse=sparse, typed=typed)

