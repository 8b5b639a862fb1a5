"""Conversions between the canonical model and Weaviate: class JSON, property values, objects -> batches.

Type mapping (canonical field type -> Weaviate ``dataType``)::

    string -> text        int -> int          float -> number       bool -> boolean     datetime -> date
    list of string/int/float/bool/datetime -> text[] / int[] / number[] / boolean[] / date[]
    object -> object             list of object -> object[]      (nestedProperties from the first batch written)
    json, and lists of anything else -> text holding JSON, marked in the property's description

An ``object`` property needs every nested key declared before a value is written, and the plan only knows that
a field is an object. So ``object`` / ``object[]`` properties are not part of the class created up front: the
first batch holding values for the field declares them, with ``nestedProperties`` inferred from those values
(:func:`infer_nested`: ints stay ``int``, ints mixed with floats become ``number``). The field stays JSON text
(marked ``vectormigrate:json:<type>`` in the description, decoded again on reads) when those values cannot be
typed: a nested key that is not a Weaviate name (``clé``), mixed or nested lists, two types under one key.

Weaviate's REST API cannot add nested properties to an existing ``object`` property (only its auto-schema
merges them, with its own typing). A later value the declared nested properties cannot hold exactly (a new
nested key, a nested null or empty object/list, another type, an int beyond 2^53) is therefore written as JSON
text into a companion text property (``<field>__json``, description ``vectormigrate:overflow:<field>:...``),
and reads put it back under the field: every record round-trips, nothing is dropped.

Weaviate stores no nulls: a ``None`` value is not sent, and the property is absent when read back.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from vectormigrate.errors import RecordError, SchemaMismatchError
from vectormigrate.model import (
    Batch,
    CollectionSchema,
    FieldSpec,
    FieldType,
    JSONValue,
    Metric,
)

__all__ = [
    "DEFAULT_VECTOR_NAME",
    "JSON_MARK",
    "OVERFLOW_MARK",
    "CollectionInfo",
    "Nested",
    "PropInfo",
    "class_body",
    "companion_body",
    "decode_properties",
    "deferred",
    "encode_properties",
    "field_spec",
    "fits",
    "infer_nested",
    "infer_property",
    "metric_of",
    "nested_tree",
    "new_property_body",
    "objects_to_batches",
    "parse_dims_note",
    "property_body",
    "weaviate_vector_name",
]

DEFAULT_VECTOR_NAME = "default"
"""Weaviate's name for a collection's single vector (the client reports a legacy unnamed vector as ``default``)."""
JSON_MARK = "vectormigrate:json:"
"""Prefix of the description of a text property whose values are JSON written by VectorMigrate."""
OVERFLOW_MARK = "vectormigrate:overflow:"
"""Prefix of the description of the companion text property holding the values an object property cannot hold."""
_DIMS_MARK = "vectormigrate:dims="
"""Prefix of the class-description note that records the vector dimensions (Weaviate's schema has none)."""
MAX_EXACT_INT = 2**53
"""gRPC batches carry properties in a protobuf ``Struct``, where every number is a float64."""

_DISTANCE = {Metric.COSINE: "cosine", Metric.DOT: "dot", Metric.EUCLID: "l2-squared"}
_METRIC = {"cosine": Metric.COSINE, "dot": Metric.DOT, "l2-squared": Metric.EUCLID}
_SCALAR: dict[str, str] = {"string": "text", "int": "int", "float": "number", "bool": "boolean", "datetime": "date"}
# Weaviate dataType -> (canonical type, list element type)
_FIELD: dict[str, tuple[FieldType, FieldType | None]] = {
    "text": ("string", None), "string": ("string", None), "uuid": ("string", None), "blob": ("string", None),
    "int": ("int", None), "number": ("float", None), "boolean": ("bool", None), "date": ("datetime", None),
    "geoCoordinates": ("object", None), "phoneNumber": ("object", None), "object": ("object", None),
    "text[]": ("list", "string"), "string[]": ("list", "string"), "uuid[]": ("list", "string"),
    "int[]": ("list", "int"), "number[]": ("list", "float"), "boolean[]": ("list", "bool"),
    "date[]": ("list", "datetime"), "object[]": ("list", "object"),
}


@dataclass(frozen=True, slots=True)
class Nested:
    """One nested property of an ``object`` / ``object[]`` property: its ``dataType`` and, for objects, its own."""

    data_type: str
    children: Mapping[str, Nested] | None = None


@dataclass(frozen=True, slots=True)
class PropInfo:
    """One property of a Weaviate collection, as the connector needs it."""

    name: str
    data_type: str
    """Weaviate's ``dataType[0]`` (``text``, ``int[]``, ...)."""
    json_type: FieldType | None = None
    """The canonical type of the values when the property holds JSON text written by VectorMigrate."""
    json_element: FieldType | None = None
    nested: Mapping[str, Nested] | None = None
    """The nested properties of an ``object`` / ``object[]`` property."""
    overflow: str | None = None
    """For an object property: the companion text property holding the values it cannot hold, once it exists."""
    overflow_of: str | None = None
    """For a companion text property: the object property whose misfit values it holds."""


@dataclass(slots=True)
class CollectionInfo:
    """What the connector caches about one collection (refreshed when the schema may have changed)."""

    name: str
    props: dict[str, PropInfo]
    vectors: dict[str, Metric]
    """Vector name -> metric (a legacy class-level vector is called ``default``)."""
    multi_tenant: bool
    legacy_vector: bool = False
    dims_note: dict[str, int] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    unsupported: dict[str, str] = field(default_factory=dict)
    """Vector name -> why VectorMigrate cannot move it (multi-vectors, unsupported distances)."""
    tenants: set[str] | None = None
    """Tenant names known to exist (None: not fetched yet)."""


def metric_of(distance: str) -> Metric | None:
    """The canonical metric of a Weaviate distance, or None (``hamming``, ``manhattan``)."""
    return _METRIC.get(distance)


def weaviate_vector_name(name: str) -> str:
    """The Weaviate name of a canonical dense vector (the unnamed vector ``""`` is ``default``)."""
    return name or DEFAULT_VECTOR_NAME


def parse_dims_note(description: str | None) -> dict[str, int]:
    """The ``{vector: dim}`` the connector wrote into a class description when it created the collection."""
    if not description or _DIMS_MARK not in description:
        return {}
    raw = description.split(_DIMS_MARK, 1)[1]
    match = re.match(r"\{[^}]*\}", raw)
    if not match:
        return {}
    try:
        data = json.loads(match.group(0))
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}


# --- schema -> class JSON ------------------------------------------------------------------------------------


def _storage(spec: FieldSpec) -> tuple[str, FieldType | None, FieldType | None]:
    """(dataType, json type, json element type) for a canonical field."""
    if spec.type in _SCALAR:
        return _SCALAR[spec.type], None, None
    if spec.type == "list" and spec.element_type in _SCALAR:
        return f"{_SCALAR[spec.element_type]}[]", None, None
    return "text", spec.type, spec.element_type if spec.type == "list" else None


def property_body(spec: FieldSpec) -> dict[str, Any]:
    """The ``properties[]`` entry of a class for one canonical field."""
    data_type, json_type, element = _storage(spec)
    body: dict[str, Any] = {"name": spec.name, "dataType": [data_type]}
    if json_type is not None:
        body["description"] = f"{JSON_MARK}{json_type}" + (f":{element}" if element else "") + \
            " (JSON text written by VectorMigrate)"
        body["indexSearchable"] = False  # BM25 over JSON text finds nothing useful
    return body


def deferred(spec: FieldSpec) -> bool:
    """Whether a field becomes an ``object`` / ``object[]`` property, declared by the first batch with values."""
    return spec.type == "object" or (spec.type == "list" and spec.element_type == "object")


def class_body(schema: CollectionSchema, *, multi_tenant: bool) -> dict[str, Any]:
    """The ``POST /v1/schema`` body for ``schema``: self-provided named vectors, typed properties, tenancy.

    Object fields are left out: their nested properties come from the first batch (:func:`new_property_body`).
    """
    vectors: dict[str, Any] = {}
    dims: dict[str, int] = {}
    for spec in schema.vectors:
        name = weaviate_vector_name(spec.name)
        dims[name] = spec.dim
        vectors[name] = {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw",
                         "vectorIndexConfig": {"distance": _DISTANCE[spec.metric]}}
    note = f"Created by VectorMigrate. {_DIMS_MARK}{json.dumps(dims, separators=(',', ':'))}"
    body: dict[str, Any] = {"class": schema.name, "description": note,
                            "properties": [property_body(f) for f in schema.fields if not deferred(f)],
                            "vectorConfig": vectors}
    if multi_tenant:
        body["multiTenancyConfig"] = {"enabled": True, "autoTenantCreation": False, "autoTenantActivation": False}
    return body


def infer_property(name: str, values: Sequence[JSONValue]) -> FieldSpec:
    """A field for a key the collection does not have yet, from the values a batch holds for it.

    Ints stay ``int`` only when every value is an int (a float later would be refused by an ``int`` property);
    anything nested, mixed or empty becomes JSON text.
    """
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return FieldSpec(name, "bool", declared=False)
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return FieldSpec(name, "int", declared=False)
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return FieldSpec(name, "float", declared=False)
    if present and all(isinstance(v, str) for v in present):
        return FieldSpec(name, "string", declared=False)
    if present and all(isinstance(v, list) for v in present):
        items = [x for v in present for x in v]
        element = infer_property(name, items).type if items else None
        kinds = {type(x) for x in items}
        if items and all(isinstance(x, dict) for x in items):
            return FieldSpec(name, "list", element_type="object", declared=False)
        if element in ("bool", "int", "float", "string") and not (dict in kinds or list in kinds):
            return FieldSpec(name, "list", element_type=element, declared=False)
        return FieldSpec(name, "list", declared=False)
    if present and all(isinstance(v, dict) for v in present):
        return FieldSpec(name, "object", declared=False)
    return FieldSpec(name, "json", declared=False)


# --- class JSON -> schema ------------------------------------------------------------------------------------


def prop_info(name: str, data_type: str, description: str | None,
              nested: Mapping[str, Nested] | None = None) -> PropInfo:
    """The :class:`PropInfo` of a property as ``config.get()`` reports it."""
    if data_type == "text" and description and description.startswith(OVERFLOW_MARK):
        parts = description[len(OVERFLOW_MARK):].split(" ", 1)[0].split(":")
        json_type = parts[1] if len(parts) > 1 and parts[1] in ("object", "list") else "json"
        element = parts[2] if len(parts) > 2 and parts[2] == "object" else None
        return PropInfo(name, data_type, json_type, element, overflow_of=parts[0])  # type: ignore[arg-type]
    if data_type in ("object", "object[]"):
        return PropInfo(name, data_type, nested=nested or {})
    if data_type == "text" and description and description.startswith(JSON_MARK):
        parts = description[len(JSON_MARK):].split(" ", 1)[0].split(":")
        json_type = parts[0] if parts[0] in ("object", "json", "list") else "json"
        element = parts[1] if len(parts) > 1 and parts[1] in _SCALAR else None
        return PropInfo(name, data_type, json_type, element)  # type: ignore[arg-type]
    return PropInfo(name, data_type)


def field_spec(info: PropInfo) -> FieldSpec:
    """The canonical field of a Weaviate property (declared: Weaviate's schema is explicit)."""
    if info.json_type is not None:
        return FieldSpec(info.name, info.json_type, element_type=info.json_element)
    typ, element = _FIELD.get(info.data_type, ("json", None))
    return FieldSpec(info.name, typ, element_type=element)


# --- object properties ---------------------------------------------------------------------------------------

_NESTED_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_NESTED_RESERVED = frozenset({"vector"})
"""Refused as a nested key by the Python client (the server refuses no nested name matching the pattern)."""


class _NotTypable(ValueError):
    """Values of a field that no ``object`` property can hold exactly: the field stays JSON text."""


def nested_tree(props: Sequence[Any] | None) -> dict[str, Nested]:
    """The nested properties ``config.get()`` reports (``_NestedProperty`` objects) as a :class:`Nested` tree."""
    return {str(p.name): Nested(str(p.data_type.value),
                                nested_tree(p.nested_properties) if p.nested_properties else None)
            for p in props or []}


def _scalar_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        if not np.isfinite(value):
            msg = "holds a non-finite number"
            raise _NotTypable(msg)
        return "number"
    if isinstance(value, str):
        return "text"
    return None


def _unify(old: Nested, new: Nested, path: str) -> Nested:
    if old.data_type == new.data_type:
        if old.children is None or new.children is None:
            return old
        merged = dict(old.children)
        for key, child in new.children.items():
            merged[key] = child if key not in merged else _unify(merged[key], child, f"{path}.{key}")
        return Nested(old.data_type, merged)
    numeric = {old.data_type, new.data_type}
    if numeric == {"int", "number"}:
        return Nested("number")
    if numeric == {"int[]", "number[]"}:
        return Nested("number[]")
    msg = f"{path!r} holds both {old.data_type} and {new.data_type} values"
    raise _NotTypable(msg)


def _merge_object(tree: dict[str, Nested], obj: Mapping[str, Any], path: str) -> None:
    for key, value in obj.items():
        where = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str) or not _NESTED_NAME.match(key) or key in _NESTED_RESERVED:
            msg = f"nested key {where!r} is not a Weaviate property name ([_A-Za-z][_0-9A-Za-z]*, not 'vector')"
            raise _NotTypable(msg)
        typed = _nested_of(value, where)
        if typed is not None:
            tree[key] = typed if key not in tree else _unify(tree[key], typed, where)


def _nested_of(value: Any, path: str) -> Nested | None:
    """The nested type of one value; None when it tells nothing (null, empty object or list)."""
    if value is None:
        return None
    kind = _scalar_kind(value)
    if kind is not None:
        return Nested(kind)
    if isinstance(value, Mapping):
        children: dict[str, Nested] = {}
        _merge_object(children, value, path)
        return Nested("object", children) if children else None
    if isinstance(value, list | tuple):
        if not value:
            return None
        if all(isinstance(v, Mapping) for v in value):
            children = {}
            for item in value:
                _merge_object(children, item, path)
            return Nested("object[]", children) if children else None
        kinds = {_scalar_kind(v) for v in value}
        if kinds == {"int", "number"}:
            kinds = {"number"}
        if len(kinds) == 1 and None not in kinds:
            return Nested(f"{kinds.pop()}[]")
        msg = f"{path!r} holds a list Weaviate cannot type (mixed types, nulls or nested lists)"
        raise _NotTypable(msg)
    msg = f"{path!r} holds a {type(value).__name__} value"
    raise _NotTypable(msg)


def infer_nested(spec: FieldSpec, values: Sequence[JSONValue]) -> dict[str, Nested] | str:
    """The nested properties an object field needs for ``values`` (a batch's non-null values of the field), or
    why the field must stay JSON text."""
    objects: list[Any] = list(values) if spec.type == "object" else \
        [x for v in values for x in (v if isinstance(v, list | tuple) else [v])]
    if not all(isinstance(v, Mapping) for v in objects):
        return f"not every value is {'an object' if spec.type == 'object' else 'a list of objects'}"
    tree: dict[str, Nested] = {}
    try:
        for obj in objects:
            _merge_object(tree, obj, "")
    except _NotTypable as exc:
        return str(exc)
    return tree or "no nested key holds a value to type"


def _nested_bodies(tree: Mapping[str, Nested]) -> list[dict[str, Any]]:
    return [{"name": name, "dataType": [node.data_type]}
            | ({"nestedProperties": _nested_bodies(node.children)} if node.children else {})
            for name, node in tree.items()]


def new_property_body(spec: FieldSpec, values: Sequence[JSONValue]) -> dict[str, Any]:
    """The ``properties[]`` entry for a field the collection does not have yet, given a batch's non-null values.

    An object field gets an ``object`` / ``object[]`` property with nested properties inferred from ``values``,
    or JSON text (the reason in its description) when they cannot be typed; other fields as :func:`property_body`.
    """
    if not deferred(spec):
        return property_body(spec)
    tree = infer_nested(spec, values)
    if isinstance(tree, str):
        body = property_body(spec)  # JSON text, marked
        body["description"] = f"{body['description']}; not an object property: {tree}"
        return body
    data_type = "object" if spec.type == "object" else "object[]"
    return {"name": spec.name, "dataType": [data_type], "nestedProperties": _nested_bodies(tree),
            "description": "nested properties declared by VectorMigrate from the first batch written"}


def companion_body(name: str, info: PropInfo) -> dict[str, Any]:
    """The companion text property ``name`` holding the values object property ``info`` cannot hold."""
    kind = "object" if info.data_type == "object" else "list:object"
    return {"name": name, "dataType": ["text"], "indexSearchable": False,
            "description": f"{OVERFLOW_MARK}{info.name}:{kind} (JSON text of the {info.name!r} values its nested "
                           "properties cannot hold; written by VectorMigrate, read back under that name)"}


class _Misfit(ValueError):
    """A value an object property's nested properties cannot hold exactly."""


def _native(value: Any, data_type: str, children: Mapping[str, Nested] | None) -> Any:
    """``value`` as the object property (or one of its nested properties) stores it, or :class:`_Misfit`."""
    if isinstance(value, np.generic):
        value = value.item()
    if data_type == "object":
        if not isinstance(value, Mapping) or not value or children is None:
            raise _Misfit
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = children.get(key)
            if child is None or item is None:  # a nested key not declared; Weaviate keeps no nested nulls
                raise _Misfit
            out[key] = _native(item, child.data_type, child.children)
        return out
    if data_type.endswith("[]"):
        if not isinstance(value, list | tuple) or not value:
            raise _Misfit  # an empty list has no element type to travel as
        return [_native(v, data_type[:-2], children) for v in value]
    if data_type == "boolean" and isinstance(value, bool):
        return value
    if data_type == "text" and isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise _Misfit
    if data_type == "int" and isinstance(value, int) and abs(value) <= MAX_EXACT_INT:
        return value
    if data_type == "number" and isinstance(value, int | float) and abs(value) <= MAX_EXACT_INT \
            and np.isfinite(value):
        return float(value)  # the client sends a list as int[] when its first element is an int
    if data_type == "date" and isinstance(value, str | datetime | date):
        return value if isinstance(value, str) else _rfc3339(value)
    if data_type == "uuid" and isinstance(value, str | uuid.UUID):
        return str(value)
    raise _Misfit


def fits(info: PropInfo, value: JSONValue) -> bool:
    """Whether object property ``info`` holds ``value`` exactly (else it goes to the companion JSON text)."""
    try:
        _native(value, info.data_type, info.nested)
    except _Misfit:
        return False
    return True


# --- values --------------------------------------------------------------------------------------------------


def _rfc3339(value: datetime | date) -> str:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # a naive datetime is taken as UTC (Weaviate dates carry a zone)
    return value.isoformat().replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return _rfc3339(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    msg = f"{type(value).__name__} is not JSON serialisable"
    raise TypeError(msg)


class _Refused(ValueError):
    """A value this property cannot hold; becomes a RecordError naming the record."""


def _int(value: Any, name: str) -> Any:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_EXACT_INT:
        msg = (f"field {name!r} holds {value}, beyond +-2^53: Weaviate's gRPC batch carries numbers as float64, "
               "so the value would change")
        raise _Refused(msg)
    return value


def _encode(info: PropInfo, value: Any) -> Any:
    if info.json_type is not None:
        try:
            return json.dumps(value, ensure_ascii=False, default=_json_default)
        except (TypeError, ValueError) as exc:
            msg = f"field {info.name!r} cannot be stored as JSON: {exc}"
            raise _Refused(msg) from exc
    dt = info.data_type
    if isinstance(value, np.generic):
        value = value.item()
    if dt == "int":
        return _int(value, info.name)
    if dt == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if dt in ("date", "date[]", "uuid", "uuid[]"):
        if isinstance(value, list):
            return [_rfc3339(v) if isinstance(v, datetime | date) else str(v) if isinstance(v, uuid.UUID) else v
                    for v in value]
        return _rfc3339(value) if isinstance(value, datetime | date) else \
            str(value) if isinstance(value, uuid.UUID) else value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        # The client picks the gRPC array kind from the FIRST element's type: [1, 2.5] would be sent as an int
        # array. Cast to the property's element type so the whole list travels as what the property holds.
        if dt == "number[]":
            return [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        if dt == "int[]":
            return [_int(v, info.name) for v in value]
        return list(value)
    return value


def encode_properties(metadata: Mapping[str, JSONValue], props: Mapping[str, PropInfo], record_id: Any) -> dict[str, Any]:
    """The properties of one object: nulls left out (Weaviate stores none), values cast to the property types.

    Raises:
        RecordError: a value the property cannot hold exactly (an int beyond 2^53, unencodable JSON).
    """
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        info = props[key]
        if info.nested is not None:
            try:
                out[key] = _native(value, info.data_type, info.nested)
            except _Misfit:
                if info.overflow is None:
                    msg = f"record {record_id!r}: field {key!r} does not fit the nested properties of its object property"
                    raise RecordError(msg, record_id=record_id, field=f"metadata.{key}") from None
                out[info.overflow] = _encode(props[info.overflow], value)
            continue
        try:
            out[key] = _encode(info, value)
        except _Refused as exc:
            msg = f"record {record_id!r}: {exc}"
            raise RecordError(msg, record_id=record_id, field=f"metadata.{key}",
                              hint="store the value as a string in the source, or leave the field out") from exc
    return out


def _plain(value: Any) -> JSONValue:
    """A client value as canonical JSON-like metadata (dates as RFC 3339 strings, uuids as strings)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return _rfc3339(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    dump = getattr(value, "model_dump", None)  # GeoCoordinate, phone numbers (pydantic models)
    if callable(dump):
        return _plain(dump())
    return str(value)


def decode_properties(properties: Mapping[str, Any], props: Mapping[str, PropInfo]) -> dict[str, JSONValue]:
    """An object's properties as canonical metadata (JSON text written by VectorMigrate decoded again)."""
    out: dict[str, JSONValue] = {}
    overflow: dict[str, JSONValue] = {}
    for key, value in properties.items():
        info = props.get(key)
        if info is not None and info.json_type is not None and isinstance(value, str):
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = value  # written by someone else into a marked property: keep the text
            if info.overflow_of is not None:
                overflow[info.overflow_of] = decoded  # a value its object property could not hold
            else:
                out[key] = decoded
            continue
        out[key] = _plain(value)
    out.update(overflow)
    return out


# --- objects -> batches --------------------------------------------------------------------------------------


def objects_to_batches(objects: Sequence[Any], info: CollectionInfo, namespace: str | None) -> list[Batch]:
    """A page of client objects as batches: one per run of objects carrying the same vector names.

    Weaviate objects may lack a vector that others have, but a :class:`Batch` holds one full matrix per vector
    name, so a page is cut into contiguous runs (never reordered: each batch's cursor is its last uuid).
    """
    out: list[Batch] = []
    run: list[Any] = []
    signature: tuple[str, ...] | None = None
    for obj in objects:
        vectors = obj.vector or {}
        sig = tuple(sorted(vectors))
        if run and sig != signature:
            out.append(_batch(run, signature or (), info, namespace))
            run = []
        run.append(obj)
        signature = sig
    if run:
        out.append(_batch(run, signature or (), info, namespace))
    return out


def _batch(objects: list[Any], names: tuple[str, ...], info: CollectionInfo, namespace: str | None) -> Batch:
    vectors: dict[str, np.ndarray] = {}
    for name in names:
        rows = [obj.vector[name] for obj in objects]
        if rows and rows[0] and isinstance(rows[0][0], list):
            msg = (f"weaviate collection {info.name!r}: vector {name!r} is a multi-vector (ColBERT-style); "
                   "VectorMigrate moves single dense vectors")
            raise SchemaMismatchError(msg, hint="migrate this collection with Weaviate's own backup tools",
                                      collection=info.name)
        try:
            mat = np.asarray(rows, dtype=np.float32)
        except ValueError as exc:  # rows of different lengths: an index whose dimension changed
            msg = f"weaviate collection {info.name!r}: vector {name!r} has vectors of different lengths"
            raise SchemaMismatchError(msg, collection=info.name) from exc
        vectors[name] = mat
    batch = Batch(
        ids=[str(obj.uuid) for obj in objects],
        vectors=vectors,
        metadata=[decode_properties(obj.properties or {}, info.props) for obj in objects],
        namespace=namespace,
    )
    batch.cursor = {"tenant": namespace, "after": str(objects[-1].uuid)}
    return batch
