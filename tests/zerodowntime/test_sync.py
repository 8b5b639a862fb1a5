"""`sync`: journal replay (idempotent, resumable, held while the bulk copy runs) and `--full` (streaming compare and
repair for applications that bypass the dual-writer)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from zd_helpers import assert_target_equals_source, snapshot

from vectormigrate.connectors.base import Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_id, make_records, make_schema
from vectormigrate.errors import StateError, TerminalError
from vectormigrate.model import Batch
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.validate import ValidationOptions
from vectormigrate.service import Endpoint, MigrationSpec, migrate, validate
from vectormigrate.state.store import StateStore
from vectormigrate.testing.faulty import FaultyConnector
from vectormigrate.zerodowntime import DualWriter
from vectormigrate.zerodowntime.journal import SQLiteJournal
from vectormigrate.zerodowntime.service import start_dual_write, status_section, sync_migration

DIM = 8
N = 100
SRC = Endpoint("memory", "docs", url="s")
TGT = Endpoint("memory", "docs2", url="t")


def seed(conn: Connector, n: int = N, start: int = 0) -> None:
    if not conn.exists("docs"):
        conn.create_collection(make_schema("docs", dim=DIM))
    for b in iter_batches(n, batch_size=50, dim=DIM, start=start, seed=1):
        conn.write_batch("docs", b)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[StateStore, Connector, Connector, DualWriter]:
    """A dual-written migration whose bulk copy has completed, with 60 journaled changes waiting."""
    src, tgt = open_connector("memory", SRC.config()), open_connector("memory", TGT.config())
    seed(src)
    store = StateStore(tmp_path / "state.db")
    spec = MigrationSpec("m", SRC, TGT, batch_size=50)

    def on_started(plan: MigrationPlan) -> None:
        start_dual_write(spec, store, journal=tmp_path / "j.db")

    migrate(spec, store, connectors=(src, tgt), on_started=on_started)
    # The application's writes landed on the source only (as if every target write had failed).
    dw = DualWriter.for_migration("m", store=store, source=src, target=_Dead(tgt))
    for i in range(40):
        dw.upsert(make_records(1, dim=DIM, start=i * 3, seed=50 + i))
    dw.delete([make_id(i) for i in range(1, 60, 3)])
    assert dw.stats().journaled_ids == 60 and dw.stats().target_failures == 41
    return store, src, tgt, dw


class _Dead(FaultyConnector):
    def write_batch(self, collection: str, batch: Batch) -> None:
        raise TerminalError("down", hint="test")

    def delete(self, collection: str, ids: Any, namespace: str | None = None) -> None:
        raise TerminalError("down", hint="test")


class FailAt(FaultyConnector):
    """Fails (terminally) the ``at``-th write_batch, once."""

    def __init__(self, inner: Connector, at: int) -> None:
        super().__init__(inner)
        self.at, self.n = at, 0

    def write_batch(self, collection: str, batch: Batch) -> None:
        self.n += 1
        if self.n == self.at:
            raise TerminalError("injected", hint="test")
        self.inner.write_batch(collection, batch)


def plan_of(store: StateStore, tgt: Connector) -> MigrationPlan:
    return MigrationPlan.from_json(store.get("m").plan or {}, tgt.capabilities)


def test_sync_replays_the_journal_then_is_a_no_op(setup: Any) -> None:
    store, src, tgt, _ = setup
    assert status_section(store, "m")["lag"] == {"entries": 60, "ids": 60, "head": 60,  # type: ignore[index]
                                                 "oldest_age_s": pytest.approx(0, abs=60)}
    first = sync_migration("m", store, connectors=(src, tgt), batch_size=16)
    assert first["status"] == "completed" and first["windows"] == 4 and first["entries"] == 60
    assert first["checkpoint_after"] == 60 and first["pruned"] == 60 and first["phase"] == "in_sync"
    assert first["deleted"] == 20
    assert_target_equals_source(src, "docs", tgt, plan_of(store, tgt))
    before = snapshot(tgt, "docs2")
    second = sync_migration("m", store, connectors=(src, tgt))
    assert (second["entries"], second["upserted"], second["deleted"]) == (0, 0, 0)
    after = snapshot(tgt, "docs2")
    assert after.keys() == before.keys() and all(after[k].metadata == before[k].metadata for k in after)


def test_replaying_entries_again_changes_nothing(setup: Any) -> None:
    store, src, tgt, _ = setup
    sync_migration("m", store, connectors=(src, tgt), prune=False)
    once = snapshot(tgt, "docs2")
    store.clear_checkpoint("m", "sync")  # as if the checkpoint commit had been lost in a crash
    again = sync_migration("m", store, connectors=(src, tgt))
    assert again["entries"] == 60 and again["checkpoint_before"] == 0
    twice = snapshot(tgt, "docs2")
    assert twice.keys() == once.keys() and all(twice[k].metadata == once[k].metadata for k in twice)


def test_a_failed_sync_resumes_from_its_checkpoint(setup: Any) -> None:
    store, src, tgt, _ = setup
    broken = sync_migration("m", store, connectors=(src, FailAt(tgt, at=3)), batch_size=10)
    assert broken["status"] == "failed" and broken["error"]["message"] == "injected"
    assert broken["checkpoint_after"] == 20 and broken["lag"]["entries"] == 40  # two windows done, in order
    stop = threading.Event()
    stopped = sync_migration("m", store, connectors=(src, tgt), batch_size=10,
                             on_progress=lambda r: stop.set() if r.windows == 2 else None, stop=stop)
    assert stopped["status"] == "stopped" and stopped["checkpoint_before"] == 20
    assert stopped["checkpoint_after"] == 40
    rest = sync_migration("m", store, connectors=(src, tgt), batch_size=10)
    assert rest["status"] == "completed" and rest["checkpoint_before"] == 40 and rest["entries"] == 20
    assert_target_equals_source(src, "docs", tgt, plan_of(store, tgt))


def test_while_the_copy_runs_the_checkpoint_is_held(setup: Any) -> None:
    store, src, tgt, _ = setup
    store.set_status("m", "in_progress")
    held = sync_migration("m", store, connectors=(src, tgt))
    assert held["entries"] == 60 and held["checkpoint_after"] == 0 and "bulk copy is in_progress" in held[
        "checkpoint_held"]
    assert held["pruned"] == 0 and held["lag"]["entries"] == 60
    with SQLiteJournal(store.path.parent / "j.db") as j:
        assert len(j.read("m", after=0, limit=100)) == 60  # nothing pruned: the next pass needs it all
    store.set_status("m", "completed")
    done = sync_migration("m", store, connectors=(src, tgt))
    assert done["entries"] == 60 and done["checkpoint_after"] == 60


def test_sync_refuses_another_journal_and_rolled_back_migrations(setup: Any, tmp_path: Path) -> None:
    store, src, tgt, _ = setup
    with pytest.raises(StateError, match="not the one registered"):
        sync_migration("m", store, connectors=(src, tgt), journal=str(tmp_path / "other.db"))
    store.set_status("m", "rolled_back")
    with pytest.raises(StateError, match="rolled back"):
        sync_migration("m", store, connectors=(src, tgt))


# -- --full ---------------------------------------------------------------------------------------------------------
def bypass(src: Connector, tgt: Connector) -> None:
    """An application without the dual-writer: the source changes, the target does not; plus a stray record."""
    for i in range(0, 30, 3):
        src.write_batch("docs", Batch.from_records(make_records(1, dim=DIM, start=i, seed=99)))  # 10 updated
    seed(src, n=7, start=1000)                                                                # 7 inserted
    src.delete("docs", [make_id(i) for i in range(50, 55)])                                   # 5 deleted
    tgt.write_batch("docs2", Batch.from_records(make_records(1, dim=DIM, start=5000)))        # 1 stray


def test_full_sync_repairs_an_application_that_bypassed_the_dual_writer(tmp_path: Path) -> None:
    src, tgt = open_connector("memory", SRC.config()), open_connector("memory", TGT.config())
    seed(src)
    store = StateStore(tmp_path / "state.db")
    migrate(MigrationSpec("m", SRC, TGT, batch_size=50), store, connectors=(src, tgt))
    bypass(src, tgt)
    assert not validate("m", store, ValidationOptions(full=True)).passed
    stop = threading.Event()
    part = sync_migration("m", store, full=True, connectors=(src, tgt), batch_size=20,
                          on_progress=lambda r: stop.set() if r.checked >= 40 else None, stop=stop)
    assert part["status"] == "stopped" and part["checked"] == 40
    assert status_section(store, "m")["full_sync_in_progress"] is True  # type: ignore[index]
    rest = sync_migration("m", store, full=True, connectors=(src, tgt), batch_size=20)
    assert rest["status"] == "completed" and rest["checked"] == N + 7 - 5 - 40  # resumed after the first 40
    assert part["different"] + rest["different"] == 10 and rest["missing"] == 7 and rest["extra_in_target"] == 6
    assert validate("m", store, ValidationOptions(full=True)).passed
    assert_target_equals_source(src, "docs", tgt, MigrationPlan.from_json(store.get("m").plan or {},
                                                                          tgt.capabilities))
    clean = sync_migration("m", store, full=True, connectors=(src, tgt))
    assert (clean["missing"], clean["different"], clean["extra_in_target"]) == (0, 0, 0)
    assert status_section(store, "m")["full_sync_in_progress"] is False  # type: ignore[index]


def test_full_sync_keeps_target_records_that_predate_the_migration(tmp_path: Path) -> None:
    src, tgt = open_connector("memory", SRC.config()), open_connector("memory", TGT.config())
    seed(src)
    tgt.create_collection(make_schema("docs2", dim=DIM))
    for b in iter_batches(5, batch_size=5, dim=DIM, start=7000):
        tgt.write_batch("docs2", b)  # the application's older data, not in the source
    store = StateStore(tmp_path / "state.db")
    migrate(MigrationSpec("m", SRC, TGT, batch_size=50), store, connectors=(src, tgt))
    src.delete("docs", [make_id(3), make_id(4)])
    result = sync_migration("m", store, full=True, connectors=(src, tgt))
    assert result["extra_in_target"] == 2 and result["foreign_kept"] == 5
    assert len(tgt.fetch("docs2", [make_id(i) for i in range(7000, 7005)])) == 5
    assert not tgt.fetch("docs2", [make_id(3), make_id(4)])


def test_full_sync_waits_for_the_copy(tmp_path: Path) -> None:
    src, tgt = open_connector("memory", SRC.config()), open_connector("memory", TGT.config())
    seed(src)
    store = StateStore(tmp_path / "state.db")
    start_dual_write(MigrationSpec("m", SRC, TGT), store, journal=tmp_path / "j.db", connectors=(src, tgt))
    with pytest.raises(StateError, match="compares finished copies"):
        sync_migration("m", store, full=True, connectors=(src, tgt))
