"""The Weaviate connector against the Weaviate emulator (tests/emulators/weaviate_server.py), through the real
weaviate-client v4 over REST and gRPC.

No Weaviate can run on the test machines, so the emulator serves Weaviate's published REST + gRPC API on real
sockets; the connector talks to it exactly as it would to a server.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import weaviate
from weaviate.classes.init import Auth

from emulators.weaviate_server import WeaviateEmulator
from vectormigrate import datagen
from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.memory import MemoryConnector
from vectormigrate.connectors.weaviate import WeaviateConnector
from vectormigrate.errors import (
    AuthenticationError,
    CheckpointError,
    CollectionNotFound,
    ConfigError,
    RecordError,
    SchemaMismatchError,
    TerminalError,
    TransientError,
    UnreachableError,
)
from vectormigrate.model import Batch, CollectionSchema, FieldSpec, Metric, VectorRecord, VectorSpec
from vectormigrate.pipeline.transform import uuid5_for
from vectormigrate.service import Endpoint, MigrationSpec, migrate
from vectormigrate.state.store import StateStore
from vectormigrate.testing.conformance import ConnectorConformance, adapt_metadata, load_case

KEY = "wv-test-key-0123456789"
DIM = 8


@pytest.fixture(scope="module")
def emulator() -> Iterator[WeaviateEmulator]:
    with WeaviateEmulator(api_key=KEY) as wv:
        yield wv


@pytest.fixture
def wv(emulator: WeaviateEmulator) -> WeaviateEmulator:
    emulator.reset()
    return emulator


def connect(wv: WeaviateEmulator, *, key: str | None = KEY, **options: str) -> WeaviateConnector:
    return WeaviateConnector(ConnectionConfig(url=wv.url, api_key=key,
                                              options={"grpc_port": str(wv.grpc_port), **options}))


@pytest.fixture
def conn(wv: WeaviateEmulator) -> Iterator[WeaviateConnector]:
    with connect(wv) as c:
        yield c


def schema(name: str = "Docs", *, fields: tuple[FieldSpec, ...] = (), namespaces: tuple[str, ...] = (),
           vectors: tuple[VectorSpec, ...] = (VectorSpec("default", DIM),)) -> CollectionSchema:
    return CollectionSchema(name, vectors=vectors, fields=fields, id_kind="uuid", namespaces=namespaces)


def ids(n: int, start: int = 0) -> list[str]:
    return [str(datagen.make_id(i, "uuid")) for i in range(start, start + n)]


def batch(rids: list[str], metadata: list[dict[str, Any]] | None = None, *, namespace: str | None = None,
          dim: int = DIM, seed: int = 0, name: str = "default") -> Batch:
    vecs = np.random.default_rng(seed).standard_normal((len(rids), dim)).astype(np.float32)
    return Batch(ids=list(rids), vectors={name: vecs}, metadata=metadata or [], namespace=namespace)


def read_all(c: Connector, collection: str, size: int = 10, after: Any = None) -> list[Batch]:
    return list(c.read_batches(collection, batch_size=size, after=after))


# --- conformance ---------------------------------------------------------------------------------------------


class TestWeaviateConformance(ConnectorConformance):
    """The shared suite; Weaviate ids are UUIDs, so the str/int id cases and sparse vectors skip themselves."""

    connector_name = "weaviate"

    @pytest.fixture
    def connector(self, wv: WeaviateEmulator) -> Iterator[Connector]:
        with connect(wv) as c:
            yield c

    @pytest.fixture
    def collection_name(self) -> str:
        return "Conformance"  # Weaviate collection names start with an upper-case letter

    def reopen(self, connector: Connector) -> Connector:
        return WeaviateConnector(connector.config)

    def test_unicode_metadata(self, connector: Connector, collection_name: str) -> None:
        """Overridden: Weaviate property names are ASCII GraphQL names, so the shared case's unicode *keys* are
        refused (all at once, with the renames the plan must apply); with those renames applied, the unicode
        *values* - and unicode keys inside nested objects, which travel as JSON - round-trip unchanged."""
        caps = connector.capabilities
        cases = load_case("unicode_metadata")
        metas = [adapt_metadata(c["metadata"], caps) for c in cases]
        keys = sorted({k for m in metas for k in m})
        fields = tuple(FieldSpec(k, "json", declared=False) for k in keys)
        bad = CollectionSchema(collection_name, vectors=(VectorSpec("default", self.dim),), fields=fields,
                               id_kind="uuid")
        with pytest.raises(SchemaMismatchError) as info:
            connector.prepare(bad)
        renames = info.value.fields["renames"]
        assert set(renames) == set(keys), "every invalid key is named, none is left out"
        assert renames["café"] == "cafe" and renames["Größe"] == "grosse"
        assert "cafe" in (info.value.hint or "")
        assert not connector.exists(collection_name), "a refused prepare() creates nothing"
        renamed = [{renames.get(k, k): v for k, v in m.items()} for m in metas]
        good = CollectionSchema(collection_name, vectors=bad.vectors, id_kind="uuid",
                                fields=tuple(FieldSpec(renames[k], "json", declared=False) for k in keys))
        connector.prepare(good)
        (b,) = self.batches(connector, good, len(cases), metadata="none")
        b.metadata = renamed
        written = self.write(connector, collection_name, [b])
        self.check_records(connector, written, connector.fetch(collection_name, [r.id for r in written]))
        self.check_records(connector, written,
                           [r for rb in self.read_all(connector, collection_name) for r in rb.records()])


# --- vectors -------------------------------------------------------------------------------------------------


def test_unnamed_vector_is_weaviates_default_and_dims_survive_an_empty_collection(
        conn: WeaviateConnector, wv: WeaviateEmulator) -> None:
    conn.create_collection(schema(vectors=(VectorSpec("", DIM, Metric.EUCLID),)))
    cls = wv.store.get_class("Docs").schema
    assert list(cls["vectorConfig"]) == ["default"]
    assert cls["vectorConfig"]["default"]["vectorIndexConfig"]["distance"] == "l2-squared"
    desc = conn.describe("Docs")  # empty: the dimension comes from the note written at creation
    assert [(v.name, v.dim, v.metric) for v in desc.vectors] == [("default", DIM, Metric.EUCLID)]
    conn.write_batch("Docs", batch(ids(3), name=""))
    (got,) = read_all(conn, "Docs")
    assert list(got.vectors) == ["default"]


def test_named_vectors_round_trip_exactly(conn: WeaviateConnector) -> None:
    vectors = (VectorSpec("text", 12, Metric.COSINE), VectorSpec("image", 4, Metric.DOT))
    conn.create_collection(schema(vectors=vectors))
    rng = np.random.default_rng(3)
    text, image = rng.standard_normal((5, 12)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32)
    conn.write_batch("Docs", Batch(ids=ids(5), vectors={"text": text, "image": image}))
    desc = conn.describe("Docs")
    assert {(v.name, v.dim, v.metric) for v in desc.vectors} == {("text", 12, Metric.COSINE), ("image", 4, Metric.DOT)}
    (got,) = read_all(conn, "Docs")
    order = np.argsort(ids(5))
    np.testing.assert_array_equal(got.vectors["text"], text[order])
    np.testing.assert_array_equal(got.vectors["image"], image[order])
    with pytest.raises(SchemaMismatchError, match="no vector 'audio'"):
        conn.write_batch("Docs", Batch(ids=ids(1), vectors={"audio": text[:1]}))


def test_search_scores_are_similarities(conn: WeaviateConnector) -> None:
    conn.create_collection(schema(vectors=(VectorSpec("default", DIM, Metric.EUCLID),)))
    b = batch(ids(20), seed=5)
    conn.write_batch("Docs", b)
    hits = conn.search("Docs", "default", b.vectors["default"][4].tolist(), 5)
    assert hits[0][0] == b.ids[4] and hits[0][1] == pytest.approx(0.0, abs=1e-5)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    second = b.ids.index(hits[1][0])
    sq = float(((b.vectors["default"][4] - b.vectors["default"][second]) ** 2).sum())
    assert hits[1][1] == pytest.approx(-sq, rel=1e-4), "l2-squared distances come back negated, not rooted"


# --- tenants -------------------------------------------------------------------------------------------------


def populate_tenants(conn: WeaviateConnector) -> dict[str, list[str]]:
    layout = {"acme": ids(23), "beta": ids(7, start=100), "empty": [], "zeta": ids(12, start=200)}
    conn.create_collection(schema(namespaces=tuple(layout), fields=(FieldSpec("n", "int"),)))
    for tenant, rids in layout.items():
        if rids:
            conn.write_batch("Docs", batch(rids, [{"n": i} for i in range(len(rids))], namespace=tenant))
    return layout


def test_every_tenant_is_exported_one_tenant_per_batch(conn: WeaviateConnector) -> None:
    layout = populate_tenants(conn)
    desc = conn.describe("Docs")
    assert desc.namespaces == ("acme", "beta", "zeta"), "tenants that hold data are the namespaces"
    assert desc.count == 42
    assert {t: conn.count("Docs", t) for t in layout} == {t: len(r) for t, r in layout.items()}
    batches = read_all(conn, "Docs", size=10)
    assert [b.namespace for b in batches] == ["acme"] * 3 + ["beta"] + ["zeta"] * 2
    for tenant, rids in layout.items():
        got = [i for b in batches if b.namespace == tenant for i in b.ids]
        assert got == sorted(rids), f"tenant {tenant}: every object once, in uuid order"
    assert conn.fetch("Docs", layout["beta"][:2], namespace="acme") == []
    assert [r.namespace for r in conn.fetch("Docs", layout["beta"][:2])] == ["beta", "beta"]
    with connect_like(conn, tenant="zeta") as only:
        assert [b.namespace for b in read_all(only, "Docs")] == ["zeta", "zeta"]
        assert only.count("Docs") == 12
        assert only.describe("Docs").namespaces == ("zeta",)


def connect_like(conn: WeaviateConnector, **options: str) -> WeaviateConnector:
    return WeaviateConnector(ConnectionConfig(url=conn.config.url, api_key=conn.config.api_key,
                                              options={**conn.config.options, **options}))


def test_resume_from_a_cursor_in_a_new_connector_across_tenants(conn: WeaviateConnector) -> None:
    populate_tenants(conn)
    first = read_all(conn, "Docs", size=10)
    everything = [(b.namespace, i) for b in first for i in b.ids]
    for k in (0, 2, 3, len(first) - 1):  # mid-tenant, last batch of a tenant, first of the next, the very end
        cursor = json.loads(json.dumps(first[k].cursor))
        with connect_like(conn) as fresh:
            rest = [(b.namespace, i) for b in read_all(fresh, "Docs", size=10, after=cursor) for i in b.ids]
        done = sum(len(b) for b in first[:k + 1])
        assert rest == everything[done:], f"resuming after batch {k}"
    with pytest.raises(CheckpointError):
        read_all(conn, "Docs", after={"tenant": "acme", "after": "not-a-uuid"})
    with pytest.raises(CheckpointError):
        read_all(conn, "Docs", after={"after": ids(1)[0]})  # no tenant in a multi-tenant collection


def test_tenants_are_created_on_demand_and_validated(conn: WeaviateConnector, wv: WeaviateEmulator) -> None:
    conn.create_collection(schema(namespaces=("a",)))
    conn.write_batch("Docs", batch(ids(2), namespace="new-one"))
    assert set(wv.store.get_class("Docs").tenants) == {"a", "new-one"}
    with pytest.raises(SchemaMismatchError, match="multi-tenant") as info:
        conn.write_batch("Docs", batch(ids(2)))
    assert "tenant=" in (info.value.hint or "")
    with pytest.raises(SchemaMismatchError) as bad:
        conn.ensure_namespace("Docs", "has space")
    assert bad.value.fields["tenant_renames"] == {"has space": bad.value.fields["tenant_renames"]["has space"]}
    conn.create_collection(schema("Flat"))
    with pytest.raises(SchemaMismatchError, match="not multi-tenant"):
        conn.write_batch("Flat", batch(ids(1), namespace="a"))


def test_an_inactive_tenant_is_reported_not_skipped(conn: WeaviateConnector, wv: WeaviateEmulator) -> None:
    populate_tenants(conn)
    wv.store.update_tenants("Docs", [{"name": "beta", "activityStatus": "INACTIVE"}])
    desc = conn.describe("Docs")
    assert desc.extras["inactive_tenants"] == ["beta"] and "beta" in desc.namespaces
    assert desc.count is None, "an inactive tenant cannot be counted: the total is unknown, not smaller"
    with pytest.raises(TerminalError, match="not active") as info:
        read_all(conn, "Docs", size=50)
    assert "activate" in (info.value.hint or "")


# --- writes --------------------------------------------------------------------------------------------------


def test_a_refused_object_is_a_record_error_and_nothing_of_it_is_written(conn: WeaviateConnector) -> None:
    conn.create_collection(schema(fields=(FieldSpec("n", "int"), FieldSpec("title", "string"))))
    rids = ids(5)
    meta: list[dict[str, Any]] = [{"n": i, "title": f"t{i}"} for i in range(5)]
    meta[3] = {"n": "three", "title": "t3"}
    with pytest.raises(RecordError) as info:
        conn.write_batch("Docs", batch(rids, meta))
    assert info.value.fields["record_id"] == rids[3]
    assert info.value.fields["field"] == "metadata.n"
    assert "requires an integer" in info.value.message
    assert conn.count("Docs") == 4
    assert conn.fetch("Docs", [rids[3]]) == []
    assert sorted(r.id for r in conn.fetch("Docs", rids)) == sorted(rids[:3] + rids[4:])


def test_a_batch_refused_for_one_reason_is_a_schema_problem(conn: WeaviateConnector) -> None:
    conn.create_collection(schema())
    conn.write_batch("Docs", batch(ids(2)))
    with pytest.raises(SchemaMismatchError, match="all 3 objects") as info:
        conn.write_batch("Docs", batch(ids(3, start=10), dim=4))  # the index holds 8-dim vectors
    assert "length 4" in info.value.message
    with pytest.raises(RecordError) as one:
        conn.write_batch("Docs", batch(ids(1, start=20), dim=4))
    assert one.value.fields["record_id"] == ids(1, start=20)[0] and one.value.fields["field"] == "vector"
    assert conn.count("Docs") == 2


def test_records_the_connector_can_refuse_before_sending(conn: WeaviateConnector) -> None:
    conn.create_collection(schema(fields=(FieldSpec("n", "int"),)))
    with pytest.raises(RecordError) as not_uuid:
        conn.write_batch("Docs", batch(["doc-1"]))
    assert not_uuid.value.fields == {"record_id": "doc-1", "field": "id"}
    with pytest.raises(RecordError, match="2\\^53") as big:
        conn.write_batch("Docs", batch(ids(2), [{"n": 1}, {"n": 2**60}]))
    assert big.value.fields["record_id"] == ids(2)[1]


def test_metadata_types_round_trip(conn: WeaviateConnector, wv: WeaviateEmulator) -> None:
    fields = (FieldSpec("s", "string"), FieldSpec("i", "int"), FieldSpec("f", "float"), FieldSpec("b", "bool"),
              FieldSpec("d", "datetime"), FieldSpec("tags", "list", element_type="string"),
              FieldSpec("w", "list", element_type="float"), FieldSpec("nested", "object"),
              FieldSpec("anything", "json"), FieldSpec("note", "string"), FieldSpec("_source_id", "string"))
    conn.create_collection(schema(fields=fields))
    types = {p["name"]: p["dataType"][0] for p in wv.store.get_class("Docs").schema["properties"]}
    assert types == {"s": "text", "i": "int", "f": "number", "b": "boolean", "d": "date", "tags": "text[]",
                     "w": "number[]", "anything": "text", "note": "text", "_source_id": "text"}
    # "nested" waits for the first batch: an object property needs its nested properties declared
    meta = {"s": "Zürich → Genève", "i": -7, "f": 2.5, "b": False, "d": "2024-05-06T07:08:09Z",
            "tags": ["日本", "b"], "w": [1, 0.5], "nested": {"clé": {"deep": [1, None, "x"]}, "empty": {}},
            "anything": [1, "two", {"3": 4}], "note": None, "_source_id": "doc-1", "late": 3}
    rid = ids(1)
    conn.write_batch("Docs", batch(rid, [meta]))
    (rec,) = conn.fetch("Docs", rid)
    expected = {k: v for k, v in meta.items() if v is not None}
    expected["w"] = [1.0, 0.5]
    assert rec.metadata == expected
    assert type(rec.metadata["i"]) is int and type(rec.metadata["late"]) is int
    late = next(p for p in wv.store.get_class("Docs").schema["properties"] if p["name"] == "late")
    assert late["dataType"] == ["int"], "a key the schema did not declare gets a typed property, ints stay ints"
    nested = next(p for p in wv.store.get_class("Docs").schema["properties"] if p["name"] == "nested")
    assert nested["dataType"] == ["text"], "'clé' is no Weaviate name: the field stays JSON text"
    assert "not an object property" in nested["description"] and "clé" in nested["description"]
    desc = {f.name: (f.type, f.element_type) for f in conn.describe("Docs").fields}
    assert desc["nested"] == ("object", None) and desc["anything"] == ("json", None)
    assert desc["tags"] == ("list", "string") and desc["d"] == ("datetime", None)


def raw_client(wv: WeaviateEmulator) -> weaviate.WeaviateClient:
    return weaviate.connect_to_custom("127.0.0.1", wv.http_port, False, "127.0.0.1", wv.grpc_port, False,
                                      auth_credentials=Auth.api_key(KEY), skip_init_checks=True)


def nested_types(props: Any) -> dict[str, Any]:
    """``config.get()``'s nested properties as ``{name: dataType}`` / ``{name: (dataType, {...})}``."""
    return {p.name: (p.data_type.value, nested_types(p.nested_properties)) if p.nested_properties
            else p.data_type.value for p in props or []}


def test_nested_metadata_becomes_typed_object_properties(conn: WeaviateConnector, wv: WeaviateEmulator) -> None:
    """The "rich" metadata's nested object is an ``object`` property whose nested properties the first batch
    declares (ints stay ``int``); values come back as equal dicts; datetime fields are ``date``."""
    fields = (*datagen.metadata_fields("rich"), FieldSpec("when", "datetime"))
    conn.prepare(schema(fields=fields))
    assert "nested" not in {p["name"] for p in wv.store.get_class("Docs").schema["properties"]}
    records = datagen.make_records(20, dim=DIM, id_kind="uuid")
    metas = [{**r.metadata, "when": f"2024-05-{i % 28 + 1:02d}T07:08:09Z"} for i, r in enumerate(records)]
    rids = [str(r.id) for r in records]
    conn.write_batch("Docs", batch(rids, metas))
    with raw_client(wv) as client:
        cfg = client.collections.get("Docs").config.get()
    props = {p.name: p for p in cfg.properties}
    assert props["nested"].data_type.value == "object"
    assert nested_types(props["nested"].nested_properties) == {
        "author": ("object", {"name": "text", "id": "int"}), "lang": "text", "verified": "boolean"}
    assert props["when"].data_type.value == "date"
    expected = [{k: v for k, v in m.items() if v is not None} for m in metas]
    got = [r.metadata for r in conn.fetch("Docs", rids)]
    assert got == expected
    assert all(type(m["nested"]["author"]["id"]) is int for m in got)
    assert [r.metadata for b in read_all(conn, "Docs", 7) for r in b.records()] == \
        [expected[rids.index(u)] for u in sorted(rids)]
    desc = {f.name: (f.type, f.element_type) for f in conn.describe("Docs").fields}
    assert desc["nested"] == ("object", None) and desc["when"] == ("datetime", None)


def test_lists_of_objects_become_object_array_properties(conn: WeaviateConnector, wv: WeaviateEmulator) -> None:
    conn.create_collection(schema(fields=(FieldSpec("refs", "list", element_type="object"),)))
    metas = [{"refs": [{"k": "a", "n": 1}, {"k": "b", "w": 0.5, "tags": ["x", "y"]}]},
             {"refs": [{"k": "c", "n": 2, "w": 1, "inner": {"ok": True}}]}]
    rids = ids(2)
    conn.write_batch("Docs", batch(rids, metas))
    with raw_client(wv) as client:
        prop = next(p for p in client.collections.get("Docs").config.get().properties if p.name == "refs")
    assert prop.data_type.value == "object[]"
    assert nested_types(prop.nested_properties) == {"k": "text", "n": "int", "w": "number", "tags": "text[]",
                                                    "inner": ("object", {"ok": "boolean"})}
    got = [r.metadata for r in conn.fetch("Docs", rids)]
    assert got == metas and type(got[1]["refs"][0]["w"]) is float, "a number nested property reads as float"
    assert conn.describe("Docs").fields[0].element_type == "object"


def test_values_the_object_property_cannot_hold_go_to_a_json_companion(conn: WeaviateConnector,
                                                                        wv: WeaviateEmulator) -> None:
    """Weaviate's REST API adds no nested property to an existing object property: a later record with a new
    nested key (or a nested null, an empty object, another type) is kept whole as JSON text in a companion
    property, and read back under the field's own name."""
    conn.prepare(schema(fields=(FieldSpec("nested", "object"),)))
    first = [{"nested": {"a": 1, "b": "x"}}, {"nested": {"a": 2}}]
    conn.write_batch("Docs", batch(ids(2), first))
    later = [{"nested": {"a": 3, "c": [1, 2]}}, {"nested": {"a": None}}, {"nested": {}}, {"nested": {"a": 1.5}},
             {"nested": {"a": 2**60}}, {"nested": {"a": 4, "b": "y"}}]
    # a new connector, as a resumed migration would open
    with connect(wv) as again:
        again.write_batch("Docs", batch(ids(6, 2), later))
    with raw_client(wv) as client:
        props = {p.name: p for p in client.collections.get("Docs").config.get().properties}
    assert nested_types(props["nested"].nested_properties) == {"a": "int", "b": "text"}, "declared once"
    assert props["nested__json"].data_type.value == "text"
    assert (props["nested__json"].description or "").startswith("vectormigrate:overflow:nested:")
    stored = {o.uuid: o.properties for o in wv.store.get_class("Docs").shards[""].values()}
    assert "nested__json" not in stored[ids(8)[7]] and "nested" in stored[ids(8)[7]], "fitting values stay native"
    assert [r.metadata for r in conn.fetch("Docs", ids(8))] == first + later
    desc = conn.describe("Docs")
    assert [f.name for f in desc.fields] == ["nested"]
    assert desc.extras["object_overflow_properties"] == {"nested": "nested__json"}


def test_object_values_a_weaviate_object_cannot_type_stay_json_text(conn: WeaviateConnector,
                                                                   wv: WeaviateEmulator) -> None:
    conn.create_collection(schema(fields=(FieldSpec("meta", "object"), FieldSpec("mixed", "object"))))
    metas = [{"meta": {"Größe": 1}, "mixed": {"v": [1, "a"]}}, {"meta": {"ok": 1}, "mixed": {"v": [2]}}]
    conn.write_batch("Docs", batch(ids(2), metas))
    props = {p["name"]: p for p in wv.store.get_class("Docs").schema["properties"]}
    assert props["meta"]["dataType"] == ["text"] and "Größe" in props["meta"]["description"]
    assert props["mixed"]["dataType"] == ["text"] and "cannot type" in props["mixed"]["description"]
    assert [r.metadata for r in conn.fetch("Docs", ids(2))] == metas
    assert {f.name: f.type for f in conn.describe("Docs").fields} == {"meta": "object", "mixed": "object"}


# --- names ---------------------------------------------------------------------------------------------------


def test_forbidden_names_are_refused_with_the_renames_to_apply(conn: WeaviateConnector) -> None:
    fields = tuple(FieldSpec(n, "string") for n in ("id", "Title", "naïve key", "ok", "_source_id", "vector"))
    with pytest.raises(SchemaMismatchError) as info:
        conn.prepare(schema(fields=fields))
    assert info.value.fields["renames"] == {"id": "id_", "Title": "title", "naïve key": "naive_key",
                                            "vector": "vector_"}
    for name in ("'id'", "'Title'", "'naïve key'", "'vector'"):
        assert name in info.value.message
    assert "'ok'" not in info.value.message and "'_source_id'" not in info.value.message
    with pytest.raises(ConfigError, match="lower-case") as coll:
        conn.prepare(schema("docs"))
    assert "--target-index Docs" in (coll.value.hint or "")
    assert not conn.exists("Docs")
    conn.create_collection(schema(fields=(FieldSpec("ok", "string"),)))
    with pytest.raises(SchemaMismatchError, match="'bad key'"):
        conn.write_batch("Docs", batch(ids(1), [{"ok": "x", "bad key": 1}]))


def test_suggest_field_names_is_available_without_a_connection() -> None:
    assert WeaviateConnector.suggest_field_names(["ok", "Ünïcode", "2x", "名前"]) == {
        "Ünïcode": "unicode", "2x": "p_2x", "名前": "p_d54d12f9"}


# --- errors --------------------------------------------------------------------------------------------------


def test_wrong_or_missing_key_is_an_authentication_error(wv: WeaviateEmulator) -> None:
    for key in ("wrong-key-123", None):
        with connect(wv, key=key) as bad, pytest.raises(AuthenticationError) as info:
            bad.exists("Docs")
        assert "wrong-key-123" not in str(info.value)


def test_unreachable_ports_fail_fast(wv: WeaviateEmulator) -> None:
    closed = _closed_port()
    started = time.perf_counter()
    with connect(wv, grpc_port=str(closed)) as bad, pytest.raises(UnreachableError, match="gRPC") as info:
        bad.exists("Docs")
    assert "grpc_port" in (info.value.hint or "")
    with WeaviateConnector(ConnectionConfig(url=f"http://127.0.0.1:{closed}", api_key=KEY)) as gone, \
            pytest.raises(UnreachableError):
        gone.count("Docs")
    assert time.perf_counter() - started < 10, "no client-side retry loop on a dead port"
    with pytest.raises(ConfigError, match="server URL"):
        WeaviateConnector(ConnectionConfig(url="./local-folder"))


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_missing_collection(conn: WeaviateConnector) -> None:
    assert conn.exists("Nope") is False
    with pytest.raises(CollectionNotFound, match="Nope"):
        conn.count("Nope")
    with pytest.raises(CollectionNotFound):
        conn.write_batch("Nope", batch(ids(1)))


def test_server_overload_and_deadlines_are_transient(wv: WeaviateEmulator) -> None:
    with connect(wv, timeout="0.5") as c:
        c.create_collection(schema())
        wv.fail_next("BatchObjects", grpc.StatusCode.RESOURCE_EXHAUSTED, message="memory pressure")
        with pytest.raises(TransientError, match="RESOURCE_EXHAUSTED"):
            c.write_batch("Docs", batch(ids(2)))
        wv.delay = 1.0
        try:
            with pytest.raises(TransientError, match="DEADLINE_EXCEEDED"):
                c.write_batch("Docs", batch(ids(2)))
        finally:
            wv.delay = 0.0
        c.write_batch("Docs", batch(ids(2)))  # a retry goes through
        assert c.count("Docs") == 2


# --- end to end ----------------------------------------------------------------------------------------------


def test_memory_to_weaviate_to_memory_keeps_every_record(wv: WeaviateEmulator, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORMIGRATE_CONNECTORS", "weaviate=vectormigrate.connectors.weaviate:WeaviateConnector")
    src = MemoryConnector(ConnectionConfig(url="mem-src"))
    n, namespaces = 150, ("en", "fr")
    src.create_collection(datagen.make_schema("docs", dim=16, id_kind="str", namespaces=namespaces))
    original: dict[str, VectorRecord] = {}
    for b in datagen.iter_batches(n, batch_size=50, dim=16, id_kind="str", namespaces=namespaces, seed=4):
        src.write_batch("docs", b)
        original.update({str(r.id): r for r in b.records()})
    weaviate_side = Endpoint("weaviate", "Docs", url=wv.url, api_key=KEY, options={"grpc_port": str(wv.grpc_port)})
    store = StateStore(tmp_path / "state.db")

    there = migrate(MigrationSpec("to-wv", Endpoint("memory", "docs", url="mem-src"), weaviate_side, batch_size=40),
                    store)
    assert there.result.status == "completed", there.result.error
    assert there.plan.id_strategy == "uuid5" and there.plan.namespace_strategy == "native"
    assert there.result.counters.records_written == n and there.result.counters.records_failed == 0
    with connect(wv) as dst:
        assert dst.count("Docs") == n
        assert {ns: dst.count("Docs", ns) for ns in namespaces} == {ns: src.count("docs", ns) for ns in namespaces}
        some = list(original)[::37]
        for rec in dst.fetch("Docs", [uuid5_for(i) for i in some]):
            assert rec.metadata["_source_id"] in some

    back = migrate(MigrationSpec("from-wv", weaviate_side, Endpoint("memory", "back", url="mem-back"),
                                 batch_size=64), store)
    assert back.result.status == "completed", back.result.error
    assert back.result.counters.records_written == n
    returned = MemoryConnector(ConnectionConfig(url="mem-back"))
    got = {str(r.id): r for b in returned.read_batches("back", batch_size=500) for r in b.records()}
    assert len(got) == n
    for sid, rec in original.items():
        copy = got[uuid5_for(sid)]
        assert copy.namespace == rec.namespace
        # "" -> Weaviate's "default" -> back to the unnamed vector: the plan maps unnamed vectors both ways
        np.testing.assert_array_equal(copy.vectors[""], rec.vectors[""])
        expected = {k: v for k, v in rec.metadata.items() if v is not None} | {"_source_id": sid}
        assert copy.metadata == expected, sid


def test_migration_dead_letters_a_refused_record_and_counts_the_rest(wv: WeaviateEmulator, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORMIGRATE_CONNECTORS", "weaviate=vectormigrate.connectors.weaviate:WeaviateConnector")
    src = MemoryConnector(ConnectionConfig(url="mem-bad"))
    src.create_collection(datagen.make_schema("docs", dim=DIM, id_kind="str", metadata="simple"))
    records = datagen.make_records(30, dim=DIM, id_kind="str", metadata="simple")
    records[17].metadata["n"] = "not a number"  # the schema says int: Weaviate refuses this one object
    src.write_batch("docs", Batch.from_records(records))
    out = migrate(MigrationSpec("bad", Endpoint("memory", "docs", url="mem-bad"),
                                Endpoint("weaviate", "Docs", url=wv.url, api_key=KEY,
                                         options={"grpc_port": str(wv.grpc_port)}), batch_size=10),
                  StateStore(tmp_path / "state.db"))
    assert out.result.status == "completed", out.result.error
    assert out.result.counters.records_written == 29 and out.result.counters.records_failed == 1
    with connect(wv) as dst:
        assert dst.count("Docs") == 29
        assert dst.fetch("Docs", [uuid5_for(records[17].id)]) == []
    assert out.dead_letter_path is not None
    dead = [json.loads(line) for line in Path(out.dead_letter_path).read_text().splitlines()]
    assert len(dead) == 1 and dead[0]["field"] == "metadata.n"


def test_uuid_ids_from_a_uuid_source_are_kept(conn: WeaviateConnector) -> None:
    conn.create_collection(schema())
    upper = [str(uuid.UUID(i)).upper() for i in ids(2)]
    conn.write_batch("Docs", batch(upper))
    assert sorted(b for rb in read_all(conn, "Docs") for b in rb.ids) == sorted(ids(2))
    assert [r.id for r in conn.fetch("Docs", [upper[1]])] == [ids(2)[1]]
