"""A migration started through the server survives the server: killed with SIGKILL mid-run, the next server
marks it interrupted (the lock died with the process); resume_migration continues it; killed again, a server
started with --resume-interrupted resumes it by itself; the result is exact (every id once, nothing lost)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import PY, Server, child_env, rpc, seed_parquet, start_server
from vectormigrate.connectors.base import ConnectionConfig
from vectormigrate.connectors.registry import open_connector
from vectormigrate.state.store import StateStore

N = 2000
FAST_POLL = ("--rate-limit", "100000")  # the test polls status every 0.1 s


def status(server: Server, mid: str) -> dict[str, Any]:
    res = rpc(server.url, "migration_status", {"migration_id": mid})
    assert res.status == 200, res.body
    return res.json()["result"]  # type: ignore[no-any-return]


def wait_for(server: Server, mid: str, predicate: Any, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc = status(server, mid)
        if predicate(doc):
            return doc
        assert time.monotonic() < deadline, doc
        time.sleep(0.05)


def test_killed_server_leaves_an_interrupted_migration_that_resumes(tmp_path: Path) -> None:
    seed_parquet(tmp_path / "pq", n=N, dim=8)
    state = tmp_path / "state.db"
    first = start_server(tmp_path, *FAST_POLL, state_db=state, name="first")
    started = rpc(first.url, "start_migration", {
        "migration_id": "mig-kill", "source_type": "parquet", "source_url": str(tmp_path / "pq"), "source_index": "docs",
        "target_type": "parquet", "target_url": str(tmp_path / "out"), "target_index": "docs", "batch_size": 50,
        "workers": 1, "validate_every": 0})
    assert started.status == 200, started.body
    wait_for(first, "mig-kill", lambda d: d["progress"]["migrated_records"] > 0)
    first.stop(signal.SIGKILL)

    second = start_server(tmp_path, *FAST_POLL, state_db=state, name="second")
    try:
        assert "mig-kill: interrupted" in second.stderr()
        doc = status(second, "mig-kill")
        assert doc["status"] == "interrupted" and 0 < doc["progress"]["migrated_records"] < N
        resumed = rpc(second.url, "resume_migration", {"migration_id": "mig-kill"})
        assert resumed.status == 200 and resumed.json()["result"]["status"] in ("in_progress", "completed")
        before = doc["progress"]["migrated_records"]
        wait_for(second, "mig-kill", lambda d: d["progress"]["migrated_records"] > before)
    finally:
        second.stop(signal.SIGKILL)

    third = start_server(tmp_path, "--resume-interrupted", *FAST_POLL, state_db=state, name="third")
    try:
        assert "mig-kill: resumed" in third.stderr()
        done = wait_for(third, "mig-kill", lambda d: d["status"] not in ("in_progress", "interrupted"), timeout=120)
        assert done["status"] == "completed", done
        assert done["progress"] == {"total_records": N, "migrated_records": N, "percentage": 100.0}
        report = rpc(third.url, "validate_migration", {"migration_id": "mig-kill", "full": True})
        assert report.json()["result"]["passed"] is True, report.body
    finally:
        third.stop()
    with open_connector("parquet", ConnectionConfig(url=str(tmp_path / "out"))) as out:
        ids = [i for b in out.read_batches("docs", batch_size=5000) for i in b.ids]
    assert len(ids) == len(set(ids)) == N


def test_stdio_server_stops_its_migrations_gracefully_on_sigterm(tmp_path: Path) -> None:
    """MCP clients close stdin, then send SIGTERM: a running migration stops at a checkpoint ("stopped")."""
    seed_parquet(tmp_path / "pq", n=N, dim=8)
    state = tmp_path / "state.db"
    proc = subprocess.Popen([PY, "-m", "vectormigrate", "mcp", "--state-db", str(state)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), cwd=tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"_meta": meta, "name": "start_migration",
            "arguments": {"migration_id": "mig-term", "source_type": "parquet", "source_url": str(tmp_path / "pq"),
                          "source_index": "docs", "target_type": "parquet", "target_url": str(tmp_path / "out"),
                          "target_index": "docs", "batch_size": 20, "workers": 1, "validate_every": 0}}}
    proc.stdin.write((json.dumps(call) + "\n").encode())
    proc.stdin.flush()
    reply = json.loads(proc.stdout.readline())
    assert reply["result"]["structuredContent"]["migration_id"] == "mig-term", reply
    store = StateStore(state)
    deadline = time.monotonic() + 30
    while store.get("mig-term").counters.records_written == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    row = store.get("mig-term")
    assert row.status in ("stopped", "completed"), row.status
    if row.status == "stopped":
        ckpt = store.checkpoint("mig-term")
        assert ckpt is not None and row.counters.records_written == ckpt.batch_seq * 20 < N
