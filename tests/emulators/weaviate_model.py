"""The state behind the Weaviate emulator: classes with server defaults, tenants, objects, and validation.

Written from Weaviate's published API and its behaviour as documented (schema reference, multi-tenancy,
batch import, cursor API), for the emulator in :mod:`emulators.weaviate_server`. What it reproduces:

* **Schema**: ``POST /v1/schema`` upper-cases the first letter of a class name and lower-cases the first letter
  of every top-level property name, as Weaviate does, then validates them (class ``[A-Z][_0-9A-Za-z]*``,
  property ``[_A-Za-z][_0-9A-Za-z]*``, reserved ``_additional``, ``_id``, ``id``) and answers 422 with Weaviate's
  error body. Every default the server adds is filled in (inverted index, sharding, replication, multi-tenancy,
  vector index with its quantisers), so the client's ``config.get()`` parses the class.
* **Objects**: a batch validates every object on its own and reports per-object errors (unknown class or
  tenant, unknown property, wrong property type, wrong vector dimension); the valid objects are stored. Numbers
  arrive as float64 (protobuf ``Struct``) and are cast to int for ``int`` properties, as the server does.
  Writing an existing uuid replaces the object.
* **Vectors**: named vectors (``vectorConfig``) and the legacy class-level vector. An index takes its
  dimension from its first vector; later vectors of another length are refused.
* **Tenants**: one shard per tenant; objects, counts and deletes are per tenant.

Not reproduced: vectorizer modules, BM25/hybrid search, cross-references beyond storing the beacons,
replication, consistency levels, and real ANN (near-vector search is exact brute force).
"""

from __future__ import annotations

import base64
import copy
import math
import re
import threading
import time
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

VERSION = "1.32.5"

CLASS_NAME_RE = re.compile(r"^[A-Z][_0-9A-Za-z]*$")
PROPERTY_NAME_RE = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
TENANT_NAME_RE = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
VECTOR_NAME_RE = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,230}$")
RESERVED_PROPERTY_NAMES = ("_additional", "_id", "id")

SCALAR_TYPES = ("text", "string", "int", "number", "boolean", "date", "uuid", "geoCoordinates", "phoneNumber",
                "blob", "object")
ARRAY_TYPES = ("text[]", "string[]", "int[]", "number[]", "boolean[]", "date[]", "uuid[]", "object[]")
TEXT_TYPES = ("text", "string", "text[]", "string[]")

# --- server defaults, as GET /v1/schema/{class} returns them for a 1.32 server --------------------------------

INVERTED_INDEX_DEFAULTS: dict[str, Any] = {
    "bm25": {"b": 0.75, "k1": 1.2},
    "cleanupIntervalSeconds": 60,
    "stopwords": {"additions": None, "preset": "en", "removals": None},
    "indexNullState": False,
    "indexPropertyLength": False,
    "indexTimestamps": False,
    "usingBlockMaxWAND": True,
}
MULTI_TENANCY_DEFAULTS: dict[str, Any] = {"enabled": False, "autoTenantCreation": False, "autoTenantActivation": False}
REPLICATION_DEFAULTS: dict[str, Any] = {"factor": 1, "asyncEnabled": False, "deletionStrategy": "NoAutomatedResolution"}
SHARDING_DEFAULTS: dict[str, Any] = {
    "virtualPerPhysical": 128, "desiredCount": 1, "actualCount": 1, "desiredVirtualCount": 128,
    "actualVirtualCount": 128, "key": "_id", "strategy": "hash", "function": "murmur3",
}
# A multi-tenant class has one shard per tenant, so the sharding config is zeroed.
SHARDING_MT: dict[str, Any] = {
    "virtualPerPhysical": 0, "desiredCount": 0, "actualCount": 0, "desiredVirtualCount": 0,
    "actualVirtualCount": 0, "key": "", "strategy": "", "function": "",
}
_QUANTIZERS: dict[str, Any] = {
    "pq": {"enabled": False, "bitCompression": False, "segments": 0, "centroids": 256, "trainingLimit": 100000,
           "encoder": {"type": "kmeans", "distribution": "log-normal"}},
    "bq": {"enabled": False},
    "sq": {"enabled": False, "trainingLimit": 100000, "rescoreLimit": 20},
    "rq": {"enabled": False, "bits": 8, "rescoreLimit": 20},
}
HNSW_DEFAULTS: dict[str, Any] = {
    "skip": False, "cleanupIntervalSeconds": 300, "maxConnections": 32, "efConstruction": 128, "ef": -1,
    "dynamicEfMin": 100, "dynamicEfMax": 500, "dynamicEfFactor": 8, "vectorCacheMaxObjects": 1000000000000,
    "flatSearchCutoff": 40000, "distance": "cosine", "filterStrategy": "sweeping",
    **_QUANTIZERS,
    "multivector": {"enabled": False, "aggregation": "maxSim",
                    "muvera": {"enabled": False, "ksim": 4, "dprojections": 16, "repetitions": 10}},
}
FLAT_DEFAULTS: dict[str, Any] = {"distance": "cosine", "vectorCacheMaxObjects": 1000000000000, **_QUANTIZERS,
                                 "multivector": HNSW_DEFAULTS["multivector"]}
DISTANCES = ("cosine", "dot", "l2-squared", "hamming", "manhattan")


class ApiError(Exception):
    """An error the server answers with: an HTTP status for REST, a message for gRPC."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def unprocessable(message: str) -> ApiError:
    return ApiError(422, message)


def _merge(defaults: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """``defaults`` overlaid with ``given``, recursively for nested dicts (the server fills what is missing)."""
    out = copy.deepcopy(defaults)
    for key, value in (given or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def upper_first(name: str) -> str:
    return name[:1].upper() + name[1:]


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


# --- schema ------------------------------------------------------------------------------------------------


def normalize_property(prop: dict[str, Any], classes: Iterable[str], *, nested: bool = False,
                       parent: str = "") -> dict[str, Any]:
    """A property as the server stores it: name checked, every index default filled in."""
    name = str(prop.get("name", ""))
    if not nested:
        name = lower_first(name)  # Weaviate lower-cases the first letter of top-level property names
    if nested:
        if not PROPERTY_NAME_RE.match(name):
            raise unprocessable(f"'{name}' is not a valid nested property name of '{parent}'. NestedProperty names in "
                                "Weaviate are restricted to valid GraphQL names, which must be “/[_A-Za-z][_0-9A-Za-z]*/”.")
    else:
        if not PROPERTY_NAME_RE.match(name):
            raise unprocessable(f"'{name}' is not a valid property name. Property names in Weaviate are restricted to "
                                "valid GraphQL names, which must be “/[_A-Za-z][_0-9A-Za-z]*/”.")
        if name in RESERVED_PROPERTY_NAMES:
            raise unprocessable(f"'{name}' is a reserved property name")
    data_type = prop.get("dataType")
    if not isinstance(data_type, list) or not data_type or not all(isinstance(t, str) for t in data_type):
        raise unprocessable(f"property '{name}': dataType must be a non-empty list of type names")
    first = data_type[0]
    is_ref = first[:1].isupper() and first not in SCALAR_TYPES
    if is_ref:
        if nested:
            raise unprocessable(f"nested property '{name}' cannot be a cross-reference")
        missing = [t for t in data_type if t not in classes]
        if missing:
            raise unprocessable(f"Data type of property '{name}' is invalid; SingleRef class name '{missing[0]}' "
                                "does not exist")
    elif len(data_type) != 1 or first not in SCALAR_TYPES + ARRAY_TYPES:
        raise unprocessable(f"Data type of property '{name}' is invalid; unknown data type {data_type!r}")
    out: dict[str, Any] = {"name": name, "dataType": list(data_type)}
    if "description" in prop:
        out["description"] = prop["description"]
    out["indexFilterable"] = bool(prop.get("indexFilterable", True))
    out["indexSearchable"] = bool(prop.get("indexSearchable", first in TEXT_TYPES))
    out["indexRangeFilters"] = bool(prop.get("indexRangeFilters", False))
    if first in TEXT_TYPES:
        out["tokenization"] = prop.get("tokenization") or "word"
    if "moduleConfig" in prop:
        out["moduleConfig"] = copy.deepcopy(prop["moduleConfig"])
    if first in ("object", "object[]"):
        children = prop.get("nestedProperties") or []
        if not children:
            raise unprocessable(f"At least one nested property is required for data type {first}")
        out["nestedProperties"] = [normalize_property(c, classes, nested=True, parent=name) for c in children]
        _check_unique([c["name"] for c in out["nestedProperties"]], f"nested properties of '{name}'")
    elif prop.get("nestedProperties"):
        raise unprocessable(f"nestedProperties are only allowed for object and object[] properties, not '{name}'")
    return out


def _check_unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise unprocessable(f"property name '{name}' already in use in {where}")
        seen.add(name.lower())


def _vector_index(index_type: str, config: dict[str, Any] | None) -> dict[str, Any]:
    if index_type == "hnsw":
        out = _merge(HNSW_DEFAULTS, config)
    elif index_type == "flat":
        out = _merge(FLAT_DEFAULTS, config)
    else:
        raise unprocessable(f"unsupported vector index type: \"{index_type}\"")
    if out["distance"] not in DISTANCES:
        raise unprocessable(f"invalid hnsw config: distance metric \"{out['distance']}\" is not supported")
    return out


def normalize_class(body: dict[str, Any], existing: dict[str, ClassState]) -> dict[str, Any]:
    """The class JSON the server stores for a ``POST /v1/schema`` body, or :class:`ApiError` 422."""
    if not isinstance(body, dict):
        raise unprocessable("the request body must be a class object")
    name = upper_first(str(body.get("class", "")))
    if not CLASS_NAME_RE.match(name):
        raise unprocessable(f"'{name}' is not a valid class name")
    if any(other.lower() == name.lower() for other in existing):
        raise unprocessable(f"class name \"{name}\" already exists")
    props = [normalize_property(p, [*existing, name]) for p in body.get("properties") or []]
    _check_unique([p["name"] for p in props], f"class '{name}'")
    cls: dict[str, Any] = {"class": name}
    if "description" in body:
        cls["description"] = body["description"]
    cls["invertedIndexConfig"] = _merge(INVERTED_INDEX_DEFAULTS, body.get("invertedIndexConfig"))
    mt = _merge(MULTI_TENANCY_DEFAULTS, body.get("multiTenancyConfig"))
    cls["multiTenancyConfig"] = mt
    cls["properties"] = props
    cls["replicationConfig"] = _merge(REPLICATION_DEFAULTS, body.get("replicationConfig"))
    cls["shardingConfig"] = copy.deepcopy(SHARDING_MT) if mt["enabled"] else _merge(SHARDING_DEFAULTS,
                                                                                     body.get("shardingConfig"))
    if body.get("moduleConfig"):
        cls["moduleConfig"] = copy.deepcopy(body["moduleConfig"])
    named = body.get("vectorConfig") or {}
    if named:
        if body.get("vectorIndexConfig") or body.get("vectorizer") not in (None, "none"):
            raise unprocessable("creating a class with both a class level vector index and named vectors is "
                                "forbidden")
        vector_config: dict[str, Any] = {}
        for vname, vconf in named.items():
            if not VECTOR_NAME_RE.match(vname):
                raise unprocessable(f"target vector name \"{vname}\" is not valid")
            vectorizer = vconf.get("vectorizer") or {"none": {}}
            if list(vectorizer) != ["none"]:
                raise unprocessable(f"vectorizer: no module with name \"{next(iter(vectorizer))}\" present")
            index_type = vconf.get("vectorIndexType", "hnsw")
            vector_config[vname] = {"vectorizer": {"none": {}}, "vectorIndexType": index_type,
                                    "vectorIndexConfig": _vector_index(index_type, vconf.get("vectorIndexConfig"))}
        cls["vectorConfig"] = vector_config
    else:
        if body.get("vectorizer") not in (None, "none"):
            raise unprocessable(f"vectorizer: no module with name \"{body['vectorizer']}\" present")
        cls["vectorizer"] = "none"
        index_type = body.get("vectorIndexType", "hnsw")
        cls["vectorIndexType"] = index_type
        cls["vectorIndexConfig"] = _vector_index(index_type, body.get("vectorIndexConfig"))
    return cls


# --- objects -----------------------------------------------------------------------------------------------


@dataclass
class StoredObject:
    """One object of one shard."""

    uuid: str
    properties: dict[str, Any]
    vectors: dict[str, np.ndarray]
    """Vector name -> float32 vector; the legacy class-level vector is stored under ``""``."""
    created_ms: int
    updated_ms: int


@dataclass
class ClassState:
    """A class, its tenants and its shards."""

    schema: dict[str, Any]
    tenants: dict[str, str] = field(default_factory=dict)
    """tenant name -> activity status (HOT, COLD, FROZEN)"""
    shards: dict[str, dict[str, StoredObject]] = field(default_factory=dict)
    """shard key ("" when not multi-tenant, else the tenant name) -> uuid -> object"""
    dims: dict[tuple[str, str], int] = field(default_factory=dict)
    """(shard, vector name) -> dimension fixed by the index's first vector"""

    @property
    def name(self) -> str:
        return str(self.schema["class"])

    @property
    def multi_tenant(self) -> bool:
        return bool(self.schema["multiTenancyConfig"]["enabled"])

    def prop(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.schema["properties"] if p["name"] == name), None)

    def shard(self, tenant: str) -> dict[str, StoredObject]:
        """The objects of ``tenant`` (``""``: the class has no tenants), or :class:`ApiError` naming the problem."""
        if self.multi_tenant:
            if not tenant:
                raise ApiError(422, f"class {self.name} has multi-tenancy enabled, but request was without tenant")
            status = self.tenants.get(tenant)
            if status is None:
                raise ApiError(422, f"tenant not found: \"{tenant}\"")
            if status != "HOT":
                raise ApiError(422, f"tenant not active: \"{tenant}\" is {status.lower()}")
            return self.shards.setdefault(tenant, {})
        if tenant:
            raise ApiError(422, f"class {self.name} has multi-tenancy disabled, but request was with tenant")
        return self.shards.setdefault("", {})

    def distance_of(self, vector_name: str) -> str:
        if "vectorConfig" in self.schema:
            conf = self.schema["vectorConfig"].get(vector_name)
            if conf is None:
                raise ApiError(422, f"target vector \"{vector_name}\" not found in class {self.name}")
            return str(conf["vectorIndexConfig"]["distance"])
        return str(self.schema["vectorIndexConfig"]["distance"])


class Store:
    """Every class of one emulated server, behind one lock (the servers are multi-threaded)."""

    def __init__(self, *, autoschema: bool = True) -> None:
        self.lock = threading.RLock()
        self.classes: dict[str, ClassState] = {}
        self.autoschema = autoschema

    # -- schema -------------------------------------------------------------------------------------------

    def get_class(self, name: str) -> ClassState:
        """The class called ``name`` (the first letter is case-insensitive, as in Weaviate's REST paths)."""
        cls = self.classes.get(upper_first(name))
        if cls is None:
            raise ApiError(404, f"could not find class {name} in schema")
        return cls

    def create_class(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            schema = normalize_class(body, self.classes)
            self.classes[schema["class"]] = ClassState(schema)
            return copy.deepcopy(schema)

    def delete_class(self, name: str) -> None:
        with self.lock:
            self.classes.pop(upper_first(name), None)

    def add_property(self, class_name: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            cls = self.get_class(class_name)
            prop = normalize_property(body, self.classes)
            if any(p["name"].lower() == prop["name"].lower() for p in cls.schema["properties"]):
                raise unprocessable(f"property with name '{prop['name']}' already exists in class {cls.name}")
            cls.schema["properties"].append(prop)
            return copy.deepcopy(prop)

    # -- tenants ------------------------------------------------------------------------------------------

    def _mt_class(self, class_name: str) -> ClassState:
        cls = self.get_class(class_name)
        if not cls.multi_tenant:
            raise unprocessable(f"multi-tenancy is not enabled for class \"{cls.name}\"")
        return cls

    def add_tenants(self, class_name: str, tenants: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.lock:
            cls = self._mt_class(class_name)
            for t in tenants:
                name = str(t.get("name", ""))
                if not TENANT_NAME_RE.match(name):
                    raise unprocessable(f"tenant name \"{name}\" is not valid: it must match "
                                        "[A-Za-z0-9\\-_]{1,64}")
            for t in tenants:
                cls.tenants.setdefault(t["name"], _status(t.get("activityStatus", "HOT")))
            return [{"name": t["name"], "activityStatus": cls.tenants[t["name"]]} for t in tenants]

    def update_tenants(self, class_name: str, tenants: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.lock:
            cls = self._mt_class(class_name)
            for t in tenants:
                if t.get("name") not in cls.tenants:
                    raise unprocessable(f"tenant not found: \"{t.get('name')}\"")
            for t in tenants:
                cls.tenants[t["name"]] = _status(t.get("activityStatus", "HOT"))
            return [{"name": t["name"], "activityStatus": cls.tenants[t["name"]]} for t in tenants]

    def delete_tenants(self, class_name: str, names: list[str]) -> None:
        with self.lock:
            cls = self._mt_class(class_name)
            for name in names:
                cls.tenants.pop(name, None)
                cls.shards.pop(name, None)
                for key in [k for k in cls.dims if k[0] == name]:
                    del cls.dims[key]

    # -- objects ------------------------------------------------------------------------------------------

    def put_object(self, class_name: str, tenant: str, object_uuid: str, properties: dict[str, Any],
                   vectors: dict[str, np.ndarray]) -> None:
        """Validate one object and store it (replacing an object with the same uuid); :class:`ApiError` if invalid."""
        with self.lock:
            cls = self.get_class(class_name)
            shard = cls.shard(tenant)
            try:
                canonical = str(uuidlib.UUID(object_uuid))
            except ValueError:
                raise unprocessable(f"invalid UUID length: {len(object_uuid)}") from None
            props = self._check_properties(cls, properties)
            vecs = self._check_vectors(cls, tenant, vectors)
            now = int(time.time() * 1000)
            old = shard.get(canonical)
            shard[canonical] = StoredObject(canonical, props, vecs, old.created_ms if old else now, now)

    def _check_vectors(self, cls: ClassState, tenant: str, vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        named = "vectorConfig" in cls.schema
        for name, vec in vectors.items():
            if named and name == "":
                raise unprocessable(f"collection {cls.name} is configured with named vectors only: the object has "
                                    "a vector without a name")
            if not named and name != "":
                raise unprocessable(f"collection {cls.name} does not have named vectors configured: target vector "
                                    f"\"{name}\" not found")
            if named and name not in cls.schema["vectorConfig"]:
                raise unprocessable(f"collection {cls.name} does not have configured vector \"{name}\"")
            if vec.ndim != 1 or vec.size == 0:
                raise unprocessable(f"vector \"{name}\" is empty")
            if not np.isfinite(vec).all():
                raise unprocessable(f"vector \"{name}\" contains NaN or infinite values")
            want = cls.dims.get((tenant, name))
            if want is not None and want != vec.size:
                raise unprocessable(f"insert to vector index: new node has a vector with length {vec.size}. Existing "
                                    f"nodes have vectors with length {want}")
        for name, vec in vectors.items():
            cls.dims.setdefault((tenant, name), vec.size)
        return {k: v.astype(np.float32, copy=True) for k, v in vectors.items()}

    def _check_properties(self, cls: ClassState, properties: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in properties.items():
            if value is None:
                continue  # Weaviate does not store nulls: the property is simply absent
            prop = cls.prop(name)
            if prop is None:
                if not self.autoschema:
                    raise unprocessable(f"no such prop with name '{name}' found in class '{cls.name}' in the schema. "
                                        "Check your schema files for which properties in this class are available")
                prop = self._autoschema(cls, name, value)
            out[name] = check_value(cls.name, prop, value)
        return out

    def _autoschema(self, cls: ClassState, name: str, value: Any) -> dict[str, Any]:
        """Add a property for an unknown key, with the type auto-schema infers (numbers become ``number``)."""
        data_type = infer_data_type(value)
        if data_type is None:
            raise unprocessable(f"property '{name}' on class '{cls.name}': could not infer a data type from {value!r}")
        body: dict[str, Any] = {"name": name, "dataType": [data_type]}
        if data_type in ("object", "object[]"):
            sample = value if isinstance(value, dict) else value[0]
            body["nestedProperties"] = _infer_nested(sample)
        prop = normalize_property(body, self.classes)
        if prop["name"] != name:  # the server would lower-case it; the object's key would then not match
            raise unprocessable(f"'{name}' is not a valid property name for auto-schema")
        cls.schema["properties"].append(prop)
        return prop

    def delete_object(self, class_name: str, tenant: str, object_uuid: str) -> bool:
        with self.lock:
            cls = self.get_class(class_name)
            shard = cls.shard(tenant)
            return shard.pop(object_uuid.lower(), None) is not None


def _status(value: Any) -> str:
    status = str(value or "HOT").upper()
    return {"ACTIVE": "HOT", "INACTIVE": "COLD", "OFFLOADED": "FROZEN"}.get(status, status)


def infer_data_type(value: Any) -> str | None:
    """What Weaviate's auto-schema makes of a value (numbers default to ``number``, as AUTOSCHEMA does)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "date" if _parse_date(value) is not None else "text"
    if isinstance(value, dict):
        return "object" if value else None
    if isinstance(value, list) and value:
        inner = infer_data_type(value[0])
        return None if inner is None else f"{inner}[]"
    return None


def _infer_nested(sample: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, val in sample.items():
        dt = infer_data_type(val)
        if dt is None:
            continue
        child: dict[str, Any] = {"name": key, "dataType": [dt]}
        if dt in ("object", "object[]"):
            child["nestedProperties"] = _infer_nested(val if isinstance(val, dict) else val[0])
        out.append(child)
    return out


def _parse_date(value: str) -> datetime | None:
    """An RFC 3339 date-time (what Weaviate's ``date`` type accepts), or None."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _type_name(value: Any) -> str:
    """Go's name for a decoded JSON value's type, as Weaviate's error messages print it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return type(value).__name__


def check_value(class_name: str, prop: dict[str, Any], value: Any) -> Any:
    """``value`` as stored for ``prop``, or :class:`ApiError` with Weaviate's message for a wrong type."""
    dt = prop["dataType"][0]
    name = prop["name"]
    if dt.endswith("[]"):
        if not isinstance(value, list):
            raise unprocessable(f"invalid {dt} property '{name}' on class '{class_name}': not an array, but "
                                f"{_type_name(value)}")
        inner = {**prop, "dataType": [dt[:-2]]}
        return [check_value(class_name, inner, v) for v in value]
    if dt in ("text", "string"):
        if not isinstance(value, str):
            raise unprocessable(f"invalid text property '{name}' on class '{class_name}': not a string, but "
                                f"{_type_name(value)}")
        return value
    if dt == "int":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise unprocessable(f"invalid integer property '{name}' on class '{class_name}': requires an integer, "
                                f"the given value is '{value}'")
        if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
            raise unprocessable(f"invalid integer property '{name}' on class '{class_name}': requires an integer, "
                                f"the given value is '{value}'")
        return int(value)  # protobuf Struct numbers are float64: an int property stores them as integers
    if dt == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise unprocessable(f"invalid number property '{name}' on class '{class_name}': requires a float, the "
                                f"given value is '{value}'")
        return float(value)
    if dt == "boolean":
        if not isinstance(value, bool):
            raise unprocessable(f"invalid boolean property '{name}' on class '{class_name}': requires a bool, the "
                                f"given value is '{value}'")
        return value
    if dt == "date":
        if not isinstance(value, str) or _parse_date(value) is None:
            raise unprocessable(f"invalid date property '{name}' on class '{class_name}': requires a string with a "
                                f"RFC3339 formatted date, but the given value is '{value}'")
        return value
    if dt == "uuid":
        try:
            return str(uuidlib.UUID(str(value)))
        except ValueError:
            raise unprocessable(f"invalid uuid property '{name}' on class '{class_name}': '{value}' is not a valid "
                                "uuid") from None
    if dt == "geoCoordinates":
        if not (isinstance(value, dict) and isinstance(value.get("latitude"), int | float)
                and isinstance(value.get("longitude"), int | float)):
            raise unprocessable(f"invalid geoCoordinates property '{name}' on class '{class_name}': requires "
                                "latitude and longitude")
        return {"latitude": float(value["latitude"]), "longitude": float(value["longitude"])}
    if dt == "phoneNumber":
        if not (isinstance(value, dict) and isinstance(value.get("input"), str)):
            raise unprocessable(f"invalid phoneNumber property '{name}' on class '{class_name}': requires input")
        return dict(value)
    if dt == "blob":
        try:
            base64.b64decode(str(value), validate=True)
        except ValueError:
            raise unprocessable(f"invalid blob property '{name}' on class '{class_name}': not a base64 string") \
                from None
        return value
    if dt == "object":
        if not isinstance(value, dict):
            raise unprocessable(f"invalid object property '{name}' on class '{class_name}': not an object, but "
                                f"{_type_name(value)}")
        nested = {p["name"]: p for p in prop["nestedProperties"]}
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            child = nested.get(key)
            if child is None:
                raise unprocessable(f"invalid object property '{name}' on class '{class_name}': nested property "
                                    f"'{key}' does not exist")
            out[key] = check_value(class_name, child, item)
        return out
    # a cross-reference: a list of beacons
    if not isinstance(value, list):
        raise unprocessable(f"invalid reference property '{name}' on class '{class_name}': not a list of beacons")
    return value
