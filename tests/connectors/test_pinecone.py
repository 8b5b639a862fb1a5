"""The Pinecone connector against the Pinecone emulator (tests/emulators/pinecone_server.py), through the real SDK.

Pinecone cannot run on the test machines, so the emulator serves Pinecone's published REST API over real sockets;
the connector talks to it with the official ``pinecone`` SDK exactly as it would to the service.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pinecone._internal.http_client as pinecone_http
import pytest
from pinecone import Pinecone
from pinecone.models.indexes.specs import PodSpec

from emulators.pinecone_server import PineconeEmulator
from vectormigrate import datagen
from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.memory import MemoryConnector
from vectormigrate.connectors.pinecone import PineconeConnector
from vectormigrate.errors import (
    AuthenticationError,
    CollectionNotFound,
    ConfigError,
    RecordError,
    SchemaMismatchError,
    TerminalError,
    TransientError,
    UnreachableError,
)
from vectormigrate.model import Batch, CollectionSchema, JSONValue, Metric, SparseSpec, SparseVector, VectorSpec
from vectormigrate.service import Endpoint, MigrationSpec, migrate
from vectormigrate.state.store import StateStore
from vectormigrate.testing.compare import cosine
from vectormigrate.testing.conformance import ConnectorConformance

KEY = "pc-test-key-0123456789"
DIM = 8


@pytest.fixture(scope="module")
def emulator() -> Iterator[PineconeEmulator]:
    with PineconeEmulator(api_key=KEY) as emu:
        yield emu


@pytest.fixture
def emu(emulator: PineconeEmulator, monkeypatch: pytest.MonkeyPatch) -> PineconeEmulator:
    emulator.reset()
    # The SDK retries 429/5xx itself and sleeps in between (honouring Retry-After): skip the sleeps in tests.
    monkeypatch.setattr(pinecone_http, "_retry_sleep", lambda _seconds: None)
    # ...and keeps a process-wide retry budget per host (127.0.0.1 for every emulator): start each test full.
    pinecone_http.get_budget_registry()._reset()
    return emulator


def connect(emu: PineconeEmulator, *, key: str | None = KEY, **options: str) -> PineconeConnector:
    return PineconeConnector(ConnectionConfig(url=emu.url, api_key=key, options=options))


@pytest.fixture
def conn(emu: PineconeEmulator) -> Iterator[PineconeConnector]:
    with connect(emu) as c:
        yield c


def pinecone_metadata(meta: dict[str, JSONValue]) -> dict[str, JSONValue]:
    """What the plan should do with lists Pinecone cannot store: lists of non-strings become a JSON string."""
    return {k: json.dumps(v) if isinstance(v, list) and not all(isinstance(x, str) for x in v) else v
            for k, v in meta.items()}


def schema(name: str = "idx", dim: int = DIM, metric: Metric = Metric.COSINE, sparse: bool = False) -> CollectionSchema:
    return CollectionSchema(name, vectors=(VectorSpec("", dim, metric),),
                            sparse_vectors=(SparseSpec("keywords"),) if sparse else ())


def vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def batch(ids: list[Any], *, dim: int = DIM, seed: int = 0, metadata: list[dict[str, Any]] | None = None,
          namespace: str | None = None) -> Batch:
    return Batch(ids=ids, vectors={"": vectors(len(ids), dim, seed)}, metadata=metadata or [], namespace=namespace)


def read_ids(conn: Connector, collection: str, batch_size: int = 7, after: Any = None) -> list[tuple[str | None, Any]]:
    return [(b.namespace, i) for b in conn.read_batches(collection, batch_size=batch_size, after=after) for i in b.ids]


class TestPineconeConformance(ConnectorConformance):
    connector_name = "pinecone"

    @pytest.fixture
    def connector(self, emu: PineconeEmulator) -> Iterator[Connector]:
        with connect(emu) as conn:
            yield conn

    @pytest.fixture
    def collection_name(self) -> str:
        return "conformance"

    def reopen(self, connector: Connector) -> Connector:
        connector.close()
        return PineconeConnector(connector.config)

    def batches(self, connector: Connector, schema: CollectionSchema, n: int, *, seed: int = 0, start: int = 0,
                metadata: datagen.MetadataMode = "rich") -> list[Batch]:
        # Pinecone stores lists of strings only: datagen's list of floats is coerced as the plan should coerce it.
        out = super().batches(connector, schema, n, seed=seed, start=start, metadata=metadata)
        for b in out:
            b.metadata = [pinecone_metadata(m) for m in b.metadata]
        return out


# --- reading ---------------------------------------------------------------------------------------------------


def test_every_namespace_is_read_default_first(conn: PineconeConnector) -> None:
    conn.create_collection(schema())
    conn.write_batch("idx", batch([f"d{i:02d}" for i in range(5)]))
    conn.write_batch("idx", batch([f"b{i:03d}" for i in range(130)], namespace="beta"))
    conn.write_batch("idx", batch([f"a{i:02d}" for i in range(12)], namespace="alpha"))
    desc = conn.describe("idx")
    assert desc.namespaces == ("alpha", "beta")
    assert desc.count == 147
    assert desc.extras["namespace_counts"] == {"__default__": 5, "alpha": 12, "beta": 130}
    got = read_ids(conn, "idx", batch_size=40)
    assert got == ([(None, f"d{i:02d}") for i in range(5)] + [("alpha", f"a{i:02d}") for i in range(12)]
                   + [("beta", f"b{i:03d}") for i in range(130)])
    assert conn.count("idx", namespace="beta") == 130
    assert [r.id for r in conn.fetch("idx", ["a03", "d01", "b129", "nope"])] == ["a03", "d01", "b129"]
    assert conn.fetch("idx", ["a03"], namespace="beta") == []


def test_namespace_option_reads_one_namespace(emu: PineconeEmulator) -> None:
    with connect(emu) as writer:
        writer.create_collection(schema())
        writer.write_batch("idx", batch(["x1", "x2"]))
        writer.write_batch("idx", batch(["y1"], namespace="other"))
    with connect(emu, namespace="__default__") as only_default, connect(emu, namespace="other") as only_other:
        assert read_ids(only_default, "idx") == [(None, "x1"), (None, "x2")]
        assert read_ids(only_other, "idx") == [("other", "y1")]
        assert only_other.count("idx") == 1
        assert only_other.describe("idx").namespaces == ("other",)


def test_resume_from_cursor_in_a_new_connector(emu: PineconeEmulator) -> None:
    """Cursors mid-page, at a page end and at a namespace end all resume exactly, in a new connector instance."""
    with connect(emu) as writer:
        writer.create_collection(schema())
        writer.write_batch("idx", batch([f"r{i:03d}" for i in range(250)]))
        writer.write_batch("idx", batch([f"s{i:03d}" for i in range(30)], namespace="s"))
        full = list(writer.read_batches("idx", batch_size=50))
    order = [(b.namespace, i) for b in full for i in b.ids]
    assert len(order) == 280 and len(set(order)) == 280
    for k, b in enumerate(full):
        cursor = json.loads(json.dumps(b.cursor))
        with connect(emu) as reader:  # a new process: no state but the cursor
            rest = read_ids(reader, "idx", batch_size=50, after=cursor)
        assert rest == [(x.namespace, i) for x in full[k + 1:] for i in x.ids], f"resuming after batch {k}"


def test_resume_survives_writes_before_the_cursor(emu: PineconeEmulator) -> None:
    with connect(emu) as c:
        c.create_collection(schema())
        c.write_batch("idx", batch([f"k{i:03d}" for i in range(0, 200, 2)]))
        first = next(iter(c.read_batches("idx", batch_size=30)))
        # New ids sort before the cursor's position (inside its list page): the scan must not repeat or skip.
        c.write_batch("idx", batch(["k001", "k003", "k005"]))
        rest = [i for _, i in read_ids(c, "idx", batch_size=30, after=first.cursor)]
    assert rest == [f"k{i:03d}" for i in range(60, 200, 2)]


def test_sparse_vectors_and_metadata_round_trip(conn: PineconeConnector) -> None:
    conn.create_collection(schema(metric=Metric.DOT, sparse=True))
    sv = [SparseVector.of([3, 1, 70_000], [0.5, 0.25, 2.0]), None, SparseVector.of([9], [1.5])]
    meta: list[dict[str, Any]] = [{"title": "Café ☕", "n": 3, "ok": True, "tags": ["a", "日本"]}, {}, {"score": 0.5}]
    src = Batch(ids=["a", "b", "c"], vectors={"": vectors(3)}, sparse={"keywords": sv}, metadata=meta)
    conn.write_batch("idx", src)
    desc = conn.describe("idx")
    assert [s.name for s in desc.sparse_vectors] == ["keywords"], "the sparse name survives in an index tag"
    assert (desc.vectors[0].dim, desc.vectors[0].metric) == (DIM, Metric.DOT)
    (got,) = list(conn.read_batches("idx", batch_size=10))
    assert got.sparse["keywords"] == sv
    assert np.array_equal(got.vectors[""], src.vectors[""]), "float32 values come back bit for bit"
    assert got.metadata[0] == {"title": "Café ☕", "n": 3.0, "ok": True, "tags": ["a", "日本"]}
    assert isinstance(got.metadata[0]["n"], float), "Pinecone stores numbers as 64-bit floats"
    fields = {f.name: f for f in desc.fields}
    assert (fields["tags"].type, fields["tags"].element_type, fields["n"].type) == ("list", "string", "float")
    assert fields["n"].nullable and not fields["n"].declared


def test_sparse_vectors_need_a_hybrid_index(conn: PineconeConnector) -> None:
    conn.create_collection(schema())
    src = Batch(ids=["a"], vectors={"": vectors(1)}, sparse={"s": [SparseVector.of([1], [1.0])]})
    with pytest.raises(SchemaMismatchError, match="no sparse field"):
        conn.write_batch("idx", src)


def test_pod_index_cannot_be_exported_and_says_what_to_do(emu: PineconeEmulator, conn: PineconeConnector) -> None:
    Pinecone(api_key=KEY, host=emu.url).indexes.create(name="pods", dimension=DIM,
                                                       spec=PodSpec(environment="us-east1-gcp"))
    conn.write_batch("pods", batch(["a", "b"]))  # writing into a pod index works
    desc = conn.describe("pods")
    assert desc.count == 2 and desc.extras["deployment_type"] == "pod"
    with pytest.raises(TerminalError) as info:
        list(conn.read_batches("pods", batch_size=10))
    assert "pod-based" in info.value.message
    assert "serverless" in (info.value.hint or "") and "backup" in (info.value.hint or "")
    assert not any(path == "/vectors/list" for _, _, path, _, _ in emu.requests), "refused before calling list"


# --- writing ---------------------------------------------------------------------------------------------------


def test_big_batch_is_split_under_the_request_limit(emu: PineconeEmulator, conn: PineconeConnector) -> None:
    """1,000 records of 1,536 dims and ~6 KB of metadata are ~38 MB of JSON: split, and never refused for size."""
    conn.create_collection(schema(dim=1536))
    n = 1000
    meta = [{"text": f"{i} " + "lorem ipsum " * 500, "i": i} for i in range(n)]
    conn.write_batch("idx", batch([f"big-{i:04d}" for i in range(n)], dim=1536, metadata=meta))
    upserts = [(status, size) for plane, _, path, status, size in emu.requests if path == "/vectors/upsert"]
    assert all(status == 200 for status, _ in upserts), "the emulator refused a request"
    assert max(size for _, size in upserts) <= 2_000_000
    assert len(upserts) >= 19, f"{len(upserts)} requests for ~38 MB"
    assert sum(size for _, size in upserts) / len(upserts) > 1_500_000, "requests are packed close to the limit"
    assert conn.count("idx") == n
    (rec,) = conn.fetch("idx", ["big-0777"])
    assert rec.metadata == meta[777]


def test_bad_records_are_named_before_sending(conn: PineconeConnector, emu: PineconeEmulator) -> None:
    conn.create_collection(schema())
    cases: list[tuple[Any, dict[str, Any], str]] = [
        ("naïve-id", {}, "id"), (7, {}, "id"), ("x" * 513, {}, "id"),
        ("ok", {"nested": {"a": 1}}, "metadata.nested"), ("ok", {"weights": [0.5, 1.5]}, "metadata.weights"),
        ("ok", {"big": "x" * 41_000}, "metadata"),
    ]
    for rid, meta, field in cases:
        with pytest.raises(RecordError) as info:
            conn.write_batch("idx", batch(["fine-1", rid, "fine-2"], metadata=[{}, meta, {}]))
        assert info.value.fields["record_id"] == rid
        assert info.value.fields["field"] == field
    assert not [path for _, _, path, _, _ in emu.requests if path == "/vectors/upsert"], (
        "nothing is sent for a batch with a record Pinecone would refuse")
    nan = batch(["v1", "v2"])
    nan.vectors[""][1, 3] = np.nan
    with pytest.raises(RecordError) as info:
        conn.write_batch("idx", nan)
    assert info.value.fields["record_id"] == "v2"
    assert conn.count("idx") == 0


def test_too_many_sparse_values_is_a_record_error(conn: PineconeConnector) -> None:
    conn.create_collection(schema(sparse=True))
    col: list[SparseVector | None] = [None] * 4
    col[2] = SparseVector.of(list(range(1001)), np.ones(1001))
    with pytest.raises(RecordError) as info:
        conn.write_batch("idx", Batch(ids=["a", "b", "c", "d"], vectors={"": vectors(4)}, sparse={"keywords": col}))
    assert (info.value.fields["record_id"], info.value.fields["field"]) == ("c", "sparse vector")


def test_records_the_server_refuses_are_found_by_bisecting(conn: PineconeConnector, emu: PineconeEmulator) -> None:
    conn.create_collection(schema(sparse=True))
    col: list[SparseVector | None] = [None] * 8
    col[5] = SparseVector.of([4, 4], [1.0, 2.0])  # a repeated index: only the server checks that
    src = Batch(ids=[f"r{i}" for i in range(8)], vectors={"": vectors(8)}, sparse={"keywords": col})
    with pytest.raises(RecordError) as info:
        conn.write_batch("idx", src)
    assert (info.value.fields["record_id"], info.value.fields["field"]) == ("r5", "sparse vector")
    refused = [status for _, _, path, status, _ in emu.requests if path == "/vectors/upsert" and status == 400]
    assert len(refused) == 4, "8 -> 4 -> 2 -> 1 records: four refused requests name the record"


def test_dimension_mismatch_is_a_schema_error(conn: PineconeConnector) -> None:
    conn.create_collection(schema())
    with pytest.raises(SchemaMismatchError) as info:
        conn.write_batch("idx", batch(["a"], dim=DIM + 1))
    assert str(DIM) in info.value.message and str(DIM + 1) in info.value.message


def test_upsert_overwrites_and_delete_by_namespace(conn: PineconeConnector) -> None:
    conn.create_collection(schema())
    conn.write_batch("idx", batch(["a", "b"], metadata=[{"v": 1}, {"v": 1}]))
    conn.write_batch("idx", batch(["a", "b"], namespace="n2"))
    conn.write_batch("idx", batch(["a"], seed=5, metadata=[{"v": 2}]))
    assert conn.count("idx") == 4
    assert [r.metadata for r in conn.fetch("idx", ["a"], namespace=None)] == [{"v": 2.0}]
    conn.delete("idx", ["a"], namespace="n2")
    assert (conn.count("idx", namespace=None), conn.count("idx", namespace="n2")) == (3, 1)
    conn.delete("idx", ["b"])
    assert conn.count("idx") == 1


# --- errors ----------------------------------------------------------------------------------------------------


def test_429_is_transient_with_retry_after(emu: PineconeEmulator, conn: PineconeConnector) -> None:
    conn.create_collection(schema())
    # The SDK retries 3 times by itself: the fourth 429 reaches the connector.
    emu.inject(429, times=4, retry_after=7, path="/vectors/upsert")
    with pytest.raises(TransientError) as info:
        conn.write_batch("idx", batch(["a"]))
    assert info.value.retry_after == 7.0
    assert "429" in info.value.message
    conn.write_batch("idx", batch(["a"]))  # the fault is spent: the runner's retry goes through
    assert conn.count("idx") == 1


def test_503_is_transient_and_one_retry_is_absorbed_by_the_sdk(emu: PineconeEmulator, conn: PineconeConnector) -> None:
    conn.create_collection(schema())
    emu.inject(503, times=1)
    conn.write_batch("idx", batch(["a"]))
    emu.inject(503, times=4, path="/vectors/fetch")
    with pytest.raises(TransientError):
        conn.fetch("idx", ["a"], namespace="")


def test_wrong_key_is_an_authentication_error_without_the_key(emu: PineconeEmulator) -> None:
    with connect(emu) as good:
        good.create_collection(schema())
    wrong = "pc-wrong-key-abcdef"
    with connect(emu, key=wrong) as bad, pytest.raises(AuthenticationError) as info:
        bad.describe("idx")
    assert wrong not in str(info.value) and wrong not in json.dumps(info.value.attrs())


def test_missing_key_and_env_fallback(emu: PineconeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    with connect(emu, key=None) as c, pytest.raises(ConfigError, match="API key"):
        c.exists("idx")
    monkeypatch.setenv("PINECONE_API_KEY", KEY)
    with connect(emu, key=None) as c:
        assert c.exists("idx") is False


def test_missing_index_lists_existing_ones(conn: PineconeConnector) -> None:
    conn.create_collection(schema("present"))
    with pytest.raises(CollectionNotFound) as info:
        conn.count("absent")
    assert "absent" in info.value.message and "present" in (info.value.hint or "")
    assert conn.exists("Not_Valid") is False
    with pytest.raises(ConfigError, match="index name"):
        conn.create_collection(schema("Not_Valid"))


def test_unreachable_control_plane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pinecone_http, "_retry_sleep", lambda _seconds: None)
    with PineconeConnector(ConnectionConfig(url="http://127.0.0.1:9", api_key=KEY)) as c, \
            pytest.raises(UnreachableError) as info:
        c.describe("idx")
    assert "127.0.0.1:9" in info.value.message


# --- end to end ------------------------------------------------------------------------------------------------


def test_migration_memory_to_pinecone_to_memory(emu: PineconeEmulator, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """Nested metadata arrives flattened with dotted keys, nulls are dropped, namespaces map natively."""
    monkeypatch.setenv("VECTORMIGRATE_CONNECTORS", "pinecone=vectormigrate.connectors.pinecone:PineconeConnector")
    src_schema = CollectionSchema("docs", vectors=(VectorSpec("", DIM, Metric.COSINE),), namespaces=("t1", "t2"))
    metas: list[dict[str, Any]] = [
        {"title": f"doc {i}", "n": i, "author": {"name": "Zoë", "address": {"city": "Zürich"}},
         "note": None if i % 2 else "kept", "tags": ["x", "y"]}
        for i in range(40)
    ]
    with MemoryConnector(ConnectionConfig(url="m-src")) as mem:
        mem.create_collection(src_schema)
        mem.write_batch("docs", batch([f"doc-{i:02d}" for i in range(20)], metadata=metas[:20], namespace="t1"))
        mem.write_batch("docs", batch([f"doc-{i:02d}" for i in range(20, 40)], seed=1, metadata=metas[20:],
                                      namespace="t2"))
        written = {r.id: r for r in mem.fetch("docs", [f"doc-{i:02d}" for i in range(40)])}
    store = StateStore(tmp_path / "state.db")
    there = migrate(MigrationSpec("to-pinecone", Endpoint("memory", "docs", url="m-src"),
                                  Endpoint("pinecone", "docs", url=emu.url, api_key=KEY), batch_size=16), store)
    assert there.result.status == "completed"
    assert there.plan.flatten_nested and there.plan.drop_nulls and there.plan.namespace_strategy == "native"
    with connect(emu) as pc:
        assert pc.count("docs", namespace="t1") == 20 and pc.count("docs", namespace="t2") == 20
        (rec,) = pc.fetch("docs", ["doc-01"], namespace="t1")
        assert rec.metadata == {"title": "doc 1", "n": 1.0, "author.name": "Zoë", "author.address.city": "Zürich",
                                "tags": ["x", "y"]}
        (rec,) = pc.fetch("docs", ["doc-22"], namespace="t2")
        assert rec.metadata["note"] == "kept"
    back = migrate(MigrationSpec("from-pinecone", Endpoint("pinecone", "docs", url=emu.url, api_key=KEY),
                                 Endpoint("memory", "docs", url="m-back"), batch_size=16), store)
    assert back.result.status == "completed"
    with MemoryConnector(ConnectionConfig(url="m-back")) as mem:
        assert mem.describe("docs").namespaces == ("t1", "t2")
        for rid, orig in written.items():
            (rec,) = mem.fetch("docs", [rid])
            assert rec.namespace == orig.namespace
            assert cosine(rec.vectors[""], orig.vectors[""]) > 0.99999
            assert rec.metadata["author.address.city"] == "Zürich" and "author" not in rec.metadata
            assert ("note" in rec.metadata) == (orig.metadata["note"] is not None)
