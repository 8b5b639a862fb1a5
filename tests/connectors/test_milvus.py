"""The Milvus connector against milvus-lite 3 (always) and a real Milvus 2.3.5 server (when VM_MILVUS_URL is set).

Start the server with ``eval "$(scripts/milvus-server.sh start)"``; tests that need it carry the
``milvus_server`` marker and skip without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")

from pymilvus import DataType, MilvusClient

from vectormigrate import datagen
from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.milvus import MilvusConnector
from vectormigrate.errors import (
    AuthenticationError,
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
    Cursor,
    FieldSpec,
    Metric,
    RecordId,
    SparseSpec,
    SparseVector,
    VectorSpec,
)
from vectormigrate.testing.compare import assert_records_match
from vectormigrate.testing.conformance import ConnectorConformance

SERVER_URL = os.environ.get("VM_MILVUS_URL", "")
SERVER_TOKEN = os.environ.get("VM_MILVUS_TOKEN") or None
"""Set when the server runs with authentication on (e.g. ``root:Milvus``): the auth test runs too."""
needs_server = pytest.mark.skipif(not SERVER_URL, reason="VM_MILVUS_URL is not set (scripts/milvus-server.sh start)")
FORMS = ["lite", pytest.param("server", marks=[pytest.mark.milvus_server, needs_server])]


def _unique(prefix: str = "vm") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=FORMS)
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(form: str, tmp_path: Path) -> str:
    return str(tmp_path / "milvus.db") if form == "lite" else SERVER_URL


def _config(url: str, **options: str) -> ConnectionConfig:
    return ConnectionConfig(url=url, api_key=SERVER_TOKEN if url == SERVER_URL else None, options=options)


def _raw(url: str) -> MilvusClient:
    """A plain pymilvus client, to build collections the connector did not make and to check what it made."""
    return MilvusClient(url, token=(SERVER_TOKEN or "") if url == SERVER_URL else "")


@pytest.fixture
def conn(url: str) -> Iterator[MilvusConnector]:
    with MilvusConnector(_config(url)) as c:
        yield c


@pytest.fixture
def name(conn: MilvusConnector) -> Iterator[str]:
    """A unique collection name, dropped afterwards (the server outlives the test)."""
    coll = _unique()
    yield coll
    conn.drop_collection(coll)


def _schema(coll: str, *, id_kind: str = "int", dim: int = 8, fields: tuple[FieldSpec, ...] = (),
            namespaces: tuple[str, ...] = (), vectors: tuple[VectorSpec, ...] | None = None,
            sparse: tuple[str, ...] = ()) -> CollectionSchema:
    return CollectionSchema(name=coll, vectors=vectors or (VectorSpec("vector", dim, Metric.COSINE),),
                            sparse_vectors=tuple(SparseSpec(s) for s in sparse), fields=fields,
                            id_kind=id_kind, namespaces=namespaces, dynamic_fields=True)  # type: ignore[arg-type]


def _vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _read_all(conn: Connector, coll: str, batch_size: int = 7, after: Cursor | None = None) -> list[Batch]:
    return list(conn.read_batches(coll, batch_size=batch_size, after=after))


# --- ids ---------------------------------------------------------------------------------------------------

TRICKY_IDS = ['plain', 'a"quote', "it's", "back\\slash", "new\nline", "é-accent", "😀 emoji", "tab\tx", "Z", "0"]


@pytest.mark.parametrize("id_kind", ["int", "str"])
def test_primary_keys_round_trip(conn: MilvusConnector, name: str, id_kind: str) -> None:
    """Int64 (incl. negative and extremes) and varchar ids (quotes, backslashes, unicode) survive write/read/fetch/delete."""
    ids: list[int | str] = ([-(2**63), -5, 0, 7, 2**63 - 1, 42, 10**12] if id_kind == "int" else list(TRICKY_IDS))
    conn.prepare(_schema(name, id_kind=id_kind))
    if id_kind == "int" and conn.server.hides_int64_max:
        # Milvus 2.3 stores a row keyed 2^63-1 but no query returns it: the connector refuses it up front.
        with pytest.raises(RecordError, match="2\\^63-1"):
            conn.write_batch(name, Batch(ids=[2**63 - 1], vectors={"vector": _vectors(1, 8)}))
        ids.remove(2**63 - 1)
    vecs = _vectors(len(ids), 8)
    conn.write_batch(name, Batch(ids=ids, vectors={"vector": vecs}, metadata=[{"i": i} for i in range(len(ids))]))
    assert conn.count(name) == len(ids)
    assert conn.describe(name).id_kind == id_kind
    batches = _read_all(conn, name, batch_size=3)
    got = [i for b in batches for i in b.ids]
    assert got == sorted(ids), "a scan must return every id once, in primary-key order"
    fetched = conn.fetch(name, [ids[1], ids[3], "missing" if id_kind == "str" else 999])
    assert [r.id for r in fetched] == [ids[1], ids[3]]
    np.testing.assert_array_equal(fetched[0].vectors["vector"], vecs[1])
    assert fetched[1].metadata == {"i": 3}
    conn.delete(name, [ids[1], ids[3]])
    assert conn.count(name) == len(ids) - 2
    assert conn.fetch(name, [ids[1], ids[3]]) == []


def test_record_errors_name_the_record(conn: MilvusConnector, name: str) -> None:
    """A record Milvus would refuse raises RecordError with its id, before anything of the batch is written."""
    conn.prepare(_schema(name, fields=(FieldSpec("title", "string", nullable=False),)))
    good = _vectors(3, 8)
    bad = good.copy()
    bad[1, 2] = np.nan
    with pytest.raises(RecordError) as info:
        conn.write_batch(name, Batch(ids=[1, 2, 3], vectors={"vector": bad}, metadata=[{"title": "x"}] * 3))
    assert info.value.fields["record_id"] == 2 and info.value.fields["field"] == "vector"
    with pytest.raises(RecordError) as info:
        conn.write_batch(name, Batch(ids=[1, "two", 3], vectors={"vector": good}, metadata=[{"title": "x"}] * 3))
    assert info.value.fields["record_id"] == "two"
    with pytest.raises(RecordError) as info:
        conn.write_batch(name, Batch(ids=[1, 2, 3], vectors={"vector": good},
                                     metadata=[{"title": "x"}, {"title": None}, {"title": "y"}]))
    assert info.value.fields["record_id"] == 2 and info.value.fields["field"] == "title"
    with pytest.raises(RecordError) as info:
        conn.write_batch(name, Batch(ids=[1, 2, 3], vectors={"vector": good},
                                     metadata=[{"title": "x"}, {"title": "x", "vector": 1}, {"title": "y"}]))
    assert info.value.fields["field"] == "vector"
    assert conn.count(name) == 0


# --- metadata ------------------------------------------------------------------------------------------------

RICH_META = [
    {"title": "Café ☕", "n": -3, "score": 0.125, "flag": True,
     "nested": {"a": [1, {"b": None}], "ü": "ß"}, "tags": ["x", "日本"], "note": None, "מפתח": "ערך"},
    {"title": "plain", "n": 2**40, "score": 1e-300, "flag": False,
     "nested": {}, "tags": [], "note": "line\nbreak \"quoted\"", "emoji 👍": [1.5, None]},
]


def test_typed_and_dynamic_metadata(conn: MilvusConnector, name: str) -> None:
    """Declared non-null fields become typed columns; nested JSON, unicode keys and nulls go to the dynamic field."""
    fields = (FieldSpec("title", "string", nullable=False), FieldSpec("n", "int", nullable=False),
              FieldSpec("score", "float", nullable=False), FieldSpec("flag", "bool", nullable=False),
              FieldSpec("note", "string", nullable=True), FieldSpec("nested", "object", nullable=False))
    conn.prepare(_schema(name, fields=fields))
    vecs = _vectors(2, 8)
    written = Batch(ids=[10, 20], vectors={"vector": vecs}, metadata=[dict(m) for m in RICH_META])
    conn.write_batch(name, written)

    raw = _raw(conn._uri)  # what Milvus itself holds: the typed columns
    typed = {f["name"]: f["type"] for f in raw.describe_collection(name)["fields"]}
    raw.close()
    assert typed["title"] == DataType.VARCHAR and typed["n"] == DataType.INT64
    assert typed["score"] == DataType.DOUBLE and typed["flag"] == DataType.BOOL
    assert "note" not in typed and "nested" not in typed, "nullable and nested fields belong in the dynamic field"

    desc = conn.describe(name)
    assert desc.dynamic_fields
    declared = {f.name: f for f in desc.fields if f.declared}
    assert {k: (f.type, f.nullable) for k, f in declared.items()} == {
        "title": ("string", False), "n": ("int", False), "score": ("float", False), "flag": ("bool", False)}
    inferred = {f.name: f.type for f in desc.fields if not f.declared}
    assert inferred["nested"] == "object" and inferred["tags"] == "list" and inferred["note"] == "string"
    assert "מפתח" in inferred and "emoji 👍" in inferred

    read = [r for b in _read_all(conn, name) for r in b.records()]
    assert_records_match(written.records(), read, null_equals_missing=False)
    assert read[0].metadata["note"] is None, "a null dynamic value comes back as null, not as a missing key"
    assert_records_match(written.records(), conn.fetch(name, [10, 20]), null_equals_missing=False)


# --- partitions ------------------------------------------------------------------------------------------------

def test_partitions_are_namespaces(conn: MilvusConnector, name: str) -> None:
    """Batches land in their namespace's partition; reads report it; _default is namespace None; resume crosses them."""
    conn.prepare(_schema(name, namespaces=("tenant_a",)))
    layout: list[tuple[str | None, list[RecordId]]] = [(None, [1, 2, 3]), ("tenant_a", [10, 11]),
                                                       ("tenant_b", [20, 21, 22, 23])]
    for ns, ids in layout:
        conn.write_batch(name, Batch(ids=ids, vectors={"vector": _vectors(len(ids), 8)}, namespace=ns))
    desc = conn.describe(name)
    assert desc.namespaces == ("tenant_a", "tenant_b") and desc.count == 9
    assert (conn.count(name, "tenant_a"), conn.count(name, "tenant_b"), conn.count(name, "nope")) == (2, 4, 0)
    batches = _read_all(conn, name, batch_size=3)
    assert [(b.namespace, b.ids) for b in batches] == [
        (None, [1, 2, 3]), ("tenant_a", [10, 11]), ("tenant_b", [20, 21, 22]), ("tenant_b", [23])]
    resumed = _read_all(conn, name, batch_size=3, after=json.loads(json.dumps(batches[1].cursor)))
    assert [i for b in resumed for i in b.ids] == [20, 21, 22, 23]
    assert [r.namespace for r in conn.fetch(name, [1, 10, 20])] == [None, "tenant_a", "tenant_b"]
    assert conn.fetch(name, [10], namespace="tenant_b") == []
    conn.delete(name, [20, 10], namespace="tenant_b")
    assert (conn.count(name, "tenant_a"), conn.count(name, "tenant_b")) == (2, 3)
    with pytest.raises(SchemaMismatchError, match="partition name"):
        conn.write_batch(name, Batch(ids=[99], vectors={"vector": _vectors(1, 8)}, namespace="bad-name"))


def test_partition_key_collection(conn: MilvusConnector, name: str, url: str) -> None:
    """A partition-key collection: no namespaces (its buckets are hidden), the key reported and read as metadata."""
    raw = _raw(conn._uri)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=32)
    schema.add_field("emb", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("tenant", DataType.VARCHAR, max_length=16, is_partition_key=True)
    index = raw.prepare_index_params()
    index.add_index("emb", index_type="FLAT", metric_type="IP")
    raw.create_collection(name, schema=schema, index_params=index, num_partitions=4)
    raw.insert(name, [{"pk": f"k{i:02d}", "emb": [float(i), 1, 0, 0], "tenant": "ab"[i % 2], "x": i} for i in range(12)])
    raw.close()
    desc = conn.describe(name)
    assert desc.namespaces == () and desc.extras["partition_key"] == "tenant" and desc.count == 12
    assert desc.vectors == (VectorSpec("emb", 4, Metric.DOT),) and desc.id_kind == "str"
    batches = _read_all(conn, name, batch_size=5)
    assert all(b.namespace is None for b in batches)
    rows = [r for b in batches for r in b.records()]
    assert [r.id for r in rows] == [f"k{i:02d}" for i in range(12)]
    assert rows[3].metadata == {"tenant": "b", "x": 3}


# --- a collection made by someone else -------------------------------------------------------------------------

def _foreign_collection(client: MilvusClient, coll: str, *, lite: bool) -> None:
    """Every scalar type, a JSON column, arrays, dynamic keys, partitions; two vectors and nullables on lite."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("doc", DataType.INT64, is_primary=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=6)
    if lite:
        schema.add_field("img", DataType.FLOAT_VECTOR, dim=3)
        schema.add_field("kw", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("opt", DataType.VARCHAR, max_length=20, nullable=True)
    for fname, dtype in (("b", DataType.BOOL), ("i8", DataType.INT8), ("i16", DataType.INT16),
                         ("i32", DataType.INT32), ("f", DataType.FLOAT), ("d", DataType.DOUBLE), ("j", DataType.JSON)):
        schema.add_field(fname, dtype)
    schema.add_field("s", DataType.VARCHAR, max_length=50)
    schema.add_field("arr", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8)
    index = client.prepare_index_params()
    index.add_index("dense", index_type="FLAT", metric_type="L2")
    if lite:
        index.add_index("img", index_type="FLAT", metric_type="IP")
        index.add_index("kw", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection(coll, schema=schema, index_params=index)
    client.create_partition(coll, "archive")
    client.create_partition(coll, "empty_one")
    rows = []
    for i in range(9):
        row = {"doc": i, "dense": [i, 1, 2, 3, 4, 5.5], "b": i % 2 == 0, "i8": -i, "i16": 300 + i, "i32": -70000,
               "f": 0.5, "d": 1 / 3, "j": {"k": [i, "v"], "n": None}, "s": f"sé{i}", "arr": list(range(i % 3)),
               "dyn_str": "ü" * i, "dyn_obj": {"deep": {"er": i}}}
        if lite:
            row |= {"img": [1, 0, i], "kw": {i: 0.5, 1000 + i: 1.25}, "opt": None if i % 3 else f"o{i}"}
        rows.append(row)
    client.insert(coll, rows[:6])
    client.insert(coll, rows[6:], partition_name="archive")


def test_reads_a_foreign_collection(conn: MilvusConnector, name: str, form: str) -> None:
    """describe() and read_batches() on a collection created with pymilvus: types, metrics, partitions, dynamic keys."""
    lite = form == "lite"
    raw = _raw(conn._uri)
    _foreign_collection(raw, name, lite=lite)
    raw.close()
    desc = conn.describe(name)
    assert desc.count == 9 and desc.namespaces == ("archive",), "only partitions holding data are namespaces"
    assert desc.dynamic_fields and desc.id_kind == "int"
    vectors = {v.name: (v.dim, v.metric) for v in desc.vectors}
    assert vectors == ({"dense": (6, Metric.EUCLID), "img": (3, Metric.DOT)} if lite else {"dense": (6, Metric.EUCLID)})
    assert [s.name for s in desc.sparse_vectors] == (["kw"] if lite else [])
    types = {f.name: (f.type, f.nullable, f.declared) for f in desc.fields}
    assert types["i16"] == ("int", False, True) and types["d"] == ("float", False, True)
    assert types["j"] == ("json", False, True) and types["arr"][0] == "list" and types["s"][0] == "string"
    assert types["dyn_obj"] == ("object", True, False) and types["dyn_str"][2] is False
    if lite:
        assert types["opt"] == ("string", True, True)

    batches = _read_all(conn, name, batch_size=4)
    assert [(b.namespace, b.ids) for b in batches] == [(None, [0, 1, 2, 3]), (None, [4, 5]), ("archive", [6, 7, 8])]
    rec = next(r for b in batches for r in b.records() if r.id == 7)
    assert rec.metadata == {"b": False, "i8": -7, "i16": 307, "i32": -70000, "f": 0.5, "d": 1 / 3,
                            "j": {"k": [7, "v"], "n": None}, "s": "sé7", "arr": [0], "dyn_str": "ü" * 7,
                            "dyn_obj": {"deep": {"er": 7}}} | ({"opt": None} if lite else {})
    np.testing.assert_array_equal(rec.vectors["dense"], np.array([7, 1, 2, 3, 4, 5.5], dtype=np.float32))
    if lite:
        assert rec.sparse["kw"] == SparseVector.of([7, 1007], [0.5, 1.25])
        np.testing.assert_array_equal(rec.vectors["img"], np.array([1, 0, 7], dtype=np.float32))


# --- vectors -------------------------------------------------------------------------------------------------

def test_two_vectors_and_sparse_on_lite(tmp_path: Path) -> None:
    """Two dense vectors (own dims and metrics) plus a sparse one round-trip through create/write/read/search."""
    with MilvusConnector(ConnectionConfig(url=str(tmp_path / "m.db"))) as conn:
        schema = _schema("multi", vectors=(VectorSpec("text", 8, Metric.COSINE), VectorSpec("image", 4, Metric.EUCLID)),
                         sparse=("keywords",))
        conn.prepare(schema)
        rng = np.random.default_rng(3)
        sparse = [SparseVector.of(sorted(rng.choice(30000, 5, replace=False)), rng.random(5)) for _ in range(20)]
        batch = Batch(ids=list(range(20)), vectors={"text": _vectors(20, 8), "image": _vectors(20, 4, seed=1)},
                      sparse={"keywords": sparse})  # type: ignore[dict-item]
        holey = batch.slice(0, 20)
        holey.sparse["keywords"][4] = None
        with pytest.raises(RecordError) as info:   # Milvus sparse fields are never null, nor empty (lite)
            conn.write_batch("multi", holey)
        assert info.value.fields["record_id"] == 4 and info.value.fields["field"] == "keywords"
        conn.write_batch("multi", batch)
        desc = conn.describe("multi")
        assert {v.name: (v.dim, v.metric) for v in desc.vectors} == {"text": (8, Metric.COSINE),
                                                                     "image": (4, Metric.EUCLID)}
        assert [s.name for s in desc.sparse_vectors] == ["keywords"]
        read = [r for b in _read_all(conn, "multi") for r in b.records()]
        assert_records_match(batch.records(), read)
        hits = conn.search("multi", "image", batch.vectors["image"][9].tolist(), 3)
        assert hits[0][0] == 9 and hits[0][1] == pytest.approx(0.0, abs=1e-5)


@pytest.mark.milvus_server
@needs_server
def test_server_23_limits_are_capabilities() -> None:
    """Milvus 2.3: one vector field, no sparse vectors, 64 KiB of dynamic JSON: narrowed capabilities, clear errors."""
    with MilvusConnector(_config(SERVER_URL)) as conn:
        if not conn.server.version.startswith("v2.3"):
            pytest.skip(f"the server is {conn.server.version}, not 2.3")
        caps = conn.capabilities
        assert not caps.named_vectors and not caps.sparse_vectors and caps.max_metadata_bytes == 65_536
        assert MilvusConnector.capabilities.named_vectors, "the class-level capabilities stay the full set"
        coll = _unique()
        two = _schema(coll, vectors=(VectorSpec("a", 4), VectorSpec("b", 4)), sparse=("s",))
        with pytest.raises(SchemaMismatchError) as info:
            conn.prepare(two)
        assert "one vector field" in str(info.value) and "sparse" in str(info.value)
        assert not conn.exists(coll)
        try:
            conn.prepare(_schema(coll))
            with pytest.raises(RecordError) as err:
                conn.write_batch(coll, Batch(ids=[1, 2], vectors={"vector": _vectors(2, 8)},
                                             metadata=[{"a": "x"}, {"big": "x" * 70_000}]))
            assert err.value.fields["record_id"] == 2
        finally:
            conn.drop_collection(coll)


@pytest.mark.milvus_server
@needs_server
def test_server_bounded_collection_reads_fresh_writes() -> None:
    """A collection with the server default (Bounded) consistency: count and scan see rows inserted just before."""
    coll = _unique()
    raw = _raw(SERVER_URL)
    raw.create_collection(coll, dimension=4, primary_field_name="id", vector_field_name="vector")  # Bounded
    try:
        assert raw.describe_collection(coll)["consistency_level_name"] == "Bounded"
        raw.insert(coll, [{"id": i, "vector": [i, 1, 1, 1]} for i in range(50)])
        with MilvusConnector(_config(SERVER_URL)) as conn:
            assert conn.count(coll) == 50
            assert sum(len(b) for b in _read_all(conn, coll, batch_size=20)) == 50
    finally:
        raw.drop_collection(coll)
        raw.close()


# --- resume ----------------------------------------------------------------------------------------------------

def test_resume_in_a_new_process(tmp_path: Path) -> None:
    """A cursor written to disk resumes in a fresh Python process (new lite server, collection not loaded yet)."""
    db = str(tmp_path / "m.db")
    with MilvusConnector(ConnectionConfig(url=db)) as conn:
        conn.prepare(_schema("docs", id_kind="str", namespaces=("p1",)))
        for ns, lo in ((None, 0), ("p1", 100)):
            batches = datagen.iter_batches(40, batch_size=40, dim=8, id_kind="str", vectors=["vector"], start=lo,
                                           metadata="simple")
            for b in batches:
                b.namespace = ns
                conn.write_batch("docs", b)
        first = _read_all(conn, "docs", batch_size=15)
    expected_rest = [i for b in first[2:] for i in b.ids]
    script = textwrap.dedent(f"""
        import json, sys
        from vectormigrate.connectors.base import ConnectionConfig
        from vectormigrate.connectors.milvus import MilvusConnector
        with MilvusConnector(ConnectionConfig(url={db!r})) as conn:
            cursor = json.loads(sys.argv[1])
            print(json.dumps([[b.namespace, b.ids] for b in conn.read_batches("docs", batch_size=15, after=cursor)]))
    """)
    out = subprocess.run([sys.executable, "-c", script, json.dumps(first[1].cursor)], capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    resumed = json.loads(out.stdout.strip().splitlines()[-1])
    assert [i for _, ids in resumed for i in ids] == expected_rest
    assert {ns for ns, _ in resumed} == {None, "p1"}


def test_concurrent_writers_then_sigkill_lose_nothing(tmp_path: Path) -> None:
    """Threads writing through connectors on one lite file, then SIGKILL: every acknowledged record survives.

    milvus-lite 3.2.2 does not serialise writes itself; unserialised, the write-ahead log gets garbled and
    recovery drops acknowledged records (the runner writes with several worker threads).
    """
    db = str(tmp_path / "m.db")
    script = textwrap.dedent(f"""
        import os, signal, sys, threading
        import numpy as np
        from vectormigrate.connectors.base import ConnectionConfig
        from vectormigrate.connectors.milvus import MilvusConnector
        from vectormigrate.model import Batch, CollectionSchema, VectorSpec
        url = {db!r}
        with MilvusConnector(ConnectionConfig(url=url)) as c:
            c.prepare(CollectionSchema("c", vectors=(VectorSpec("vector", 64),), id_kind="int", namespaces=("p",)))
        done = []
        def work(t):
            conn = MilvusConnector(ConnectionConfig(url=url))
            rng = np.random.default_rng(t)
            for k in range(15):
                ids = [t * 100_000 + k * 40 + j for j in range(40)]
                conn.write_batch("c", Batch(ids=ids, vectors={{"vector": rng.random((40, 64), dtype=np.float32)}},
                                            metadata=[{{"t": "x" * 200}}] * 40, namespace="p" if t % 2 else None))
                done.extend(ids)
        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for th in threads: th.start()
        for th in threads: th.join()
        print(len(done), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)   # no close, no flush: only the write-ahead log is left
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=300)
    acknowledged = int(out.stdout.strip().splitlines()[-1])
    assert acknowledged == 6 * 15 * 40, out.stderr[-2000:]
    with MilvusConnector(ConnectionConfig(url=db)) as conn:
        assert conn.count("c") == acknowledged
        assert sum(len(b) for b in conn.read_batches("c", batch_size=1000)) == acknowledged


def test_cursor_from_another_connector_is_refused(conn: MilvusConnector, name: str) -> None:
    conn.prepare(_schema(name))
    with pytest.raises(Exception, match="cursor"):
        _read_all(conn, name, after={"namespace": "", "after": [0, 1, ""]})


# --- errors ----------------------------------------------------------------------------------------------------

def test_missing_collection_names_it_and_lists_the_others(conn: MilvusConnector, name: str) -> None:
    conn.prepare(_schema(name))
    with pytest.raises(CollectionNotFound) as info:
        conn.describe("no_such_collection")
    assert "no_such_collection" in str(info.value) and name in (info.value.hint or "")
    with pytest.raises(CollectionNotFound):
        list(conn.read_batches("no_such_collection", batch_size=10))
    with pytest.raises(CollectionNotFound):
        conn.write_batch("no_such_collection", Batch(ids=[1], vectors={"vector": _vectors(1, 8)}))


def test_unreachable_server_and_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(UnreachableError, match=r"127\.0\.0\.1:1"):
        MilvusConnector(ConnectionConfig(url="http://127.0.0.1:1", api_key="s3cret-token"))
    with pytest.raises(UnreachableError) as info:
        MilvusConnector(ConnectionConfig(url=str(tmp_path / "no" / "such" / "dir" / "m.db")))
    assert ".db" in (info.value.hint or "")
    with pytest.raises(ConfigError, match=r"\.db"):
        MilvusConnector(ConnectionConfig(url=str(tmp_path / "milvus")))
    with pytest.raises(ConfigError, match="consistency"):
        MilvusConnector(ConnectionConfig(url=str(tmp_path / "m.db"), options={"consistency_level": "Sometimes"}))


def test_lost_server_is_transient(tmp_path: Path) -> None:
    """A server that goes away under a connected client gives TransientError (the runner retries it)."""
    with MilvusConnector(ConnectionConfig(url=str(tmp_path / "m.db"), options={"timeout": "1.5"})) as conn:
        conn.prepare(_schema("t"))
        conn.write_batch("t", Batch(ids=[1], vectors={"vector": _vectors(1, 8)}))
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(conn._uri)   # stop the in-process lite server behind its back
        with pytest.raises(TransientError, match="will retry"):
            conn.count("t")


@pytest.mark.milvus_server
@pytest.mark.skipif(not (SERVER_URL and SERVER_TOKEN), reason="needs VM_MILVUS_URL and VM_MILVUS_TOKEN (a server "
                    "started with VM_MILVUS_SERVER_ARGS='--authorization-enabled true')")
def test_wrong_or_missing_token_is_authentication_error() -> None:
    for token in ("root:wrong-password", None):
        with pytest.raises(AuthenticationError) as info:
            MilvusConnector(ConnectionConfig(url=SERVER_URL, api_key=token))
        assert "wrong-password" not in str(info.value)


def test_api_key_never_in_messages() -> None:
    with pytest.raises(UnreachableError) as info:
        MilvusConnector(ConnectionConfig(url="http://user:pa55word@127.0.0.1:1", api_key="tok:abc123secret"))
    text = str(info.value) + json.dumps(info.value.attrs())
    assert "abc123secret" not in text and "pa55word" not in text


# --- conformance -------------------------------------------------------------------------------------------------

class TestMilvusConformance(ConnectorConformance):
    """The shipped conformance suite, on milvus-lite and (with VM_MILVUS_URL) on the real server."""

    connector_name = "milvus"

    @pytest.fixture(params=FORMS)
    def connector(self, request: pytest.FixtureRequest, tmp_path: Path,
                  collection_name: str) -> Iterator[MilvusConnector]:
        url = str(tmp_path / "conformance.db") if request.param == "lite" else SERVER_URL
        with MilvusConnector(_config(url)) as conn:
            yield conn
        if request.param == "server":
            raw = _raw(SERVER_URL)
            for coll in raw.list_collections():
                if coll.startswith(collection_name):
                    raw.drop_collection(coll)
            raw.close()

    @pytest.fixture
    def collection_name(self) -> str:
        # The server outlives the test: a unique name keeps every case on an empty collection.
        return _unique("conf")

    def reopen(self, connector: Connector) -> Connector:
        connector.close()
        return MilvusConnector(connector.config)
