"""The Weaviate emulator against the real weaviate-client v4: what the client sends, the emulator must answer as
Weaviate documents it (schema defaults, per-object batch errors, the cursor API, tenants, API-key auth)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import httpx
import numpy as np
import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances
from weaviate.classes.data import DataObject
from weaviate.classes.init import Auth
from weaviate.classes.query import Filter, MetadataQuery
from weaviate.classes.tenants import Tenant, TenantActivityStatus
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateQueryError
from weaviate.proto.v1 import search_get_pb2, weaviate_pb2_grpc

from emulators.weaviate_server import WeaviateEmulator


@pytest.fixture(scope="module")
def server() -> Iterator[WeaviateEmulator]:
    with WeaviateEmulator() as wv:
        yield wv


@pytest.fixture
def client(server: WeaviateEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[weaviate.WeaviateClient]:
    server.reset()
    # The client's start-up checks also fetch pypi.org: point that at a closed port (the client ignores the error).
    monkeypatch.setattr("weaviate.connect.v4.PYPI_PACKAGE_URL", "http://127.0.0.1:9/")
    c = weaviate.connect_to_custom("127.0.0.1", server.http_port, False, "127.0.0.1", server.grpc_port, False)
    try:
        yield c
    finally:
        c.close()


def vec(dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def test_connect_runs_every_start_up_check(client: weaviate.WeaviateClient, server: WeaviateEmulator) -> None:
    assert client.is_ready()
    assert client.get_meta()["version"].startswith("1.32.")
    # OIDC discovery (404: no OIDC), meta, and the gRPC health check are what connect() does
    assert server.calls["GET /v1/.well-known"] >= 1
    assert server.calls["Health/Check"] == 1


def test_schema_defaults_parse_with_config_get(client: weaviate.WeaviateClient) -> None:
    client.collections.create(
        "Article",
        properties=[
            Property(name="title", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
            Property(name="n", data_type=DataType.INT), Property(name="score", data_type=DataType.NUMBER),
            Property(name="ok", data_type=DataType.BOOL), Property(name="when", data_type=DataType.DATE),
            Property(name="ref", data_type=DataType.UUID), Property(name="tags", data_type=DataType.TEXT_ARRAY),
            Property(name="author", data_type=DataType.OBJECT, nested_properties=[
                Property(name="name", data_type=DataType.TEXT), Property(name="age", data_type=DataType.INT)]),
        ],
        vector_config=[
            Configure.Vectors.self_provided(name="text", vector_index_config=Configure.VectorIndex.hnsw(
                distance_metric=VectorDistances.DOT)),
            Configure.Vectors.self_provided(name="image", vector_index_config=Configure.VectorIndex.flat()),
        ],
    )
    cfg = client.collections.use("Article").config.get()
    assert [p.name for p in cfg.properties] == ["title", "n", "score", "ok", "when", "ref", "tags", "author"]
    assert cfg.properties[0].tokenization == Tokenization.FIELD
    assert cfg.properties[1].index_searchable is False and cfg.properties[0].index_searchable is True
    assert [p.name for p in cfg.properties[7].nested_properties or []] == ["name", "age"]
    assert cfg.vector_config is not None
    assert cfg.vector_config["text"].vector_index_config.distance_metric == VectorDistances.DOT
    assert cfg.vector_config["image"].vector_index_config.distance_metric == VectorDistances.COSINE
    assert cfg.multi_tenancy_config.enabled is False
    assert cfg.sharding_config is not None and cfg.sharding_config.desired_count == 1
    assert cfg.inverted_index_config.bm25.k1 == pytest.approx(1.2)
    assert set(client.collections.list_all()) == {"Article"}


def test_schema_name_rules_are_weaviates(client: weaviate.WeaviateClient, server: WeaviateEmulator) -> None:
    # Weaviate capitalises class names and lower-cases the first letter of property names
    client.collections.create("lower", properties=[Property(name="Title", data_type=DataType.TEXT)])
    assert client.collections.exists("Lower")
    assert [p.name for p in client.collections.use("Lower").config.get().properties] == ["title"]
    for bad, needle in [("名前", "is not a valid property name"), ("_additional", "reserved"),
                        ("2nd", "is not a valid property name"), ("a-b", "is not a valid property name")]:
        with pytest.raises(UnexpectedStatusCodeError) as info:
            client.collections.create("Bad", properties=[Property(name=bad, data_type=DataType.TEXT)])
        assert info.value.status_code == 422
        assert needle in str(info.value)
    resp = httpx.post(f"{server.url}/v1/schema", json={"class": "Bad", "properties": [{"name": "id",
                                                                                       "dataType": ["text"]}]})
    assert resp.status_code == 422
    assert resp.json() == {"error": [{"message": "'id' is a reserved property name"}]}
    resp = httpx.post(f"{server.url}/v1/schema", json={"class": "9Lives"})
    assert resp.status_code == 422 and "not a valid class name" in resp.text
    resp = httpx.post(f"{server.url}/v1/schema", json={"class": "Obj", "properties": [
        {"name": "o", "dataType": ["object"]}]})
    assert resp.status_code == 422 and "At least one nested property" in resp.text
    assert not client.collections.exists("Bad")


def test_batch_reports_per_object_errors_and_keeps_the_rest(client: weaviate.WeaviateClient) -> None:
    col = client.collections.create(
        "Docs", properties=[Property(name="title", data_type=DataType.TEXT), Property(name="n", data_type=DataType.INT)],
        vector_config=[Configure.Vectors.self_provided(name="default")])
    good = [DataObject(properties={"title": f"t{i}", "n": i}, uuid=uuid.uuid4(), vector={"default": vec(8, i)})
            for i in range(5)]
    bad = [
        DataObject(properties={"title": 7}, uuid=uuid.uuid4(), vector={"default": vec(8, 10)}),
        DataObject(properties={"n": 1.5}, uuid=uuid.uuid4(), vector={"default": vec(8, 11)}),
        DataObject(properties={"title": "x"}, uuid=uuid.uuid4(), vector={"default": vec(4, 12)}),
        DataObject(properties={"title": "x"}, uuid=uuid.uuid4(), vector={"nope": vec(8, 13)}),
    ]
    result = col.data.insert_many([good[0], bad[0], *good[1:3], bad[1], bad[2], *good[3:], bad[3]])
    assert sorted(result.errors) == [1, 4, 5, 8]
    messages = [result.errors[i].message for i in sorted(result.errors)]
    assert "invalid text property 'title'" in messages[0]
    assert "requires an integer" in messages[1]
    assert "vector with length 4" in messages[2] and "length 8" in messages[2]
    assert "nope" in messages[3]
    assert col.aggregate.over_all(total_count=True).total_count == 5
    got = col.query.fetch_object_by_id(good[2].uuid, include_vector=True)
    assert got is not None
    # numbers travel as float64 in a protobuf Struct: an int property must come back as an int
    assert got.properties == {"title": "t2", "n": 2} and type(got.properties["n"]) is int
    np.testing.assert_array_equal(np.asarray(got.vector["default"], dtype=np.float32), vec(8, 2))
    assert col.query.fetch_object_by_id(bad[0].uuid) is None


def test_nested_objects_are_stored_typed_and_validated(client: weaviate.WeaviateClient) -> None:
    """The client sends nested values as ``ObjectProperties`` / ``ObjectArrayProperties`` (scalars in a Struct):
    they come back typed by the nested properties, and values that do not match them are refused per object."""
    col = client.collections.create("Docs", vector_config=[Configure.Vectors.self_provided(name="default")],
                                    properties=[
        Property(name="meta", data_type=DataType.OBJECT, nested_properties=[
            Property(name="n", data_type=DataType.INT), Property(name="w", data_type=DataType.NUMBER_ARRAY),
            Property(name="who", data_type=DataType.OBJECT, nested_properties=[
                Property(name="name", data_type=DataType.TEXT)])]),
        Property(name="refs", data_type=DataType.OBJECT_ARRAY, nested_properties=[
            Property(name="k", data_type=DataType.TEXT), Property(name="ok", data_type=DataType.BOOL)]),
    ])
    good = {"meta": {"n": 3, "w": [0.5, 2.0], "who": {"name": "Zoë"}}, "refs": [{"k": "a", "ok": True}, {"k": "b"}]}
    bad = [{"meta": {"n": "three"}}, {"meta": {"extra": 1}}, {"refs": [{"k": 1}]}, {"meta": [{"n": 1}]}]
    objects = [DataObject(properties=p, uuid=uuid.uuid4(), vector={"default": vec(8, i)})
               for i, p in enumerate([good, *bad])]
    result = col.data.insert_many(objects)
    assert sorted(result.errors) == [1, 2, 3, 4]
    messages = [result.errors[i].message for i in sorted(result.errors)]
    assert "requires an integer" in messages[0] and "nested property 'extra' does not exist" in messages[1]
    assert "invalid text property 'k'" in messages[2] and "not an object" in messages[3]
    got = col.query.fetch_object_by_id(objects[0].uuid)
    assert got is not None and got.properties == good and type(got.properties["meta"]["n"]) is int
    prop = col.config.get().properties[0]
    assert [(p.name, p.data_type) for p in prop.nested_properties or []] == [
        ("n", DataType.INT), ("w", DataType.NUMBER_ARRAY), ("who", DataType.OBJECT)]


def test_upsert_replaces_the_whole_object(client: weaviate.WeaviateClient) -> None:
    col = client.collections.create("Up", vector_config=[Configure.Vectors.self_provided(name="default")])
    oid = uuid.uuid4()
    col.data.insert_many([DataObject(properties={"a": "1", "b": "2"}, uuid=oid, vector={"default": vec(4, 0)})])
    col.data.insert_many([DataObject(properties={"a": "3"}, uuid=oid, vector={"default": vec(4, 1)})])
    got = col.query.fetch_object_by_id(oid, include_vector=True)
    assert got is not None and got.properties == {"a": "3"}
    assert col.aggregate.over_all(total_count=True).total_count == 1


def test_iterator_pages_every_object_in_uuid_order(client: weaviate.WeaviateClient, server: WeaviateEmulator) -> None:
    col = client.collections.create("Many", vector_config=[Configure.Vectors.self_provided(name="default")])
    ids = [uuid.uuid4() for _ in range(250)]
    col.data.insert_many([DataObject(properties={"i": i}, uuid=u, vector={"default": vec(4, i)})
                          for i, u in enumerate(ids)])
    before = server.calls.get("Search", 0)
    seen = [o.uuid for o in col.iterator(include_vector=True, cache_size=40)]
    assert seen == sorted(ids, key=str)
    assert server.calls["Search"] - before == 8  # 7 pages (six of 40, one of 10), then the empty page that stops it
    page = col.query.fetch_objects(limit=10, after=seen[99])
    assert [o.uuid for o in page.objects] == seen[100:110]
    with pytest.raises(WeaviateQueryError, match="after"):
        col.query.fetch_objects(limit=10, after=seen[0], filters=Filter.by_id().equal(seen[5]))


def test_filters_delete_and_near_vector(client: weaviate.WeaviateClient) -> None:
    col = client.collections.create("Find", vector_config=[Configure.Vectors.self_provided(
        name="default", vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.L2_SQUARED))])
    ids = [uuid.uuid4() for _ in range(20)]
    col.data.insert_many([DataObject(properties={"i": i}, uuid=u, vector={"default": vec(6, i)})
                          for i, u in enumerate(ids)])
    got = col.query.fetch_objects(filters=Filter.by_id().contains_any(ids[:5]), limit=10)
    assert {o.uuid for o in got.objects} == set(ids[:5])
    hits = col.query.near_vector(vec(6, 7).tolist(), target_vector="default", limit=3,
                                 return_metadata=MetadataQuery(distance=True))
    assert hits.objects[0].uuid == ids[7] and hits.objects[0].metadata.distance == pytest.approx(0.0, abs=1e-6)
    distances = [o.metadata.distance for o in hits.objects]
    assert distances == sorted(distances)
    assert col.data.delete_many(where=Filter.by_id().contains_any(ids[:5])).successful == 5
    assert col.data.delete_by_id(ids[5]) is True
    assert col.data.delete_by_id(ids[5]) is False
    assert col.aggregate.over_all(total_count=True).total_count == 14


def test_tenants(client: weaviate.WeaviateClient) -> None:
    col = client.collections.create("Mt", multi_tenancy_config=Configure.multi_tenancy(enabled=True),
                                    properties=[Property(name="x", data_type=DataType.TEXT)],
                                    vector_config=[Configure.Vectors.self_provided(name="default")])
    col.tenants.create(["a", "b", Tenant(name="cold", activity_status=TenantActivityStatus.INACTIVE)])
    tenants = col.tenants.get()  # gRPC TenantsGet
    assert sorted(tenants) == ["a", "b", "cold"]
    assert tenants["cold"].activity_status == TenantActivityStatus.INACTIVE
    assert col.tenants.exists("a") and not col.tenants.exists("zz")
    col.with_tenant("a").data.insert_many([DataObject(properties={"x": str(i)}, vector={"default": vec(4, i)})
                                           for i in range(3)])
    assert col.with_tenant("a").aggregate.over_all(total_count=True).total_count == 3
    assert col.with_tenant("b").aggregate.over_all(total_count=True).total_count == 0
    with pytest.raises(weaviate.exceptions.WeaviateInsertManyAllFailedError, match="tenant not found"):
        col.with_tenant("zz").data.insert_many([DataObject(properties={"x": "1"}, vector={"default": vec(4, 0)})])
    with pytest.raises(weaviate.exceptions.WeaviateInsertManyAllFailedError, match="without tenant"):
        col.data.insert_many([DataObject(properties={"x": "1"}, vector={"default": vec(4, 0)})])
    with pytest.raises(WeaviateQueryError, match="not active"):
        col.with_tenant("cold").query.fetch_objects(limit=1)


def test_api_key_auth_on_rest_and_grpc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("weaviate.connect.v4.PYPI_PACKAGE_URL", "http://127.0.0.1:9/")
    with WeaviateEmulator(api_key="s3cret") as wv:
        with pytest.raises(UnexpectedStatusCodeError) as info:
            weaviate.connect_to_custom("127.0.0.1", wv.http_port, False, "127.0.0.1", wv.grpc_port, False,
                                       auth_credentials=Auth.api_key("wrong"))
        assert info.value.status_code == 401
        assert httpx.get(f"{wv.url}/v1/schema").status_code == 401
        assert httpx.get(f"{wv.url}/v1/.well-known/ready").status_code == 200  # probes need no key
        with grpc.insecure_channel(f"127.0.0.1:{wv.grpc_port}") as channel:
            stub = weaviate_pb2_grpc.WeaviateStub(channel)
            with pytest.raises(grpc.RpcError) as rpc:
                stub.Search(search_get_pb2.SearchRequest(collection="X"), timeout=5)
            assert rpc.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with weaviate.connect_to_custom("127.0.0.1", wv.http_port, False, "127.0.0.1", wv.grpc_port, False,
                                        auth_credentials=Auth.api_key("s3cret")) as good:
            col = good.collections.create("Auth", vector_config=[Configure.Vectors.self_provided(name="default")])
            col.data.insert_many([DataObject(properties={"a": "b"}, vector={"default": [1.0, 0.0]})])
            assert col.aggregate.over_all(total_count=True).total_count == 1


def test_autoschema_off_refuses_unknown_properties(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("weaviate.connect.v4.PYPI_PACKAGE_URL", "http://127.0.0.1:9/")
    with WeaviateEmulator(autoschema=False) as wv, weaviate.connect_to_custom(
            "127.0.0.1", wv.http_port, False, "127.0.0.1", wv.grpc_port, False) as c:
        col = c.collections.create("Strict", properties=[Property(name="a", data_type=DataType.TEXT)],
                                   vector_config=[Configure.Vectors.self_provided(name="default")])
        res = col.data.insert_many([DataObject(properties={"a": "ok"}, vector={"default": [1.0]}),
                                    DataObject(properties={"zz": "no"}, vector={"default": [1.0]})])
        assert list(res.errors) == [1] and "no such prop with name 'zz'" in res.errors[1].message
