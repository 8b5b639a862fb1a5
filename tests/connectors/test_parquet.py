"""The Parquet connector on real files: round trips, upserts, resume, crash leftovers, plain-pyarrow readability."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vectormigrate import datagen
from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.memory import MemoryConnector, reset_memory_store
from vectormigrate.connectors.parquet import ParquetConnector
from vectormigrate.connectors.parquet import _store as parquet_store
from vectormigrate.errors import (
    CheckpointError,
    CollectionNotFound,
    ConfigError,
    RecordError,
    SchemaMismatchError,
    TerminalError,
)
from vectormigrate.model import Batch, CollectionSchema, Metric, SparseSpec, SparseVector, VectorRecord, VectorSpec
from vectormigrate.testing.conformance import ConnectorConformance

DIM = 16


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[ParquetConnector]:
    with ParquetConnector(ConnectionConfig(url=str(tmp_path / "backup"))) as c:
        yield c


def _schema(name: str = "docs", *, id_kind: str = "str", named: bool = False, sparse: bool = False) -> CollectionSchema:
    vectors = (VectorSpec("text", DIM), VectorSpec("image", 5, Metric.DOT)) if named else (VectorSpec("", DIM),)
    return CollectionSchema(name=name, vectors=vectors, sparse_vectors=(SparseSpec("kw"),) if sparse else (),
                            id_kind=id_kind)  # type: ignore[arg-type]


def _batch(ids: list[Any], *, seed: int = 0, namespace: str | None = None, named: bool = False,
           sparse: bool = False, metadata: list[dict[str, Any]] | None = None) -> Batch:
    rng = np.random.default_rng(seed)
    n = len(ids)
    if named:
        vectors = {"text": rng.standard_normal((n, DIM), dtype=np.float32),
                   "image": rng.standard_normal((n, 5), dtype=np.float32)}
    else:
        vectors = {"": rng.standard_normal((n, DIM), dtype=np.float32)}
    sp = {}
    if sparse:
        sp = {"kw": [None if i % 3 == 0 else SparseVector.of(np.sort(rng.choice(30_000, 12, replace=False)),
                                                            rng.standard_normal(12, dtype=np.float32))
                     for i in range(n)]}
    meta = metadata if metadata is not None else [{"i": i, "seed": seed} for i in range(n)]
    return Batch(ids=list(ids), vectors=vectors, sparse=sp, metadata=meta, namespace=namespace)


def _read_ids(c: Connector, name: str = "docs", **kw: Any) -> list[Any]:
    return [i for b in c.read_batches(name, batch_size=kw.pop("batch_size", 7), **kw) for i in b.ids]


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def _assert_bit_exact(expected: list[VectorRecord], got: list[VectorRecord]) -> None:
    by_id = {r.id: r for r in got}
    assert sorted(map(repr, by_id)) == sorted(repr(r.id) for r in expected)
    for rec in expected:
        other = by_id[rec.id]
        assert type(other.id) is type(rec.id)
        assert set(other.vectors) == set(rec.vectors)
        for name, vec in rec.vectors.items():
            assert np.array_equal(_bits(vec), _bits(other.vectors[name])), f"{rec.id!r} vector {name!r} changed"
        assert set(other.sparse) == set(rec.sparse)
        for name, sv in rec.sparse.items():
            assert np.array_equal(sv.indices, other.sparse[name].indices)
            assert np.array_equal(_bits(sv.values), _bits(other.sparse[name].values))
        assert other.metadata == rec.metadata
        assert other.namespace == rec.namespace


# ---- round trips ----------------------------------------------------------------------------------------

UNICODE_IDS = ["doc-1", "", " ", "ünïcödé", "日本語のid", "🔥/🚀", "a\nb\tc", "quote\"'`", "x" * 2000,
               "\u202eRTL", "e\u0301", "NUL\x00inside"]


@pytest.mark.parametrize(("id_kind", "ids"), [
    ("int", [0, 1, -5, 2**63 - 1, -(2**63), 42]),
    ("uuid", [str(uuid.UUID(int=i * 7919 + 1)) for i in range(6)]),
    ("str", UNICODE_IDS),
])
def test_id_kinds_round_trip(conn: ParquetConnector, id_kind: str, ids: list[Any]) -> None:
    conn.create_collection(_schema(id_kind=id_kind))
    batch = _batch(ids)
    conn.write_batch("docs", batch)
    read = [r for b in conn.read_batches("docs", batch_size=4) for r in b.records()]
    _assert_bit_exact(list(batch.records()), read)
    _assert_bit_exact(list(batch.records()), conn.fetch("docs", ids))
    assert conn.describe("docs").id_kind == id_kind
    assert pq.read_table(conn.root / "docs").schema.field("id").type == (pa.int64() if id_kind == "int"
                                                                             else pa.string())


def test_named_and_sparse_vectors_bit_exact(conn: ParquetConnector) -> None:
    conn.create_collection(_schema(named=True, sparse=True))
    batch = _batch([f"r{i}" for i in range(30)], named=True, sparse=True)
    batch.vectors["text"][0, :3] = [np.nan, np.inf, -0.0]  # odd floats survive bit for bit too
    conn.write_batch("docs", batch)
    expected = list(batch.records())
    read = [r for b in conn.read_batches("docs", batch_size=8) for r in b.records()]
    _assert_bit_exact(expected, read)
    _assert_bit_exact(expected[:5], conn.fetch("docs", [r.id for r in expected[:5]]))
    desc = conn.describe("docs")
    assert {v.name: (v.dim, v.metric) for v in desc.vectors} == {"text": (DIM, Metric.COSINE),
                                                                  "image": (5, Metric.DOT)}
    assert [s.name for s in desc.sparse_vectors] == ["kw"]


NASTY_METADATA: list[dict[str, Any]] = [
    {"nested": {"a": [1, 2, {"b": None}], "c": {"d": {"e": "deep"}}}, "null": None},
    {"mixed": [1, "two", 3.5, True, None, [], {}], "empty_list": [], "empty_obj": {}},
    {"ключ": "значение", "キー": "値", "🔑": "🔒", "e\u0301": "combining", "": "empty key"},
    {"big": 2**80, "neg": -(2**70), "float": 0.1 + 0.2, "tiny": 5e-324, "bool": False, "zero": 0},
    {},
    {"text": "line1\nline2\t\"quoted\" \\ back\u2028sep", "rtl": "\u202eabc"},
]


def test_metadata_exact(conn: ParquetConnector) -> None:
    conn.create_collection(_schema())
    ids = [f"m{i}" for i in range(len(NASTY_METADATA))]
    conn.write_batch("docs", _batch(ids, metadata=NASTY_METADATA))
    got = {r.id: r.metadata for b in conn.read_batches("docs", batch_size=100) for r in b.records()}
    assert [got[i] for i in ids] == NASTY_METADATA
    assert type(got["m3"]["float"]) is float and type(got["m3"]["bool"]) is bool
    assert [r.metadata for r in conn.fetch("docs", ids)] == NASTY_METADATA


def test_non_finite_metadata_floats_round_trip(conn: ParquetConnector) -> None:
    conn.create_collection(_schema())
    conn.write_batch("docs", _batch(["a"], metadata=[{"nan": math.nan, "inf": -math.inf}]))
    (rec,) = conn.fetch("docs", ["a"])
    assert math.isnan(rec.metadata["nan"]) and rec.metadata["inf"] == -math.inf


def test_lone_surrogates(conn: ParquetConnector) -> None:
    conn.create_collection(_schema())
    conn.write_batch("docs", _batch(["a", "b"], metadata=[{"k": "x\ud800y"}, {"ok": "ü"}]))
    assert [r.metadata for r in conn.fetch("docs", ["a", "b"])] == [{"k": "x\ud800y"}, {"ok": "ü"}]
    with pytest.raises(RecordError) as info:
        conn.write_batch("docs", _batch(["c", "d\udfff"]))
    assert info.value.fields["record_id"] == "d\udfff"


def test_unserialisable_metadata_names_the_record(conn: ParquetConnector) -> None:
    conn.create_collection(_schema())
    with pytest.raises(RecordError) as info:
        bad: list[dict[str, Any]] = [{}, {"x": {1, 2}}]  # a set has no JSON form
        conn.write_batch("docs", _batch(["ok", "bad"], metadata=bad))
    assert info.value.fields["record_id"] == "bad"
    assert conn.count("docs") == 0


# ---- namespaces, upsert, delete -------------------------------------------------------------------------

def test_namespaces(conn: ParquetConnector) -> None:
    conn.create_collection(_schema(id_kind="int"))
    conn.write_batch("docs", _batch([1, 2, 3], namespace="a", seed=1))
    conn.write_batch("docs", _batch([1, 2], namespace="b", seed=2))   # same ids, other namespace: other records
    conn.write_batch("docs", _batch([1, 9], seed=3))                  # no namespace
    assert conn.count("docs") == 7
    assert (conn.count("docs", "a"), conn.count("docs", "b"), conn.count("docs", "")) == (3, 2, 2)
    assert conn.describe("docs").namespaces == ("a", "b")
    seen = [(b.namespace, tuple(b.ids)) for b in conn.read_batches("docs", batch_size=100)]
    assert seen == [("a", (1, 2, 3)), ("b", (1, 2)), (None, (1, 9))]
    assert [r.namespace for r in conn.fetch("docs", [1], namespace="b")] == ["b"]
    assert conn.fetch("docs", [3], namespace="b") == []
    # Without a namespace, fetch picks the first in sorted order, no-namespace first (as the memory connector).
    assert conn.fetch("docs", [1])[0].namespace is None
    conn.delete("docs", [1], namespace="a")
    assert (conn.count("docs", "a"), conn.count("docs", "b"), conn.count("docs", "")) == (2, 2, 2)
    conn.delete("docs", [2])  # every namespace
    assert (conn.count("docs", "a"), conn.count("docs", "b"), conn.count("docs", "")) == (1, 1, 2)


def test_upsert_leaves_one_record_with_the_new_value(conn: ParquetConnector) -> None:
    conn.create_collection(_schema(id_kind="int"))
    for start in range(0, 100, 20):
        conn.write_batch("docs", _batch(list(range(start, start + 20)), seed=1))
    new = _batch(list(range(50, 130)), seed=2)       # overlaps three earlier parts, adds 30 new ids
    conn.write_batch("docs", new)
    assert conn.count("docs") == 130
    ids = _read_ids(conn)
    assert sorted(ids) == list(range(130))
    fetched = {r.id: r for r in conn.fetch("docs", [50, 99, 129, 10])}
    for rec in new.records():
        if rec.id in fetched:
            assert np.array_equal(fetched[rec.id].vectors[""], rec.vectors[""])
            assert fetched[rec.id].metadata == {"i": int(rec.id) - 50, "seed": 2}
    assert fetched[10].metadata["seed"] == 1
    # The folder itself holds no duplicate: a plain pyarrow reader sees exactly the live records.
    table = pq.read_table(conn.root / "docs")
    assert sorted(table.column("id").to_pylist()) == list(range(130))


def test_duplicate_ids_within_a_batch_keep_the_last(conn: ParquetConnector) -> None:
    conn.create_collection(_schema())
    batch = _batch(["a", "b", "a"], metadata=[{"v": 1}, {"v": 2}, {"v": 3}])
    conn.write_batch("docs", batch)
    assert conn.count("docs") == 2
    assert conn.fetch("docs", ["a"])[0].metadata == {"v": 3}


def test_rewriting_the_same_batch_is_idempotent(conn: ParquetConnector) -> None:
    conn.create_collection(_schema())
    batch = _batch([f"id{i}" for i in range(25)])
    for _ in range(3):
        conn.write_batch("docs", batch)
    assert conn.count("docs") == 25
    assert len(json.loads((conn.root / "docs" / "_manifest.json").read_text())["parts"]) == 1


def test_delete(conn: ParquetConnector) -> None:
    conn.create_collection(_schema(id_kind="int"))
    conn.write_batch("docs", _batch(list(range(10))))
    conn.write_batch("docs", _batch(list(range(10, 20))))
    conn.delete("docs", [3, 4, 15, 999])
    assert conn.count("docs") == 17
    assert conn.fetch("docs", [3, 15]) == []
    assert sorted(_read_ids(conn)) == [i for i in range(20) if i not in (3, 4, 15)]
    conn.delete("docs", list(range(10)))           # empties a part: it disappears
    assert len(json.loads((conn.root / "docs" / "_manifest.json").read_text())["parts"]) == 1
    conn.delete("docs", ["not-an-int"])            # an id of another kind simply is not there
    assert conn.count("docs") == 9


def test_concurrent_writers_leave_no_duplicates(conn: ParquetConnector, tmp_path: Path) -> None:
    conn.create_collection(_schema(id_kind="int"))
    other = ParquetConnector(ConnectionConfig(url=str(tmp_path / "backup")))  # second instance, same folder
    errors: list[BaseException] = []

    def work(c: ParquetConnector, seed: int) -> None:
        try:
            for start in range(0, 200, 25):
                c.write_batch("docs", _batch(list(range(start, start + 40)), seed=seed))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c, s)) for s, c in enumerate([conn, conn, other, other])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert conn.count("docs") == 215
    assert sorted(_read_ids(conn)) == list(range(215))
    assert sorted(pq.read_table(conn.root / "docs").column("id").to_pylist()) == list(range(215))


def test_readers_concurrent_with_a_writer_on_the_same_instance(conn: ParquetConnector, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # fetch/count/read_batches racing write_batch on ONE instance must never see (or leave) a corrupt id index:
    # a fetch that refreshed the shared index from the manifest it had loaded before a commit used to mark the
    # newer parts dead for good, so later fetches missed ids and later upserts wrote duplicates. Durability is not
    # under test: without the fsyncs a write takes ~25 ms instead of ~100 ms, so more commits race the readers.
    monkeypatch.setattr(parquet_store, "_fsync_dir", lambda path: None)
    monkeypatch.setattr(parquet_store, "_fsync_file", lambda path: None)
    conn.create_collection(_schema(id_kind="int"))
    written: list[int] = []          # ids committed so far, in order; appended by the writer after each commit
    done = threading.Event()
    errors: list[BaseException] = []

    def check_all(c: ParquetConnector, expected: list[int], where: str) -> None:
        assert sorted(r.id for r in c.fetch("docs", expected)) == sorted(expected), where
        assert c.count("docs") == len(expected), where

    def writer() -> None:
        rng = np.random.default_rng(7)
        try:
            for step in range(40):
                new = list(range(len(written), len(written) + 8))
                old = rng.choice(written, size=min(4, len(written)), replace=False).tolist() if written else []
                conn.write_batch("docs", _batch(old + new, seed=step))
                written.extend(new)
                if step % 8 == 7:    # checkpoint, while the readers keep racing
                    check_all(conn, list(written), f"checkpoint at step {step}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def reader(kind: int) -> None:
        rng = np.random.default_rng(100 + kind)
        try:
            while not done.is_set():
                before = list(written)                    # committed before this call started
                if kind == 2:
                    seen = {i for b in conn.read_batches("docs", batch_size=16) for i in b.ids}
                    assert seen >= set(before)            # a scan may re-read a rewritten part, never skip
                    time.sleep(0.005)
                    continue
                if before:
                    want = rng.choice(before, size=min(16, len(before)), replace=False).tolist()
                    assert sorted(r.id for r in conn.fetch("docs", want)) == sorted(want)
                n = conn.count("docs")
                assert len(before) <= n <= len(written) + 8
                time.sleep(0.001)                         # let the writer have the GIL now and then
        except BaseException as exc:
            errors.append(exc)
            done.set()

    threads = [threading.Thread(target=writer), *(threading.Thread(target=reader, args=(k,)) for k in (0, 1, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    assert len(written) == 320
    check_all(conn, written, "end, same instance")
    fresh = ParquetConnector(ConnectionConfig(url=str(tmp_path / "backup")))
    check_all(fresh, written, "end, new instance")
    assert sorted(pq.read_table(conn.root / "docs").column("id").to_pylist()) == written


# ---- reading and resuming -------------------------------------------------------------------------------

@pytest.mark.parametrize("row_group_bytes", [64 * 1024 * 1024, 700])
def test_resume_in_a_new_instance_yields_exactly_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          row_group_bytes: int) -> None:
    # Tiny row groups exercise the jump to the row group holding the cursor's row.
    monkeypatch.setattr(parquet_store, "_ROW_GROUP_BYTES", row_group_bytes)
    url = str(tmp_path / "backup")
    writer = ParquetConnector(ConnectionConfig(url=url))
    writer.create_collection(_schema())
    for k in range(4):
        writer.write_batch("docs", _batch([f"{k}-{i}" for i in range(23)], namespace=("x" if k % 2 else None)))
    full = list(writer.read_batches("docs", batch_size=6))
    all_ids = [i for b in full for i in b.ids]
    assert len(all_ids) == len(set(all_ids)) == 92
    for cut in (0, 3, 4, 9, len(full) - 1):
        cursor = json.loads(json.dumps(full[cut].cursor))
        reader = ParquetConnector(ConnectionConfig(url=url))  # as a resumed process would
        rest = list(reader.read_batches("docs", batch_size=6, after=cursor))
        assert [(b.namespace, i) for b in rest for i in b.ids] == [(b.namespace, i) for b in full[cut + 1:]
                                                                   for i in b.ids]


def test_resume_after_a_part_was_rewritten_loses_nothing(conn: ParquetConnector) -> None:
    conn.create_collection(_schema(id_kind="int"))
    for start in (0, 10, 20):
        conn.write_batch("docs", _batch(list(range(start, start + 10))))
    batches = list(conn.read_batches("docs", batch_size=5))
    cursor = batches[2].cursor                                 # mid-way through the second part
    conn.write_batch("docs", _batch([12], seed=9))             # rewrites the cursor's part
    rest = _read_ids(conn, after=cursor)
    assert set(rest) >= {i for b in batches[3:] for i in b.ids}  # may re-read, never skips


def test_scan_survives_a_concurrent_rewrite(conn: ParquetConnector) -> None:
    conn.create_collection(_schema(id_kind="int"))
    for start in (0, 10, 20):
        conn.write_batch("docs", _batch(list(range(start, start + 10)), seed=1))
    scan = conn.read_batches("docs", batch_size=5)
    first = next(scan)                                          # the scan has loaded the manifest
    conn.write_batch("docs", _batch([25, 30], seed=2))          # rewrites the third part before the scan opens it
    records = [r for b in [first, *scan] for r in b.records()]
    assert sorted({r.id for r in records}) == list(range(31))
    assert [r.metadata["seed"] for r in records if r.id == 25] == [2]


def test_a_listed_part_deleted_by_hand_is_an_error_not_a_silent_skip(conn: ParquetConnector) -> None:
    conn.create_collection(_schema(id_kind="int"))
    conn.write_batch("docs", _batch(list(range(10))))
    conn.write_batch("docs", _batch(list(range(10, 20))))
    (conn.root / "docs" / "part-0000000001.parquet").unlink()
    with pytest.raises(TerminalError, match="part-0000000001"):
        _read_ids(conn)


def test_bad_cursor_is_a_checkpoint_error(conn: ParquetConnector) -> None:
    conn.create_collection(_schema())
    with pytest.raises(CheckpointError):
        list(conn.read_batches("docs", batch_size=5, after={"namespace": "x", "after": [1, 2, "3"]}))


def test_read_batches_yield_float32_matrices_without_copying(conn: ParquetConnector) -> None:
    conn.create_collection(_schema())
    conn.write_batch("docs", _batch([f"v{i}" for i in range(50)]))
    (batch,) = list(conn.read_batches("docs", batch_size=100))
    mat = batch.vectors[""]
    assert mat.dtype == np.float32 and mat.shape == (50, DIM) and mat.flags["C_CONTIGUOUS"]
    assert not mat.flags["OWNDATA"], "the matrix should be a view of the Arrow buffer"


# ---- crashes and leftovers -------------------------------------------------------------------------------

_CRASHING_WRITER = textwrap.dedent("""
    import os, sys
    import numpy as np
    from vectormigrate.connectors.base import ConnectionConfig
    from vectormigrate.connectors.parquet import ParquetConnector
    from vectormigrate.model import Batch

    url, crash_at = sys.argv[1], sys.argv[2]
    conn = ParquetConnector(ConnectionConfig(url=url))
    real_replace = os.replace

    def dying_replace(src, dst):
        # The process dies the way a kill -9 would: no cleanup, no exception handlers.
        if crash_at == "part-rename" and str(dst).endswith(".parquet"):
            os._exit(17)
        if crash_at == "manifest" and str(dst).endswith("_manifest.json"):
            os._exit(17)
        real_replace(src, dst)

    os.replace = dying_replace
    ids = [5, 6, 100, 101]   # 5 and 6 exist: their part is rewritten in the same, never-finished commit
    conn.write_batch("docs", Batch(ids=ids, vectors={"": np.ones((4, 16), np.float32)},
                                   metadata=[{"crash": True}] * 4))
""")


@pytest.mark.parametrize("crash_at", ["part-rename", "manifest"])
def test_crash_mid_write_is_harmless(conn: ParquetConnector, crash_at: str) -> None:
    conn.create_collection(_schema(id_kind="int"))
    conn.write_batch("docs", _batch(list(range(10))))
    before = [r.metadata for r in conn.fetch("docs", list(range(10)))]
    proc = subprocess.run([sys.executable, "-c", _CRASHING_WRITER, str(conn.root), crash_at],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 17, proc.stderr
    folder = conn.root / "docs"
    listed = {p["file"] for p in json.loads((folder / "_manifest.json").read_text())["parts"]}
    leftovers = [n for n in os.listdir(folder) if n.startswith(".tmp-") or (n.startswith("part-") and n not in listed)]
    assert leftovers, "the crash should have left files behind"
    # Nothing of the half-done write is visible; the collection reads as before the crash.
    fresh = ParquetConnector(ConnectionConfig(url=str(conn.root)))
    assert fresh.count("docs") == 10
    assert sorted(_read_ids(fresh)) == list(range(10))
    assert [r.metadata for r in fresh.fetch("docs", list(range(10)))] == before
    # The next write succeeds and removes what the dead writer left.
    fresh.write_batch("docs", _batch([100], seed=4))
    names = os.listdir(folder)
    assert not [n for n in names if n.startswith(".tmp-")], names
    listed = {p["file"] for p in json.loads((folder / "_manifest.json").read_text())["parts"]}
    assert {n for n in names if n.endswith(".parquet")} == listed
    assert sorted(pq.read_table(folder).column("id").to_pylist()) == [*range(10), 100]


def test_leftovers_of_a_live_writer_are_kept(conn: ParquetConnector) -> None:
    conn.create_collection(_schema())
    folder = conn.root / "docs"
    parent_pid = os.getppid()  # alive for sure
    live = folder / f".tmp-{parquet_store._HOST}-{parent_pid}-abc.parquet"
    live.write_bytes(b"being written")
    conn.write_batch("docs", _batch(["a"]))
    assert live.exists()


def test_compact_merges_small_parts(conn: ParquetConnector) -> None:
    conn.create_collection(_schema(id_kind="int"))
    for start in range(0, 100, 10):
        conn.write_batch("docs", _batch(list(range(start, start + 10)), namespace="a" if start < 50 else None))
    before = [(b.namespace, r.id, r.metadata) for b in conn.read_batches("docs", batch_size=1000)
              for r in b.records()]
    stats = conn.compact("docs", target_rows=30)
    assert stats["parts_before"] == 10 and stats["parts_after"] == 4
    after = [(b.namespace, r.id, r.metadata) for b in conn.read_batches("docs", batch_size=1000)
             for r in b.records()]
    assert sorted(after, key=repr) == sorted(before, key=repr)
    assert conn.count("docs", "a") == 50


# ---- plain readers ---------------------------------------------------------------------------------------

def test_readable_by_plain_pyarrow_and_pandas(conn: ParquetConnector) -> None:
    conn.create_collection(_schema(id_kind="int", named=True, sparse=True))
    batch = _batch(list(range(12)), named=True, sparse=True, namespace="tenant")
    conn.write_batch("docs", batch)
    table = pq.read_table(conn.root / "docs")   # the manifest is _-prefixed, so pyarrow skips it
    assert table.column_names == ["id", "namespace", "vector_text", "vector_image", "sparse_kw", "metadata"]
    assert table.schema.field("vector_text").type == pa.list_(pa.float32(), DIM)
    assert table.schema.field("sparse_kw").type == pa.struct([("indices", pa.list_(pa.uint32())),
                                                              ("values", pa.list_(pa.float32()))])
    assert table.column("namespace").to_pylist() == ["tenant"] * 12
    mat = table.column("vector_text").combine_chunks().flatten().to_numpy().reshape(-1, DIM)
    assert np.array_equal(mat, batch.vectors["text"])
    assert [json.loads(m) for m in table.column("metadata").to_pylist()] == batch.metadata
    sp = table.column("sparse_kw").to_pylist()
    second = batch.sparse["kw"][1]
    assert sp[0] is None and second is not None and sp[1]["indices"] == second.indices.tolist()
    manifest = json.loads((conn.root / "docs" / "_manifest.json").read_text())
    assert manifest["format"] == "vectormigrate-parquet" and manifest["count"] == 12
    assert manifest["columns"]["vectors"] == {"text": "vector_text", "image": "vector_image"}
    assert CollectionSchema.from_json(manifest["schema"]).vectors == _schema(named=True).vectors
    pd = pytest.importorskip("pandas")
    df = pd.read_parquet(conn.root / "docs")
    assert len(df) == 12 and np.array_equal(np.stack(df["vector_text"].to_numpy()), batch.vectors["text"])


def test_readable_by_duckdb(conn: ParquetConnector) -> None:
    duckdb = pytest.importorskip("duckdb")
    conn.create_collection(_schema())
    conn.write_batch("docs", _batch(["a", "b"], metadata=[{"title": "x"}, {"title": "y"}]))
    glob = str(conn.root / "docs" / "part-*.parquet")
    rows = duckdb.sql(f"SELECT id, json_extract_string(metadata, '$.title') AS t, len(vector) AS d "
                      f"FROM read_parquet('{glob}') ORDER BY id").fetchall()
    assert rows == [("a", "x", DIM), ("b", "y", DIM)]


# ---- errors and search -----------------------------------------------------------------------------------

def test_missing_folder_is_collection_not_found_with_a_hint(tmp_path: Path) -> None:
    c = ParquetConnector(ConnectionConfig(url=str(tmp_path / "nowhere")))
    with pytest.raises(CollectionNotFound) as info:
        c.describe("docs")
    assert "does not exist" in (info.value.hint or "")
    assert not c.exists("docs")


def test_refuses_what_does_not_fit(conn: ParquetConnector) -> None:
    conn.create_collection(_schema(id_kind="int"))
    with pytest.raises(RecordError) as info:
        conn.write_batch("docs", _batch([1, "two"]))
    assert info.value.fields["record_id"] == "two"
    wrong_dim = Batch(ids=[1], vectors={"": np.zeros((1, DIM + 1), np.float32)})
    with pytest.raises(SchemaMismatchError):
        conn.write_batch("docs", wrong_dim)
    with pytest.raises(ConfigError):
        conn.describe("../etc")
    with pytest.raises(ConfigError):
        ParquetConnector(ConnectionConfig(url="http://localhost:1234"))
    assert conn.count("docs") == 0


def test_search_matches_the_memory_reference(conn: ParquetConnector) -> None:
    records = datagen.make_records(300, dim=DIM, id_kind="str", seed=5)
    schema = datagen.make_schema("docs", dim=DIM, id_kind="str")
    mem = MemoryConnector(ConnectionConfig(url=f"parquet-search-{uuid.uuid4().hex}"))
    try:
        for c in (conn, mem):
            c.create_collection(schema)
            for start in range(0, 300, 64):
                c.write_batch("docs", Batch.from_records(records[start:start + 64]))
        for rec in records[::50]:
            q = rec.vectors[""].tolist()
            got, want = conn.search("docs", "", q, 10), mem.search("docs", "", q, 10)
            assert [i for i, _ in got] == [i for i, _ in want]
            assert np.allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)
    finally:
        reset_memory_store(mem.config.url)


def test_drop_and_recreate(conn: ParquetConnector) -> None:
    conn.create_collection(_schema())
    conn.write_batch("docs", _batch(["a", "b"]))
    conn.drop_collection("docs")
    assert not conn.exists("docs") and not (conn.root / "docs").exists()
    conn.drop_collection("docs")   # dropping twice is fine
    conn.create_collection(_schema())
    conn.write_batch("docs", _batch(["a"]))   # the id index of the old incarnation must not leak
    assert conn.count("docs") == 1 and _read_ids(conn) == ["a"]


def test_never_deletes_foreign_files(conn: ParquetConnector) -> None:
    foreign = conn.root / "photos"
    foreign.mkdir(parents=True)
    (foreign / "holiday.jpg").write_bytes(b"not ours")
    with pytest.raises(ConfigError):
        conn.create_collection(_schema("photos"))
    conn.drop_collection("photos")       # not a collection: nothing to drop
    conn.create_collection(_schema())
    conn.write_batch("docs", _batch(["a"]))
    (conn.root / "docs" / "README.txt").write_text("a user's note")
    conn.drop_collection("docs")
    assert not conn.exists("docs")
    assert (foreign / "holiday.jpg").exists() and os.listdir(conn.root / "docs") == ["README.txt"]


# ---- conformance -----------------------------------------------------------------------------------------

class TestParquetConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, tmp_path: Path) -> Iterator[ParquetConnector]:
        with ParquetConnector(ConnectionConfig(url=str(tmp_path / "conformance"))) as conn:
            yield conn

    @pytest.fixture
    def collection_name(self) -> str:
        return "conformance"

    def reopen(self, connector: Connector) -> Connector:
        return ParquetConnector(connector.config)
