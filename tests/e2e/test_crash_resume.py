"""Kill the CLI with SIGKILL mid-migration, at several points, then `resume`: the target ends equal to the
source, nothing missing and nothing duplicated. Real engines: Parquet source, Qdrant local / milvus-lite targets."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vectormigrate.connectors.base import ConnectionConfig
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.pipeline.compare import compare_record
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.state.store import StateStore

N = 1500
HERE = Path(__file__).parent


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vectormigrate", *args], capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=300, check=False)


def make_source(path: Path) -> None:
    with open_connector("parquet", ConnectionConfig(url=str(path))) as pq:
        pq.create_collection(make_schema("docs", dim=24, sparse=("kw",), namespaces=("a", "b")))
        for b in iter_batches(N, batch_size=300, dim=24, sparse=("kw",), namespaces=("a", "b"), seed=3):
            pq.write_batch("docs", b)


def migrate_args(tmp: Path, target: str, mid: str) -> list[str]:
    url = str(tmp / ("qdrant" if "qdrant" in target else "milvus.db"))
    return ["migrate", mid, "--source-type", "parquet", "--source-url", str(tmp / "pq"), "--source-index", "docs",
            "--target-type", target, "--target-url", url, "--target-index", "docs", "--batch-size", "50",
            "--workers", "3", "--state-db", str(tmp / "state.db"), "--json"]


def check_target_equals_source(tmp: Path, kind: str, mid: str) -> None:
    store = StateStore(tmp / "state.db")
    row = store.get(mid)
    assert row.status == "completed", row
    assert row.counters.records_written == N and row.counters.records_read == N
    with open_connector(kind, ConnectionConfig(url=str(tmp / ("qdrant" if kind == "qdrant" else "milvus.db")))) as tgt, \
            open_connector("parquet", ConnectionConfig(url=str(tmp / "pq"))) as src:
        plan = MigrationPlan.from_json(row.plan or {}, tgt.capabilities)
        tr = Transformer(plan)
        target_ids = {i for b in tgt.read_batches("docs", batch_size=500) for i in b.ids}
        source_ids = {tr.target_id(i) for b in src.read_batches("docs", batch_size=500) for i in b.ids}
        missing = sorted(source_ids - target_ids, key=str)
        assert not missing, f"{len(missing)} ids missing in the target: {missing[:5]}...{missing[-5:]}"
        assert tgt.count("docs") == N  # upserts by id: a re-written tail leaves no duplicates
        assert len(target_ids) == N
        for b in src.read_batches("docs", batch_size=500):
            wanted = [tr.target_id(i) for i in b.ids]
            assert set(wanted) <= target_ids
            got = {r.id: r for r in tgt.fetch("docs", wanted, tr.target_namespace(b.namespace))}
            for rec in b.records():
                assert compare_record(rec, got.get(tr.target_id(rec.id)), tr) == []


def wait_for_batches(db: Path, mid: str, k: int, proc: subprocess.Popen[str], timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"migration ended before it could be killed: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with sqlite3.connect(db, timeout=1) as conn:
                row = conn.execute("SELECT batches FROM migrations WHERE migration_id=?", (mid,)).fetchone()
        except sqlite3.Error:
            row = None
        if row and row[0] >= k:
            return int(row[0])
        time.sleep(0.01)
    pytest.fail("timed out waiting for progress")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    make_source(tmp_path / "pq")
    return tmp_path


TARGETS = ["qdrant", "milvus"]


@pytest.mark.parametrize("target", TARGETS)
def test_sigkill_at_several_points_then_resume(workdir: Path, target: str) -> None:
    """SIGKILL from outside after 1, 10 and 20 committed batches (three kills, one migration)."""
    mid = "kill"
    db = workdir / "state.db"
    proc = subprocess.Popen([sys.executable, "-m", "vectormigrate", *migrate_args(workdir, target, mid)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_batches(db, mid, 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    status = json.loads(cli("status", mid, "--state-db", str(db), "--json").stdout)
    assert status["status"] == "interrupted"  # the runner is gone: nobody holds the lock
    for k in (10, 20):
        proc = subprocess.Popen([sys.executable, "-m", "vectormigrate", "resume", mid, "--state-db", str(db),
                                 "--json"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_for_batches(db, mid, k, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = cli("resume", mid, "--state-db", str(db), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["status"] == "completed"
    check_target_equals_source(workdir, target, mid)


@pytest.mark.parametrize("point", ["after_write", "before_write"])
def test_crash_between_write_and_checkpoint(workdir: Path, point: str) -> None:
    """The process dies right after a write is durable but before its checkpoint (or just before a write)."""
    env = os.environ.copy() | {"VECTORMIGRATE_CONNECTORS": "crashy-qdrant=crashy:CrashyQdrant",
                               "PYTHONPATH": str(HERE), "VM_CRASH_AFTER": "7", "VM_CRASH_POINT": point}
    crashed = cli(*migrate_args(workdir, "crashy-qdrant", "c"), env=env)
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    store = StateStore(workdir / "state.db")
    ck = store.checkpoint("c")
    assert ck is not None and ck.batch_seq <= 7
    env.pop("VM_CRASH_AFTER")
    resumed = cli("resume", "c", "--state-db", str(workdir / "state.db"), "--json", env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    check_target_equals_source(workdir, "qdrant", "c")
