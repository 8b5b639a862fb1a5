"""The zero-downtime procedure through the MCP tools, driven by the official SDK's own client over stdio
(`vectormigrate mcp` as a child process): `start_dual_write`, `resume_migration` (the bulk copy), the application
writing through the DualWriter in this process, `sync_migration`, `cutover_migration` (refused without
confirmation, then validated and switched), `migration_status` showing the phase.

Source: a Parquet folder; target: a Qdrant local-mode folder (the vendor's embedded engine, with aliases). The
application's target writes fail on purpose, so every change reaches the target only through `sync_migration`.
The plain JSON-RPC endpoint of `vectormigrate serve` answers the same tools by name."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from conftest import PY, child_env, rpc, seed_parquet, start_server
from vectormigrate.connectors.base import Aliasable, ConnectionConfig
from vectormigrate.connectors.registry import get_class, open_connector
from vectormigrate.datagen import make_id, make_records
from vectormigrate.errors import TerminalError
from vectormigrate.model import Batch
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.server.jsonrpc import TOOL_FAILED, is_tool_call
from vectormigrate.server.tools import TOOL_NAMES
from vectormigrate.state.store import StateStore
from vectormigrate.testing.faulty import FaultyConnector
from vectormigrate.zerodowntime import DualWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zerodowntime"))
from zd_helpers import assert_target_equals_source  # the zero-downtime tests' own comparison

pytestmark = pytest.mark.anyio

N = 200
DIM = 16
MID = "mig-zd"
SECRET = "zd-secret-key-do-not-leak-0123456789"  # noqa: S105 - a fake key, to check it never leaks
ZD_TOOLS = ("start_dual_write", "sync_migration", "cutover_migration")


@asynccontextmanager
async def stdio_client(tmp: Path) -> AsyncIterator[Client]:
    args = ["-m", "vectormigrate", "mcp", "--state-db", str(tmp / "state.db"), "--audit-log", str(tmp / "audit.jsonl")]
    params = StdioServerParameters(command=PY, args=args, env=child_env(), cwd=str(tmp))
    async with Client(params, mode="legacy") as client:  # type: ignore[arg-type]
        yield client


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def error_text(result: Any) -> str:
    assert result.is_error, result.structured_content
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


class _Down(FaultyConnector):
    """The application's view of the target while it is down: every write fails (the dual-writer shrugs)."""

    def write_batch(self, collection: str, batch: Batch) -> None:
        raise TerminalError("target down", hint="test")

    def delete(self, collection: str, ids: Any, namespace: str | None = None) -> None:
        raise TerminalError("target down", hint="test")


UPDATED = [make_id(i) for i in range(10)]
ADDED = [make_id(i) for i in range(N + 100, N + 105)]
DELETED = [make_id(i) for i in range(20, 26)]


def application_writes(state_db: Path) -> int:
    """The application, after the bulk copy: updates, inserts and deletes through the dual-writer (in this
    process, as an application would), with the target down. Returns the journaled ids."""
    dead = _Down(open_connector("memory", ConnectionConfig(url="down")))
    with DualWriter.for_migration(MID, store=StateStore(state_db), target=dead) as dw:
        dw.upsert(make_records(len(UPDATED), dim=DIM, start=0, seed=99))
        dw.upsert(make_records(len(ADDED), dim=DIM, start=N + 100, seed=7))
        dw.delete(DELETED)
        stats = dw.stats()
    assert stats.target_failures == 3 and stats.target_writes == 0
    return stats.journaled_ids


def check_target(tmp: Path) -> None:
    """Opened here while the server holds nothing (Qdrant's local mode locks its folder): target == source."""
    plan = MigrationPlan.from_json(StateStore(tmp / "state.db").get(MID).plan or {}, get_class("qdrant").capabilities)
    tr = Transformer(plan)
    with open_connector("parquet", ConnectionConfig(url=str(tmp / "pq"))) as src, \
            open_connector("qdrant", ConnectionConfig(url=str(tmp / "qdrant"))) as tgt:
        assert assert_target_equals_source(src, "docs", tgt, plan) == N + len(ADDED) - len(DELETED)
        got = {r.id for r in tgt.fetch("docs_v2", [tr.target_id(i) for i in UPDATED + ADDED + DELETED])}
        assert got == {tr.target_id(i) for i in UPDATED + ADDED}  # journaled upserts there, deletes gone


def check_switched(tmp: Path) -> None:
    with open_connector("qdrant", ConnectionConfig(url=str(tmp / "qdrant"))) as tgt:
        assert isinstance(tgt, Aliasable) and tgt.resolve_alias("docs_live") == "docs_v2"
        assert tgt.count("docs_live") == N + len(ADDED) - len(DELETED)


def alias_target(tmp: Path) -> str | None:
    with open_connector("qdrant", ConnectionConfig(url=str(tmp / "qdrant"))) as tgt:
        assert isinstance(tgt, Aliasable)
        return tgt.resolve_alias("docs_live")


async def test_zero_downtime_procedure_through_the_tools(tmp_path: Path) -> None:
    seed_parquet(tmp_path / "pq", n=N, dim=DIM)
    outputs: list[dict[str, Any]] = []

    def ok(result: Any) -> dict[str, Any]:
        doc = structured(result)
        outputs.append(doc)
        return doc

    keys = {"source_api_key": SECRET, "target_api_key": SECRET}
    async with stdio_client(tmp_path) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert list(tools) == list(TOOL_NAMES) and set(ZD_TOOLS) <= set(tools)
        for name in ZD_TOOLS:
            t = tools[name]
            assert t.input_schema["type"] == "object" and t.description
            assert t.output_schema is not None and t.output_schema["type"] == "object", name
            assert t.annotations is not None and t.annotations.read_only_hint is False, name
        sync_ann, cut_ann = tools["sync_migration"].annotations, tools["cutover_migration"].annotations
        assert sync_ann is not None and sync_ann.idempotent_hint is True and sync_ann.destructive_hint is False
        assert cut_ann is not None and cut_ann.destructive_hint is True
        assert tools["sync_migration"].input_schema["required"] == ["migration_id"]
        assert {"confirm", "alias", "full_validation"} <= set(tools["cutover_migration"].input_schema["properties"])
        assert {"phase", "switch", "instructions", "validation"} <= set(
            tools["cutover_migration"].output_schema["properties"])  # type: ignore[index]

        # 1. Dual-write: plan, create the target, register the journal (nothing copied yet).
        started = ok(await client.call_tool("start_dual_write", {
            "migration_id": MID, "source_type": "parquet", "source_url": str(tmp_path / "pq"), "source_index": "docs",
            "target_type": "qdrant", "target_url": str(tmp_path / "qdrant"), "target_index": "docs_v2",
            "journal": str(tmp_path / "journal.db"), "alias": "docs_live"} | keys))
        assert started["coverage"] == "complete" and started["created_target"] is True
        assert any("sync_migration" in s for s in started["next_steps"])

        # 2. The bulk copy; a sync now has nothing to do and cutover is not possible yet.
        copied = ok(await client.call_tool("resume_migration", {"migration_id": MID, "wait": True} | keys))
        assert copied["status"] == "completed" and copied["result"]["records_written"] == N

        # 3. The application writes (target down: the journal is the only trace of the changes).
        journaled = await anyio.to_thread.run_sync(application_writes, tmp_path / "state.db")
        assert journaled == len(UPDATED) + len(ADDED) + len(DELETED)
        status = ok(await client.call_tool("migration_status", {"migration_id": MID}))
        assert status["zero_downtime"]["lag"]["entries"] == journaled

        # 4. sync_migration, with progress notifications.
        progress: list[tuple[float, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, message))

        synced = ok(await client.call_tool("sync_migration", {"migration_id": MID} | keys,
                                           progress_callback=on_progress))
        assert synced["status"] == "completed" and synced["mode"] == "journal", synced
        assert synced["entries"] == journaled and synced["checkpoint_held"] is None
        assert synced["upserted"] == len(UPDATED) + len(ADDED) and synced["deleted"] == len(DELETED)
        assert synced["lag"]["entries"] == 0 and synced["phase"] == "in_sync"
        assert progress and progress[0][1] == "sync: started" and progress[-1][1] == "sync: done"
        assert [v for v, _ in progress] == sorted({v for v, _ in progress})  # strictly increasing
        await anyio.to_thread.run_sync(check_target, tmp_path)
        again = ok(await client.call_tool("sync_migration", {"migration_id": MID} | keys))
        assert again["entries"] == 0 and again["upserted"] == 0  # idempotent: nothing new

        # 5. cutover_migration: refused without confirmation (nothing switched), then validated and switched.
        refused = await client.call_tool("cutover_migration", {"migration_id": MID} | keys)
        assert "not confirmed" in error_text(refused) and "confirm=true" in error_text(refused)
        assert ok(await client.call_tool("migration_status", {"migration_id": MID}))["phase"] == "in_sync"
        assert await anyio.to_thread.run_sync(alias_target, tmp_path) is None
        cut = ok(await client.call_tool("cutover_migration", {"migration_id": MID, "confirm": True,
                                                              "full_validation": True} | keys,
                                        progress_callback=on_progress))
        assert cut["switch"] | {"reason": None} == {"method": "alias", "alias": "docs_live", "collection": "docs_v2",
                                                    "previous": None, "reason": None}
        assert cut["validation"]["passed"] is True and cut["phase"] == "cut_over"
        assert cut["syncs"] and cut["syncs"][0]["entries"] == 0
        assert progress[-1][1] == "cutover: done"
        status = ok(await client.call_tool("migration_status", {"migration_id": MID}))
        assert status["phase"] == "cut_over" and status["zero_downtime"]["phase"] == "cut over"
        assert status["zero_downtime"]["cutover"]["switch"]["alias"] == "docs_live"
        assert status["last_validation"]["passed"] is True

        unknown = await client.call_tool("sync_migration", {"migration_id": "nope"})
        assert "no migration 'nope'" in error_text(unknown) and "hint:" in error_text(unknown)

    await anyio.to_thread.run_sync(check_switched, tmp_path)
    # The keys were used (never needed by these engines) and never stored, returned or written to the audit log.
    assert SECRET not in json.dumps(outputs)
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    zd_calls = [a for a in audit if a["tool"] in ZD_TOOLS and a["migration_id"] == MID]
    assert {a["tool"] for a in zd_calls} == set(ZD_TOOLS)
    assert all(a["args"]["source_api_key"] == a["args"]["target_api_key"] == "***" for a in zd_calls)
    assert SECRET not in (tmp_path / "audit.jsonl").read_text()
    with sqlite3.connect(tmp_path / "state.db") as db:
        dumped = "\n".join(db.iterdump())
    assert SECRET not in dumped


def test_zero_downtime_tools_are_plain_json_rpc_methods(tmp_path: Path) -> None:
    assert all(is_tool_call({"method": name}) for name in ZD_TOOLS)
    server = start_server(tmp_path)
    try:
        r = rpc(server.url, "sync_migration", {"migration_id": "nope", "source_api_key": SECRET})
        assert r.status == 200 and r.json()["error"]["code"] == TOOL_FAILED
        assert r.json()["error"]["message"].startswith("no migration 'nope'") and r.json()["error"]["data"]["hint"]
        r = rpc(server.url, "cutover_migration", {"migration_id": "nope"})
        assert r.status == 200 and r.json()["error"]["code"] == TOOL_FAILED
        assert "not confirmed" in r.json()["error"]["message"] and "confirm=true" in r.json()["error"]["data"]["hint"]
        r = rpc(server.url, "cutover_migration", {"migration_id": "nope", "confirm": True})
        assert r.json()["error"]["message"].startswith("no migration 'nope'")
        r = rpc(server.url, "start_dual_write", {"source_type": "parquet"})
        assert r.status == 400 and {e["field"] for e in r.json()["error"]["data"]["errors"]} >= {"journal",
                                                                                                 "source_index"}
    finally:
        server.stop()
    assert SECRET not in server.audit.read_text()
    assert any(a["tool"] == "sync_migration" and a["args"]["source_api_key"] == "***" for a in server.audit_lines())
