"""The Pinecone emulator answers the official SDK as the service documents: paths, bodies, pagination, limits, faults.

Where the SDK checks something client-side first (ids, metadata types, list limits), the server-side check is
exercised with raw HTTP requests, since other clients (or other SDK versions) rely on the server refusing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pinecone._internal.http_client as pinecone_http
import pytest
from pinecone import Pinecone
from pinecone.errors import ApiError, NotFoundError, RateLimitError, UnauthorizedError
from pinecone.index import Index
from pinecone.models.indexes.specs import PodSpec, ServerlessSpec

from emulators.pinecone_server import PineconeEmulator

KEY = "pc-emulator-key"


@pytest.fixture(scope="module")
def emulator() -> Iterator[PineconeEmulator]:
    with PineconeEmulator(api_key=KEY) as emu:
        yield emu


@pytest.fixture
def emu(emulator: PineconeEmulator, monkeypatch: pytest.MonkeyPatch) -> PineconeEmulator:
    emulator.reset()
    monkeypatch.setattr(pinecone_http, "_retry_sleep", lambda _seconds: None)  # the SDK's own retry backoff
    pinecone_http.get_budget_registry()._reset()  # and its process-wide retry budget per host
    return emulator


@pytest.fixture
def pc(emu: PineconeEmulator) -> Iterator[Pinecone]:
    with Pinecone(api_key=KEY, host=emu.url) as client:
        yield client


def make_index(pc: Pinecone, name: str = "idx", dim: int = 4, metric: str = "cosine", **kw: Any) -> Index:
    pc.indexes.create(name=name, dimension=dim, metric=metric, spec=ServerlessSpec(cloud="aws", region="us-east-1"),
                      **kw)
    index = pc.index(name=name)
    assert isinstance(index, Index)
    return index


def raw(host: str, method: str, path: str, body: Any = None, key: str | None = KEY) -> httpx.Response:
    headers = {"X-Pinecone-Api-Version": "2026-07"} | ({"Api-Key": key} if key is not None else {})
    return httpx.request(method, host + path, json=body, headers=headers)


def test_control_plane_lifecycle(emu: PineconeEmulator, pc: Pinecone) -> None:
    model = pc.indexes.create(name="idx", dimension=8, metric="dotproduct",
                              spec=ServerlessSpec(cloud="gcp", region="europe-west4"), tags={"team": "search"})
    assert model.status.ready and model.host == emu.host("idx") and model.host.startswith("http://127.0.0.1:")
    assert (model.dimension, model.metric) == (8, "dotproduct")
    assert (model.deployment.cloud, model.deployment.region, model.tags) == ("gcp", "europe-west4", {"team": "search"})
    assert [m.name for m in pc.indexes.list()] == ["idx"]
    with pytest.raises(ApiError) as info:
        pc.indexes.create(name="idx", dimension=8)
    assert info.value.status_code == 409
    pc.indexes.delete("idx")
    with pytest.raises(NotFoundError):
        pc.indexes.describe("idx")
    with pytest.raises(httpx.ConnectError):  # the index's data plane is gone with it
        httpx.get(model.host + "/vectors/list")


def test_only_vector_indexes_are_emulated(pc: Pinecone) -> None:
    with pytest.raises(ApiError) as info:
        pc.indexes.create(name="docs", schema={"fields": {"emb": {"type": "dense_vector", "dimension": 4,
                                                                  "metric": "cosine"}}})
    assert info.value.status_code == 400 and "_values" in info.value.message


def test_api_key_is_required_on_both_planes(emu: PineconeEmulator, pc: Pinecone) -> None:
    make_index(pc)
    with Pinecone(api_key="wrong", host=emu.url) as bad, pytest.raises(UnauthorizedError):
        bad.indexes.describe("idx")
    with pytest.raises(UnauthorizedError):
        Index(host=emu.host("idx"), api_key="wrong").describe_index_stats()
    answer = raw(emu.host("idx"), "POST", "/describe_index_stats", {}, key=None)
    assert answer.status_code == 401 and answer.json() == {"code": 16, "message": "Invalid API Key", "details": []}
    control = raw(emu.url, "GET", "/indexes", key=None)
    assert control.status_code == 401 and control.json()["error"]["code"] == "UNAUTHENTICATED"


def test_vectors_round_trip_as_float32_and_metadata_as_stored(pc: Pinecone) -> None:
    index = make_index(pc, dim=3)
    sent = [1 / 3, 0.2, -7.000000001]
    index.upsert(vectors=[{"id": "a", "values": sent, "metadata": {"n": 7, "s": "x", "b": False,
                                                                  "l": ["p", "q"], "gone": None}}])
    got = index.fetch(ids=["a", "missing"]).vectors
    assert list(got) == ["a"]
    back = got["a"].values
    assert back != sent, "stored as float32, not as the 64-bit floats sent"
    assert np.array_equal(np.asarray(back, dtype=np.float32), np.asarray(sent, dtype=np.float32))
    assert got["a"].metadata == {"n": 7.0, "s": "x", "b": False, "l": ["p", "q"]}, "numbers are floats, nulls stripped"
    assert isinstance(got["a"].metadata["n"], float)


def test_namespaces_and_default_namespace_spellings(pc: Pinecone) -> None:
    index = make_index(pc)
    index.upsert(vectors=[("a", [1, 0, 0, 0]), ("b", [0, 1, 0, 0])])
    index.upsert(vectors=[("a", [0, 0, 1, 0])], namespace="other")
    stats = index.describe_index_stats()
    assert {ns: s.vector_count for ns, s in stats.namespaces.items()} == {"__default__": 2, "other": 1}
    assert stats.total_vector_count == 3
    assert list(index.fetch(ids=["b"], namespace="__default__").vectors) == ["b"]
    assert index.fetch(ids=["a"], namespace="other").vectors["a"].values == [0.0, 0.0, 1.0, 0.0]
    index.delete(delete_all=True, namespace="other")
    index.delete(ids=["a"])
    assert {ns: s.vector_count for ns, s in index.describe_index_stats().namespaces.items()} == {"__default__": 1}


def test_list_pages_sorted_ids_with_tokens_and_prefix(emu: PineconeEmulator, pc: Pinecone) -> None:
    index = make_index(pc)
    ids = [f"doc#{i:03d}" for i in range(250)] + ["other-1"]
    index.upsert(vectors=[(i, [1.0, 0.5, 0.0, 0.0]) for i in reversed(ids)])
    pages, token = [], None
    while True:
        page = index.list_paginated(prefix="doc#", limit=100, pagination_token=token)
        pages.append([v.id for v in page.vectors])
        token = page.pagination.next if page.pagination else None
        if token is None:
            break
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [i for p in pages for i in p] == sorted(ids[:-1])
    assert [v.id for v in index.list_paginated(limit=2).vectors] == ["doc#000", "doc#001"]
    assert raw(emu.host("idx"), "GET", "/vectors/list?limit=101").status_code == 400  # the SDK checks this too
    assert raw(emu.host("idx"), "GET", "/vectors/list?paginationToken=%25%25").status_code == 400


def test_list_is_refused_on_pod_indexes(pc: Pinecone) -> None:
    pc.indexes.create(name="pods", dimension=4, spec=PodSpec(environment="us-east1-gcp", pod_type="p1.x1"))
    index = pc.index(name="pods")
    assert isinstance(index, Index)
    index.upsert(vectors=[("a", [1, 2, 3, 4])])
    assert index.describe_index_stats().total_vector_count == 1
    with pytest.raises(ApiError) as info:
        index.list_paginated(limit=10)
    assert info.value.status_code == 400 and "pod" in info.value.message


@pytest.mark.parametrize(("vector", "needle"), [
    ({"id": "x" * 513, "values": [1, 1, 1, 1]}, "maximum is 512"),
    ({"id": "naïve", "values": [1, 1, 1, 1]}, "ASCII"),
    ({"id": "a", "values": [1, 1, 1]}, "Vector dimension 3 does not match the dimension of the index 4"),
    ({"id": "a", "values": [0, 0, 0, 0]}, "at least one non-zero value"),
    ({"id": "a", "values": [1, 1, 1, 1], "metadata": {"o": {"k": 1}}}, "list of strings, got '{\"k\":1}' for field 'o'"),
    ({"id": "a", "values": [1, 1, 1, 1], "metadata": {"w": [1.5, 2]}}, "for field 'w'"),
    ({"id": "a", "values": [1, 1, 1, 1], "metadata": {"t": "x" * 41_000}}, "exceeds the limit of 40960 bytes"),
    ({"id": "a", "values": [1, 1, 1, 1], "sparseValues": {"indices": [1], "values": [1.0]}}, "sparse"),
])
def test_upsert_limits_answer_400(emu: PineconeEmulator, pc: Pinecone, vector: dict[str, Any], needle: str) -> None:
    make_index(pc)
    answer = raw(emu.host("idx"), "POST", "/vectors/upsert", {"vectors": [{"id": "fine", "values": [1, 2, 3, 4]},
                                                                          vector]})
    assert answer.status_code == 400
    assert answer.json()["code"] == 3 and needle in answer.json()["message"]
    assert raw(emu.host("idx"), "POST", "/describe_index_stats", {}).json()["totalVectorCount"] == 0, "all or nothing"


def test_request_count_and_size_limits(pc: Pinecone) -> None:
    small = make_index(pc, "small", dim=2)
    with pytest.raises(ApiError) as info:
        small.upsert(vectors=[(f"v{i}", [1.0, float(i)]) for i in range(1001)])
    assert info.value.status_code == 400 and "1001 vectors" in info.value.message
    index = make_index(pc, dim=300)
    rows = np.random.default_rng(0).standard_normal((1001, 300)).astype(np.float32).tolist()
    with pytest.raises(ApiError) as info:  # 1000 x 300 floats is ~6 MB of JSON
        index.upsert(vectors=[(f"v{i}", rows[i]) for i in range(1000)])
    assert info.value.status_code == 400
    assert "exceeds the maximum supported size of 2MB" in info.value.message
    with pytest.raises(ApiError) as info:
        index.fetch(ids=[f"v{i}" for i in range(1001)])
    assert info.value.status_code == 400
    assert index.upsert(vectors=[(f"v{i}", rows[i]) for i in range(250)]).upserted_count == 250


def test_sparse_values_in_hybrid_and_sparse_indexes(emu: PineconeEmulator, pc: Pinecone) -> None:
    pc.indexes.create(name="hybrid", schema={"fields": {"_values": {"type": "dense_vector", "dimension": 2,
                                                                    "metric": "dotproduct"},
                                                        "_sparse_values": {"type": "sparse_vector"}}})
    hybrid = pc.index(name="hybrid")
    assert isinstance(hybrid, Index)
    hybrid.upsert(vectors=[{"id": "h", "values": [1, 2], "sparse_values": {"indices": [5, 2], "values": [0.5, 1]}}])
    got = hybrid.fetch(ids=["h"]).vectors["h"].sparse_values
    assert got is not None and (got.indices, got.values) == ([5, 2], [0.5, 1.0])
    many = {"indices": list(range(1001)), "values": [1.0] * 1001}
    answer = raw(emu.host("hybrid"), "POST", "/vectors/upsert", {"vectors": [{"id": "m", "values": [1, 1],
                                                                             "sparseValues": many}]})
    assert answer.status_code == 400 and "maximum size of 1000" in answer.json()["message"]
    pc.indexes.create(name="sparse", dimension=None, vector_type="sparse")
    sparse = pc.index(name="sparse")
    assert isinstance(sparse, Index)
    sparse.upsert(vectors=[{"id": "s", "sparse_values": {"indices": [1], "values": [2.0]}}])
    assert sparse.describe_index_stats().vector_type == "sparse"


def test_query_ranks_by_the_index_metric(pc: Pinecone) -> None:
    cos, l2 = make_index(pc, "cos", dim=2), make_index(pc, "l2", dim=2, metric="euclidean")
    for index in (cos, l2):
        index.upsert(vectors=[{"id": "near", "values": [1.0, 0.1], "metadata": {"k": "n"}},
                              {"id": "far", "values": [-1.0, 0.0]}, {"id": "big", "values": [10.0, 1.0]}])
    hits = cos.query(vector=[1.0, 0.1], top_k=2, include_metadata=True).matches
    assert [h.id for h in hits] == ["near", "big"] and hits[0].metadata == {"k": "n"}
    assert [h.id for h in l2.query(vector=[1.0, 0.1], top_k=3).matches] == ["near", "far", "big"]
    assert l2.query(id="near", top_k=1).matches[0].score == 0.0, "euclidean scores are squared distances"


def test_injected_faults(emu: PineconeEmulator, pc: Pinecone) -> None:
    index = make_index(pc)
    emu.inject(429, times=4, retry_after=3, path="/vectors/upsert")
    with pytest.raises(RateLimitError) as info:  # the SDK retried three times, then gave up
        index.upsert(vectors=[("a", [1, 2, 3, 4])])
    assert info.value.retry_after == 3.0
    assert [s for _, _, p, s, _ in emu.requests if p == "/vectors/upsert"] == [429] * 4
    emu.inject(503, times=2)
    assert index.describe_index_stats().total_vector_count == 0, "two 503s are absorbed by the SDK's retries"
    answer = raw(emu.url, "GET", "/indexes")
    assert answer.status_code == 200, "faults target the data plane unless asked"
