"""The runner on the reference connector with injected faults: retries, terminal stops, dead letters,
crashes between write and checkpoint, resume, dry runs and bounded memory."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from vectormigrate.connectors.base import ConnectionConfig
from vectormigrate.connectors.memory import MemoryConnector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.errors import StateError
from vectormigrate.pipeline.compare import compare_record
from vectormigrate.pipeline.plan import build_plan
from vectormigrate.pipeline.runner import Runner, RunOptions
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.service import Endpoint, MigrationSpec, migrate, resume, status_json
from vectormigrate.state.store import StateStore
from vectormigrate.testing.faulty import FaultyConnector, SimulatedCrash

N = 1000


def seed_source(n: int = N, namespaces: tuple[str, ...] = ("en", "fr"), nan_at: int | None = None) -> MemoryConnector:
    src = MemoryConnector(ConnectionConfig(url="src"))
    src.create_collection(make_schema("docs", dim=16, sparse=("kw",), namespaces=namespaces))
    seen = 0
    for b in iter_batches(n, batch_size=128, dim=16, sparse=("kw",), namespaces=namespaces, seed=1):
        if nan_at is not None and seen <= nan_at < seen + len(b):
            b.vectors[""][nan_at - seen, 0] = np.nan
        seen += len(b)
        src.write_batch("docs", b)
    return src


def spec(mid: str = "m1", **kw: object) -> MigrationSpec:
    return MigrationSpec(mid, Endpoint("memory", "docs", url="src"), Endpoint("memory", "docs", url="dst"),
                         batch_size=50, workers=3, **kw)  # type: ignore[arg-type]


def assert_target_equals_source(src: MemoryConnector, transformer: Transformer, expect_missing: set[object]) -> None:
    dst = MemoryConnector(ConnectionConfig(url="dst"))
    src_ids = {r for b in src.read_batches("docs", batch_size=500) for r in b.ids}
    dst_ids = {r for b in dst.read_batches("docs", batch_size=500) for r in b.ids}
    assert dst_ids == src_ids - expect_missing
    assert dst.count("docs") == len(dst_ids)  # no duplicates
    for b in src.read_batches("docs", batch_size=500):
        got = {r.id: r for r in dst.fetch("docs", b.ids, b.namespace)}
        for rec in b.records():
            if rec.id in expect_missing:
                continue
            assert compare_record(rec, got.get(rec.id), transformer) == []


def run_with_target(store: StateStore, target: FaultyConnector, mid: str = "m1", **opts: object) -> object:
    src = MemoryConnector(ConnectionConfig(url="src"))
    sp = spec(mid)
    plan = build_plan("memory", src.describe("docs"), src.capabilities, "memory", target.capabilities, "docs")
    store.create(mid, source_type="memory", target_type="memory", spec=sp.to_json(), plan=plan.to_json(),
                 total_records=N)
    target.prepare(plan.target_schema)
    runner = Runner(migration_id=mid, source=src, target=target, plan=plan, source_collection="docs",
                    options=RunOptions(batch_size=50, workers=3, backoff_base=0.001, **opts),  # type: ignore[arg-type]
                    store=store, dead_letters=None)
    return runner.run(), plan


def test_clean_migration_preserves_everything(store: StateStore) -> None:
    src = seed_source()
    out = migrate(spec(), store)
    assert out.result.status == "completed"
    assert out.result.counters.records_written == N and out.result.counters.records_read == N
    assert_target_equals_source(src, Transformer(out.plan), set())
    st = status_json(store, "m1")
    assert st["progress"] == {"total_records": N, "migrated_records": N, "percentage": 100.0}
    assert st["status"] == "completed" and st["ended_at"]


def test_transient_errors_are_retried_and_counted(store: StateStore) -> None:
    src = seed_source()
    target = FaultyConnector(MemoryConnector(ConnectionConfig(url="dst")), transient_every=3, transient_times=2)
    result, plan = run_with_target(store, target)
    assert result.status == "completed"  # type: ignore[attr-defined]
    assert result.counters.retries == target.stats().transient_raised > 0  # type: ignore[attr-defined]
    assert store.get("m1").counters.retries == result.counters.retries  # type: ignore[attr-defined]
    assert_target_equals_source(src, Transformer(plan), set())  # type: ignore[arg-type]


def test_retries_exhausted_stop_cleanly_and_resume_completes(store: StateStore) -> None:
    src = seed_source()
    target = FaultyConnector(MemoryConnector(ConnectionConfig(url="dst")), transient_batches=[7], transient_times=10)
    result, plan = run_with_target(store, target, max_retries=2)
    assert result.status == "failed" and "transient" in result.error.kind  # type: ignore[attr-defined]
    ck = store.checkpoint("m1")
    assert ck is not None and ck.batch_seq < 20
    written_before = store.get("m1").counters.records_written
    assert written_before == ck.batch_seq * 50  # counters match the checkpoint exactly
    out = resume("m1", store)
    assert out.result.status == "completed"
    assert store.get("m1").counters.records_written == N
    assert_target_equals_source(src, Transformer(plan), set())  # type: ignore[arg-type]


def test_terminal_error_is_not_retried(store: StateStore) -> None:
    seed_source()
    target = FaultyConnector(MemoryConnector(ConnectionConfig(url="dst")), terminal_at_write=4)
    result, _ = run_with_target(store, target, max_retries=5)
    assert result.status == "failed" and result.counters.retries == 0  # type: ignore[attr-defined]
    assert target.stats().terminal_raised == 1


def test_rejected_record_goes_to_dead_letters_and_the_rest_is_written(store: StateStore, tmp_path: Path) -> None:
    src = seed_source(nan_at=10)
    bad_ids = [b.ids[3] for b in src.read_batches("docs", batch_size=300)][:2]
    out = migrate(spec(dead_letter_path=str(tmp_path / "dead.jsonl")), store)
    assert out.result.counters.records_failed == 1
    lines = (tmp_path / "dead.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "NaN" in lines[0] and "doc-" in lines[0]
    assert out.result.counters.records_written == N - 1
    assert bad_ids  # the ids exist; the DB-side rejection is covered below

    store2 = StateStore(tmp_path / "s2.db")
    target = FaultyConnector(MemoryConnector(ConnectionConfig(url="dst2")), reject_ids=bad_ids)
    result, _ = run_with_target(store2, target, mid="m2")
    # The NaN record (dead-lettered by the transform) plus the two the database refused.
    assert result.status == "completed" and result.counters.records_failed == 3  # type: ignore[attr-defined]
    assert MemoryConnector(ConnectionConfig(url="dst2")).count("docs") == N - 3


@pytest.mark.parametrize("crash_after", [1, 7, 19])
@pytest.mark.parametrize("point", ["after_write", "before_write"])
def test_crash_then_resume_loses_and_duplicates_nothing(store: StateStore, crash_after: int, point: str) -> None:
    src = seed_source()
    target = FaultyConnector(MemoryConnector(ConnectionConfig(url="dst")), crash_after_writes=crash_after,
                             crash_point=point)  # type: ignore[arg-type]
    with pytest.raises(SimulatedCrash):
        run_with_target(store, target)
    ck = store.checkpoint("m1")
    assert ck is None or ck.batch_seq <= crash_after
    out = resume("m1", store)
    assert out.result.status == "completed"
    row = store.get("m1")
    assert row.counters.records_read == N and row.counters.records_written == N
    assert_target_equals_source(src, Transformer(out.plan), set())


def test_dry_run_writes_nothing_and_records_nothing(store: StateStore) -> None:
    seed_source(nan_at=5)
    out = migrate(spec(), store, dry_run=True)
    assert out.dry_run and out.result.counters.records_written == N - 1 and out.result.counters.records_failed == 1
    assert not MemoryConnector(ConnectionConfig(url="dst")).exists("docs")
    assert not store.exists("m1")


def test_second_migrate_with_same_id_is_refused(store: StateStore) -> None:
    seed_source()
    migrate(spec(), store)
    with pytest.raises(StateError, match="already exists"):
        migrate(spec(), store)
    with pytest.raises(StateError, match="already completed"):
        resume("m1", store)


def test_stop_event_stops_and_resume_finishes(store: StateStore) -> None:
    src = seed_source()
    stop = threading.Event()
    seen = []

    def on_progress(p: object) -> None:
        seen.append(p)
        if len(seen) == 3:
            stop.set()

    out = migrate(spec(), store, on_progress=on_progress, stop=stop)
    assert out.result.status == "stopped" and store.get("m1").status == "stopped"
    assert store.get("m1").counters.records_written < N
    resume("m1", store)
    assert_target_equals_source(src, Transformer(out.plan), set())


def test_memory_is_bounded_by_queue_not_collection(store: StateStore) -> None:
    """The reader never runs more than queue_depth + workers batches ahead of the committed mark."""
    seed_source()
    target = FaultyConnector(MemoryConnector(ConnectionConfig(url="dst")), write_latency=0.002)
    src = MemoryConnector(ConnectionConfig(url="src"))
    plan = build_plan("memory", src.describe("docs"), src.capabilities, "memory", target.capabilities, "docs")
    target.prepare(plan.target_schema)
    runner = Runner(migration_id="b", source=src, target=target, plan=plan, source_collection="docs",
                    options=RunOptions(batch_size=20, workers=2, queue_depth=3, dry_run=True), store=None,
                    dead_letters=None)
    peak = 0
    orig = runner._submit

    def spy(seq: int, batch: object) -> None:
        nonlocal peak
        peak = max(peak, len(runner._pending))
        orig(seq, batch)  # type: ignore[arg-type]

    runner._submit = spy  # type: ignore[method-assign]
    assert runner.run().status == "completed"
    assert peak <= 3 + 2 + 1
