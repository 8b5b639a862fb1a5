"""The Qdrant connector against qdrant-client's local mode (``:memory:`` and a folder).

No Qdrant server can be installed on the test machines, so server-only paths (auth, 429/5xx) are covered by the
error translation being shared with local mode; the unreachable-server case runs against a closed port.
"""

from __future__ import annotations

import gc
import json
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.qdrant import QdrantConnector
from vectormigrate.connectors.registry import get_class
from vectormigrate.errors import (
    AuthenticationError,
    CheckpointError,
    CollectionNotFound,
    ConfigError,
    RecordError,
    SchemaMismatchError,
    TransientError,
    UnreachableError,
)
from vectormigrate.model import (
    Batch,
    CollectionSchema,
    Metric,
    SparseSpec,
    SparseVector,
    VectorRecord,
    VectorSpec,
)
from vectormigrate.testing.compare import cosine
from vectormigrate.testing.conformance import ConnectorConformance

pytestmark = pytest.mark.filterwarnings("ignore:Local mode:UserWarning")

DIM = 8


def connect(url: str | Path, **options: str) -> QdrantConnector:
    return QdrantConnector(ConnectionConfig(url=str(url), options=options))


@pytest.fixture
def mem() -> Iterator[QdrantConnector]:
    with connect(":memory:") as conn:
        yield conn


def unnamed_schema(name: str = "c", metric: Metric = Metric.COSINE, dim: int = DIM) -> CollectionSchema:
    return CollectionSchema(name, vectors=(VectorSpec("", dim, metric),))


def vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def write(conn: Connector, collection: str, ids: list[Any], metadata: list[dict[str, Any]] | None = None,
          seed: int = 0, **kw: Any) -> Batch:
    batch = Batch(ids=ids, vectors={"": vectors(len(ids), seed=seed)}, metadata=metadata or [], **kw)
    conn.write_batch(collection, batch)
    return batch


def read_all(conn: Connector, collection: str, batch_size: int = 10, after: Any = None) -> list[Batch]:
    return list(conn.read_batches(collection, batch_size=batch_size, after=after))


def ids_of(batches: list[Batch]) -> list[Any]:
    return [i for b in batches for i in b.ids]


# --- ids ---------------------------------------------------------------------------------------------------


def test_int_ids_round_trip_as_ints(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema())
    ids = [0, 7, 2**63, 2**64 - 1]
    write(mem, "c", ids)
    got = ids_of(read_all(mem, "c"))
    assert got == ids
    assert all(type(i) is int for i in got)
    assert mem.describe("c").id_kind == "int"


def test_uuid_ids_come_back_canonical(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema())
    raw = [uuid.uuid4() for _ in range(3)]
    # upper case, hex without hyphens and urn forms are all the same point to Qdrant
    write(mem, "c", [str(raw[0]).upper(), raw[1].hex, raw[2].urn])
    assert sorted(ids_of(read_all(mem, "c"))) == sorted(str(u) for u in raw)
    assert mem.describe("c").id_kind == "uuid"
    assert [r.id for r in mem.fetch("c", [str(raw[1]).upper()])] == [str(raw[1])]


def test_mixed_ids_are_described_as_str(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema())
    u = str(uuid.uuid4())
    write(mem, "c", [5, u])
    desc = mem.describe("c")
    assert desc.id_kind == "str"
    assert desc.extras["id_kinds"] == ["int", "uuid"]
    assert ids_of(read_all(mem, "c")) == [5, u], "Qdrant scrolls integer ids before UUIDs"


@pytest.mark.parametrize("bad", [-1, 2**64, "doc-1", True])
def test_ids_qdrant_cannot_hold_are_record_errors(mem: QdrantConnector, bad: Any) -> None:
    mem.create_collection(unnamed_schema())
    with pytest.raises(RecordError) as info:
        write(mem, "c", [1, bad, 3])
    assert info.value.fields["record_id"] == bad
    assert info.value.fields["field"] == "id"
    assert mem.count("c") == 0, "nothing of a batch with an impossible id is sent"


def test_nan_vector_is_a_record_error_naming_the_record(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema())
    batch = Batch(ids=[1, 2, 3], vectors={"": vectors(3)})
    batch.vectors[""][1, 4] = np.nan
    with pytest.raises(RecordError) as info:
        mem.write_batch("c", batch)
    assert info.value.fields["record_id"] == 2
    assert info.value.fields["field"] == "vector:"


def test_refused_record_is_found_by_bisecting(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema())
    metadata: list[dict[str, Any]] = [{"i": i} for i in range(8)]
    metadata[5] = {"i": object()}  # cannot be serialised: Qdrant refuses the request
    with pytest.raises(RecordError) as info:
        write(mem, "c", list(range(8)), metadata)
    assert info.value.fields["record_id"] == 5
    assert mem.fetch("c", [5]) == []
    assert {r.id for r in mem.fetch("c", [0, 1, 2, 3, 4])} == {0, 1, 2, 3, 4}


# --- vectors -------------------------------------------------------------------------------------------------


def test_unnamed_vector_collection(tmp_path: Path) -> None:
    with connect(tmp_path / "q") as conn:
        conn.create_collection(unnamed_schema(metric=Metric.DOT))
        batch = write(conn, "c", [1, 2, 3])
        (spec,) = conn.describe("c").vectors
        assert (spec.name, spec.dim, spec.metric) == ("", DIM, Metric.DOT)
        got = read_all(conn, "c")
        np.testing.assert_array_equal(got[0].vectors[""], batch.vectors[""])  # dot: stored as given
    with closing(QdrantClient(path=str(tmp_path / "q"))) as raw:
        params = raw.get_collection("c").config.params
        assert isinstance(params.vectors, models.VectorParams), "a single '' vector is Qdrant's unnamed vector"


def test_named_vectors_with_metrics(mem: QdrantConnector) -> None:
    schema = CollectionSchema("c", vectors=(VectorSpec("text", 6, Metric.DOT), VectorSpec("image", 3, Metric.EUCLID)))
    mem.create_collection(schema)
    batch = Batch(ids=[1, 2], vectors={"text": vectors(2, 6), "image": vectors(2, 3, seed=1)})
    mem.write_batch("c", batch)
    desc = mem.describe("c")
    assert {(v.name, v.dim, v.metric) for v in desc.vectors} == {("text", 6, Metric.DOT),
                                                                  ("image", 3, Metric.EUCLID)}
    (got,) = read_all(mem, "c")
    for name in ("text", "image"):
        np.testing.assert_array_equal(got.vectors[name], batch.vectors[name])
        assert got.vectors[name].dtype == np.float32


def test_sparse_vectors_and_missing_ones(mem: QdrantConnector) -> None:
    schema = CollectionSchema("c", vectors=(VectorSpec("", 4, Metric.DOT),), sparse_vectors=(SparseSpec("kw"),))
    mem.create_collection(schema)
    sv = SparseVector.of([900, 3, 17], [0.5, -1.25, 2.0])
    batch = Batch(ids=[1, 2, 3], vectors={"": vectors(3, 4)}, sparse={"kw": [sv, None, SparseVector.of([1], [1.0])]})
    mem.write_batch("c", batch)
    assert [s.name for s in mem.describe("c").sparse_vectors] == ["kw"]
    (got,) = read_all(mem, "c")
    assert got.sparse["kw"][0] == sv
    assert got.sparse["kw"][0].indices.tolist() == [3, 17, 900]
    assert got.sparse["kw"][1] is None
    assert mem.fetch("c", [2])[0].sparse == {}
    assert mem.fetch("c", [3])[0].sparse["kw"] == SparseVector.of([1], [1.0])


def test_sparse_only_collection(mem: QdrantConnector) -> None:
    mem.create_collection(CollectionSchema("c", sparse_vectors=(SparseSpec("s"),)))
    mem.write_batch("c", Batch(ids=[1, 2], sparse={"s": [SparseVector.of([1], [2.0]), SparseVector.of([4], [1.0])]}))
    (got,) = read_all(mem, "c")
    assert got.vectors == {}
    assert got.sparse["s"][1] == SparseVector.of([4], [1.0])


def test_points_missing_a_named_vector_read_as_separate_batches(mem: QdrantConnector) -> None:
    schema = CollectionSchema("c", vectors=(VectorSpec("a", 4, Metric.DOT), VectorSpec("b", 2, Metric.DOT)))
    mem.create_collection(schema)
    mem.write_batch("c", Batch(ids=[1, 2, 5, 6], vectors={"a": vectors(4, 4), "b": vectors(4, 2)}))
    mem.write_batch("c", Batch(ids=[3, 4], vectors={"a": vectors(2, 4)}))  # no "b"
    batches = read_all(mem, "c", batch_size=10)
    assert [(b.ids, sorted(b.vectors)) for b in batches] == [([1, 2], ["a", "b"]), ([3, 4], ["a"]),
                                                             ([5, 6], ["a", "b"])]
    # each cursor resumes exactly after its batch, although the three came from one scroll page
    for i, b in enumerate(batches):
        assert ids_of(read_all(mem, "c", after=b.cursor)) == ids_of(batches[i + 1:])


def test_cosine_vectors_are_normalised_but_point_the_same_way(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema(metric=Metric.COSINE))
    batch = write(mem, "c", list(range(20)))
    (got,) = read_all(mem, "c", batch_size=50)
    norms = np.linalg.norm(got.vectors[""], axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert min(cosine(a, b) for a, b in zip(batch.vectors[""], got.vectors[""], strict=True)) >= 0.9999
    assert mem.capabilities.normalizes_cosine


def test_manhattan_is_refused_clearly(tmp_path: Path) -> None:
    with closing(QdrantClient(path=str(tmp_path / "q"))) as raw:
        raw.create_collection("m", vectors_config=models.VectorParams(size=4, distance=models.Distance.MANHATTAN))
    with connect(tmp_path / "q") as conn, pytest.raises(SchemaMismatchError) as info:
        conn.describe("m")
    assert "Manhattan" in str(info.value) and "'m'" in str(info.value)


# --- payload ---------------------------------------------------------------------------------------------------


PAYLOADS: list[dict[str, Any]] = [
    {"nested": {"a": {"b": [1, 2, {"c": None}]}, "empty": {}}, "list": [], "null": None},
    {"ключ": "значение", "日本語": "東京 🗼", "emoji 🚀": ["é", "👍🏽"], "quote\"key": "line\nbreak"},
    {"int": -(2**53), "float": 1.5e-300, "bool": False, "mixed": [1, "a", None, True, 2.5]},
    {},
]


def test_payloads_are_preserved_exactly(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema())
    write(mem, "c", [1, 2, 3, 4], [dict(p) for p in PAYLOADS])
    assert [b.metadata for b in read_all(mem, "c")] == [PAYLOADS]
    assert [r.metadata for r in mem.fetch("c", [1, 2, 3, 4])] == PAYLOADS


def test_describe_infers_fields_from_a_sample(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema())
    write(mem, "c", [1, 2, 3], [{"title": "a", "n": 1, "tags": ["x"]}, {"title": "b", "n": 2.5},
                                {"title": None, "meta": {"k": 1}}])
    fields = {f.name: f for f in mem.describe("c").fields}
    assert {n: f.type for n, f in fields.items()} == {"title": "string", "n": "float", "tags": "list",
                                                       "meta": "object"}
    assert fields["tags"].element_type == "string"
    assert fields["title"].nullable and fields["n"].nullable
    assert not any(f.declared for f in fields.values())


# --- resume -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["int", "uuid"])
def test_resume_from_a_cursor_in_a_new_connector(tmp_path: Path, kind: str) -> None:
    ids: list[Any] = list(range(1, 41)) if kind == "int" else [str(uuid.uuid4()) for _ in range(40)]
    with connect(tmp_path / "q") as first:
        first.create_collection(unnamed_schema())
        write(first, "c", ids)
        batches = read_all(first, "c", batch_size=7)
    expected = sorted(ids)  # Qdrant's scroll order: by id (UUIDs by their hex text)
    assert ids_of(batches) == expected
    assert [len(b) for b in batches] == [7, 7, 7, 7, 7, 5]
    cursor = json.loads(json.dumps(batches[2].cursor))  # as the checkpoint stores it
    assert cursor == {"offset": expected[21]}
    with connect(tmp_path / "q") as second:  # the first closed: its folder lock is released
        assert ids_of(read_all(second, "c", batch_size=7, after=cursor)) == expected[21:]
        assert read_all(second, "c", after=batches[-1].cursor) == []


def test_close_releases_the_local_folder(tmp_path: Path) -> None:
    conn = connect(tmp_path / "q")
    conn.create_collection(unnamed_schema())
    conn.close()
    conn.close()  # idempotent
    with closing(QdrantClient(path=str(tmp_path / "q"))) as raw:  # would raise if the lock were still held
        assert raw.collection_exists("c")


def test_folder_locked_by_another_client_is_a_clear_error(tmp_path: Path) -> None:
    with closing(QdrantClient(path=str(tmp_path / "q"))), connect(tmp_path / "q") as conn:
        with pytest.raises(UnreachableError) as info:
            conn.exists("c")
        assert "in use by another" in info.value.message
        assert info.value.hint is not None and "close the other" in info.value.hint
    gc.collect()  # qdrant-client's half-built client (the refused one) closes now, not at interpreter exit


def test_two_connectors_share_one_folder(tmp_path: Path) -> None:
    """Source and target in one folder (collection a -> b) share the client instead of fighting over the lock."""
    with connect(tmp_path / "q") as source, connect(tmp_path / "q") as target:
        source.create_collection(unnamed_schema("a"))
        write(source, "a", [1, 2, 3], [{"k": i} for i in range(3)])
        target.prepare(source.describe("a").with_name("b"))
        for batch in source.read_batches("a", batch_size=2):
            target.write_batch("b", batch)
        assert target.count("b") == 3
        source.close()
        assert target.fetch("b", [2])[0].metadata == {"k": 1}, "closing one connector keeps the shared client open"


def test_local_folder_is_usable_from_another_thread(tmp_path: Path) -> None:
    """The runner reads in one thread and writes in others; local mode's SQLite must not object."""
    with connect(tmp_path / "q") as conn:
        conn.create_collection(unnamed_schema())
        errors: list[BaseException] = []

        def work(start: int) -> None:
            try:
                write(conn, "c", list(range(start, start + 10)))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in (0, 10, 20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert conn.count("c") == 30


# --- namespaces ------------------------------------------------------------------------------------------------


@pytest.fixture
def tenants() -> Iterator[QdrantConnector]:
    with connect(":memory:", namespace_field="tenant") as conn:
        conn.create_collection(unnamed_schema())
        tenant_of = ["b", "a", None, "a", "b", "c", "a", 7, "b", "a"]  # 7: not a string namespace
        metadata: list[dict[str, Any]] = [{"i": i} | ({} if t is None else {"tenant": t})
                                          for i, t in enumerate(tenant_of)]
        write(conn, "c", list(range(10)), metadata)
        yield conn


def test_namespace_field_groups_batches(tenants: QdrantConnector) -> None:
    batches = read_all(tenants, "c", batch_size=3)
    assert [(b.namespace, b.ids) for b in batches] == [
        (None, [2, 7]), ("a", [1, 3, 6]), ("a", [9]), ("b", [0, 4, 8]), ("c", [5])]
    for b in batches:
        assert all(m.get("tenant") == b.namespace for m in b.metadata if b.namespace is not None)
        assert json.loads(json.dumps(b.cursor)) == b.cursor
    assert tenants.describe("c").namespaces == ("a", "b", "c")
    assert tenants.capabilities.namespace_model == "none"


def test_namespace_field_resume_from_every_batch(tenants: QdrantConnector) -> None:
    batches = read_all(tenants, "c", batch_size=3)
    for i, b in enumerate(batches):
        rest = read_all(tenants, "c", batch_size=3, after=json.loads(json.dumps(b.cursor)))
        assert [(r.namespace, r.ids) for r in rest] == [(r.namespace, r.ids) for r in batches[i + 1:]]


def test_namespace_field_count_fetch_delete(tenants: QdrantConnector) -> None:
    assert tenants.count("c") == 10
    assert tenants.count("c", "a") == 4
    assert tenants.count("c", "nope") == 0
    assert [r.id for r in tenants.fetch("c", [1, 0, 3], namespace="a")] == [1, 3]
    assert tenants.fetch("c", [0])[0].namespace == "b"
    tenants.delete("c", [0, 1, 3], namespace="a")  # 0 is in "b": kept
    assert tenants.count("c", "a") == 2
    assert tenants.count("c", "b") == 3


def test_namespace_list_values_are_read_once(mem: QdrantConnector) -> None:
    """A list matches a filter on any of its elements: such points belong to no namespace, exactly once."""
    conn = connect(":memory:", namespace_field="t")
    with conn:
        conn.create_collection(unnamed_schema())
        write(conn, "c", [1, 2, 3], [{"t": "a"}, {"t": ["a", "b"]}, {"t": "b"}])
        got = [(b.namespace, b.ids) for b in read_all(conn, "c")]
        assert got == [(None, [2]), ("a", [1]), ("b", [3])]


def test_cursor_from_another_namespace_setting_is_refused(tenants: QdrantConnector) -> None:
    with connect(":memory:") as plain:
        plain.create_collection(unnamed_schema())
        write(plain, "c", [1, 2, 3])
        plain_cursor = read_all(plain, "c", batch_size=1)[0].cursor
        ns_cursor = read_all(tenants, "c", batch_size=1)[0].cursor
        with pytest.raises(CheckpointError):
            read_all(tenants, "c", after=plain_cursor)
        with pytest.raises(CheckpointError):
            read_all(plain, "c", after=ns_cursor)


def test_namespace_without_namespace_field_is_a_config_error(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema())
    with pytest.raises(ConfigError, match="namespace_field"):
        mem.count("c", "a")
    with pytest.raises(ConfigError, match="namespace_field"):
        write(mem, "c", [1], namespace="a")


def test_batch_namespace_is_written_into_the_namespace_field() -> None:
    with connect(":memory:", namespace_field="tenant") as conn:
        conn.create_collection(unnamed_schema())
        write(conn, "c", [1, 2], [{"x": 1}, {"x": 2}], namespace="acme")
        assert [r.metadata for r in conn.fetch("c", [1, 2])] == [{"x": 1, "tenant": "acme"},
                                                                {"x": 2, "tenant": "acme"}]
        assert conn.count("c", "acme") == 2


# --- fetch, delete, count, search ------------------------------------------------------------------------------


def test_fetch_delete_count(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema(metric=Metric.DOT))
    batch = write(mem, "c", list(range(1, 11)), [{"i": i} for i in range(1, 11)])
    assert mem.count("c") == 10
    got = mem.fetch("c", [9, 3, 12345, "not-a-uuid", -5, 3])
    assert [r.id for r in got] == [9, 3], "in the order asked, missing and impossible ids left out, no repeats"
    assert isinstance(got[0], VectorRecord)
    np.testing.assert_array_equal(got[0].vectors[""], batch.vectors[""][8])
    assert got[1].metadata == {"i": 3}
    mem.delete("c", [1, 2, 3, 999, "junk"])
    assert mem.count("c") == 7
    assert mem.fetch("c", [1, 2, 3]) == []
    assert mem.fetch("c", []) == []


def test_search_scores_are_best_first(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema(metric=Metric.EUCLID))
    batch = write(mem, "c", list(range(30)))
    hits = mem.search("c", "", batch.vectors[""][4].tolist(), 5)
    assert hits[0][0] == 4
    assert hits[0][1] == pytest.approx(0.0, abs=1e-5)
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True), "Euclid distances are negated: higher is better"


# --- errors and configuration ----------------------------------------------------------------------------------


def test_missing_collection_names_it_and_lists_the_others(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema("present"))
    for call in (lambda: mem.describe("absent"), lambda: mem.count("absent"),
                 lambda: read_all(mem, "absent"), lambda: write(mem, "absent", [1])):
        with pytest.raises(CollectionNotFound) as info:
            call()
        assert "'absent'" in info.value.message
        assert info.value.hint is not None and "present" in info.value.hint
    assert mem.exists("absent") is False
    mem.drop_collection("absent")  # dropping what is not there is fine


@pytest.mark.parametrize("options", [{}, {"prefer_grpc": "true", "grpc_port": "1"}])
def test_unreachable_server_fails_fast(options: dict[str, str]) -> None:
    conn = connect("http://127.0.0.1:1", timeout="2", **options)
    started = time.monotonic()
    with conn, pytest.raises(UnreachableError) as info:
        conn.exists("c")
    assert time.monotonic() - started < 10
    assert info.value.hint is not None and "running" in info.value.hint


def test_api_key_never_reaches_messages() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Api key is used with an insecure connection"
        conn = QdrantConnector(ConnectionConfig(url="http://127.0.0.1:1", api_key="sekrit-key-123"))
        with conn, pytest.raises(UnreachableError) as info:
            conn.describe("c")
    assert "sekrit-key-123" not in str(info.value) + json.dumps(info.value.attrs(), default=str)


class _StubServer:
    """An HTTP server that answers every request with one canned response: server-side errors Qdrant would send."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
                 delay: float = 0.0) -> None:
        outer = self
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                time.sleep(delay)
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub() -> Iterator[Any]:
    servers: list[_StubServer] = []

    def start(status: int, error: str, headers: dict[str, str] | None = None, delay: float = 0.0) -> _StubServer:
        servers.append(_StubServer(status, {"status": {"error": error}, "time": 0.0}, headers, delay))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_server_401_is_an_authentication_error(stub: Any) -> None:
    server = stub(401, "Unauthorized: api key sekrit-key-123 is not valid")  # servers may echo it
    conn = QdrantConnector(ConnectionConfig(url=server.url, api_key="sekrit-key-123"))
    with warnings.catch_warnings(), conn, pytest.raises(AuthenticationError) as info:
        warnings.simplefilter("ignore")  # "Api key is used with an insecure connection"
        conn.describe("c")
    assert "sekrit-key-123" not in str(info.value)


def test_server_429_is_transient_with_retry_after(stub: Any) -> None:
    server = stub(429, "Too many requests", {"Retry-After": "7"})
    with connect(server.url) as conn, pytest.raises(TransientError) as info:
        conn.count("c")
    assert info.value.retry_after == 7.0


def test_server_503_is_transient(stub: Any) -> None:
    server = stub(503, "Service Unavailable: shard is being recovered")
    with connect(server.url) as conn, pytest.raises(TransientError):
        conn.exists("c")


def test_server_timeout_is_transient(stub: Any) -> None:
    server = stub(200, "late", delay=2.5)
    with connect(server.url, timeout="1") as conn, pytest.raises(TransientError):
        conn.count("c")


def test_server_404_is_collection_not_found(stub: Any) -> None:
    server = stub(404, "Not found: Collection `docs` doesn't exist!")
    with connect(server.url) as conn, pytest.raises(CollectionNotFound) as info:
        conn.describe("docs")
    assert "'docs'" in info.value.message


def test_server_400_on_upsert_names_the_record(stub: Any) -> None:
    server = stub(400, "Wrong input: payload value is not valid")
    with connect(server.url) as conn, pytest.raises(RecordError) as info:
        conn.write_batch("c", Batch(ids=[11, 12, 13], vectors={"": vectors(3)}))
    assert info.value.fields["record_id"] == 11
    # the whole batch, then its first half (one record): that record is the one named
    assert sum(r.startswith("PUT /collections/c/points") for r in server.requests) == 2


def test_server_400_dimension_error_is_a_schema_mismatch(stub: Any) -> None:
    server = stub(400, "Wrong input: Vector dimension error: expected dim: 4, got 8")
    with connect(server.url) as conn, pytest.raises(SchemaMismatchError):
        conn.write_batch("c", Batch(ids=[1, 2], vectors={"": vectors(2)}))
    assert len(server.requests) == 1, "a whole-batch problem is not bisected"


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        connect(":memory:", bogus="1")
    with pytest.raises(ConfigError):
        connect(":memory:", namespace_field="a.b")
    with pytest.raises(ConfigError):
        QdrantConnector(ConnectionConfig(url=None))


def test_registry_loads_the_connector() -> None:
    assert get_class("qdrant") is QdrantConnector


def test_prepare_refuses_incompatible_existing_collection(mem: QdrantConnector) -> None:
    mem.create_collection(unnamed_schema(metric=Metric.DOT))
    with pytest.raises(SchemaMismatchError, match="dot"):
        mem.prepare(unnamed_schema(metric=Metric.COSINE))
    assert mem.prepare(unnamed_schema(metric=Metric.DOT)) is False


# --- the shared conformance suite ---------------------------------------------------------------------------------


class TestQdrantConformance(ConnectorConformance):
    """Local folder mode, so that ``reopen`` exercises a real close and re-open of the folder."""

    @pytest.fixture
    def connector(self, tmp_path: Path) -> Iterator[QdrantConnector]:
        with connect(tmp_path / "qdrant") as conn:
            yield conn

    @pytest.fixture
    def collection_name(self) -> str:
        return "conformance"

    def reopen(self, connector: Connector) -> Connector:
        connector.close()
        return QdrantConnector(connector.config)
