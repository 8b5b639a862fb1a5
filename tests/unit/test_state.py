"""The state database: versioned schema, atomic checkpoints, no secrets, locks."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from vectormigrate.errors import MigrationLocked, StateError
from vectormigrate.state.lock import MigrationLock
from vectormigrate.state.store import SCHEMA_VERSION, Counters, StateStore


def test_schema_is_versioned_and_wal(store: StateStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    # Opening again does not re-run migrations.
    StateStore(store.path)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.commit()
    with pytest.raises(StateError, match="newer"):
        StateStore(path)


def test_secrets_never_stored(store: StateStore) -> None:
    spec = {"source": {"type": "qdrant", "api_key": "sk-very-secret", "options": {"password": "hunter22"}},
            "target": {"token": "tok-secret-123"}}
    store.create("m", source_type="qdrant", target_type="milvus", spec=spec)
    store.set_status("m", "failed", error={"message": "boom", "api_key": "sk-very-secret"})
    store.add_event("m", "x", {"authorization": "Bearer abc"})
    raw = Path(store.path).read_bytes() + b"".join(
        p.read_bytes() for p in Path(store.path).parent.glob("state.db*") if p.is_file())
    for secret in (b"sk-very-secret", b"hunter22", b"tok-secret-123", b"Bearer abc"):
        assert secret not in raw
    row = store.get("m")
    assert row.spec["source"]["api_key_set"] is True


def test_checkpoint_and_counters_move_together(store: StateStore) -> None:
    store.create("m", source_type="a", target_type="b", spec={}, total_records=10)
    store.commit_checkpoint("m", cursor={"after": 3}, batch_seq=1, delta=Counters(records_read=3, records_written=3,
                                                                                    batches=1))
    store.commit_checkpoint("m", cursor={"after": 6}, batch_seq=2, delta=Counters(records_read=3, records_written=2,
                                                                                    records_failed=1, batches=1))
    ck = store.checkpoint("m")
    assert ck is not None and ck.cursor == {"after": 6} and ck.batch_seq == 2
    c = store.get("m").counters
    assert (c.records_read, c.records_written, c.records_failed, c.batches) == (6, 5, 1, 2)


def test_duplicate_and_unknown_ids(store: StateStore) -> None:
    store.create("m", source_type="a", target_type="b", spec={})
    with pytest.raises(StateError, match="already exists") as exc:
        store.create("m", source_type="a", target_type="b", spec={})
    assert "resume" in (exc.value.hint or "")
    with pytest.raises(StateError, match="no migration 'nope'"):
        store.get("nope")


def test_list_filters_sorts_pages(store: StateStore) -> None:
    for i in range(5):
        store.create(f"m{i}", source_type="a", target_type="b", spec={})
    store.set_status("m3", "in_progress")
    rows, total = store.list(limit=2, offset=1, sort_by="migration_id", sort_order="asc")
    assert [r.migration_id for r in rows] == ["m1", "m2"] and total == 5
    rows, total = store.list(status="in_progress")
    assert [r.migration_id for r in rows] == ["m3"] and total == 1
    assert store.get("m3").started_at is not None and store.get("m3").ended_at is None
    store.set_status("m3", "completed")
    assert store.get("m3").ended_at is not None


def test_lock_excludes_second_runner_and_dies_with_process(store: StateStore) -> None:
    with MigrationLock(store.path, "m"), pytest.raises(MigrationLocked, match="pid"):
        MigrationLock(store.path, "m").acquire()
    # A process that takes the lock and is SIGKILLed leaves no stale lock.
    code = ("import os,sys; from pathlib import Path; from vectormigrate.state.lock import MigrationLock;"
            f"MigrationLock(Path({str(store.path)!r}), 'k').acquire(); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", code], check=False)
    lock = MigrationLock(store.path, "k")
    lock.acquire()
    lock.release()


def test_events_and_reports(store: StateStore) -> None:
    store.create("m", source_type="a", target_type="b", spec={})
    store.add_event("m", "retry", {"error": "429"})
    assert store.events("m")[-1]["kind"] == "retry"
    store.add_report("m", "validation", False, {"summary": {"mismatches": 1}})
    assert store.get("m").validation == {"passed": False, "at": store.reports("m")[0]["ts"],
                                         "summary": {"mismatches": 1}}
    assert json.dumps(store.reports("m"))
