"""The official SDK's own client drives a real migration through the tools, over stdio (`vectormigrate mcp` as a
child process) and over Streamable HTTP (`vectormigrate serve` as a child process), in both protocol eras:
2026-07-28 (stateless, `_meta` per request) and the legacy initialize/session handshake (2025-11-25).

Source: a Parquet folder made with `vectormigrate.datagen`; target: a Qdrant local-mode folder (the vendor's
embedded engine) in the legacy era, a Parquet folder in the modern one. The flow is what an assistant would do:
list and inspect tools, plan, start, poll status to completion, validate, refuse an unconfirmed rollback, roll
back with confirmation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from conftest import KEY, PY, Server, child_env, seed_parquet, start_server
from vectormigrate.server.tools import TOOL_NAMES

pytestmark = pytest.mark.anyio

MODES = ["legacy", "2026-07-28"]
EXPECTED_VERSION = {"legacy": "2025-11-25", "2026-07-28": "2026-07-28"}
N = 600
# Qdrant's local mode is the real embedded engine but takes ~2 s to open; Parquet keeps the other era quick.
TARGET = {"legacy": "qdrant", "2026-07-28": "parquet"}


@asynccontextmanager
async def stdio_client(state_db: Path, mode: str) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=PY, args=["-m", "vectormigrate", "mcp", "--state-db", str(state_db)],
                                   env=child_env(), cwd=str(state_db.parent))
    async with Client(params, mode=mode) as client:  # type: ignore[arg-type]
        yield client


@asynccontextmanager
async def http_client(server: Server, mode: str, path: str = "/mcp") -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"},
                           timeout=httpx2.Timeout(30.0, read=120.0)) as http,
        Client(streamable_http_client(server.url + path, http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        yield client


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def error_text(result: Any) -> str:
    assert result.is_error, result.structured_content
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def check_tools(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert list(tools) == list(TOOL_NAMES)  # deterministic order
    for tool in tools.values():
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", tool.name
        assert tool.annotations is not None and tool.description
    ann = {name: t.annotations for name, t in tools.items()}
    for name in ("list_connectors", "describe_collection", "schema_recommendation", "migration_status",
                 "list_migrations"):
        assert ann[name].read_only_hint is True, name  # type: ignore[union-attr]
    rb = ann["rollback_migration"]
    assert rb is not None and rb.read_only_hint is False and rb.destructive_hint is True
    stop = ann["stop_migration"]
    assert stop is not None and stop.destructive_hint is False and stop.idempotent_hint is True
    start = ann["start_migration"]
    assert start is not None and start.read_only_hint is False and start.idempotent_hint is False
    assert "confirm" in tools["rollback_migration"].input_schema["properties"]
    assert tools["start_migration"].input_schema["required"] == ["source_type", "source_index", "target_type",
                                                                 "target_index"]
    status_out = tools["migration_status"].output_schema
    assert status_out is not None
    assert {"migration_id", "status", "progress", "batches_processed", "started_at", "ended_at"} <= set(
        status_out["properties"])


async def wait_completed(client: Client, mid: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc = structured(await client.call_tool("migration_status", {"migration_id": mid}))
        if doc["status"] not in ("pending", "in_progress"):
            return doc
        assert time.monotonic() < deadline, doc
        await anyio.sleep(0.2)


async def full_flow(client: Client, tmp: Path, mid: str, *, connectors: bool, target: str) -> None:
    src, dst = str(tmp / "pq"), str(tmp / f"{target}-{mid}")
    await check_tools(client)
    if connectors:  # imports every database SDK (seconds): once per transport is enough
        conns = {c["type"]: c for c in structured(await client.call_tool("list_connectors", {}))["connectors"]}
        assert conns["parquet"]["installed"] and conns["qdrant"]["installed"]

    described = structured(await client.call_tool("describe_collection", {"type": "parquet", "url": src,
                                                                          "index": "docs"}))
    assert described["count"] == N and described["vectors"][0]["dim"] == 16

    plan = structured(await client.call_tool("schema_recommendation", {
        "source_type": "parquet", "source_url": src, "source_index": "docs", "target_type": target,
        "target_url": dst, "target_index": "dst"}))
    assert plan["errors"] == [] and plan["estimated_records"] == N
    assert {m["source_field"] for m in plan["field_mappings"]} >= {"id", "title"}

    missing = await client.call_tool("migration_status", {"migration_id": "nope"})
    assert "no migration 'nope'" in error_text(missing)

    started = structured(await client.call_tool("start_migration", {
        "migration_id": mid, "source_type": "parquet", "source_url": src, "source_index": "docs",
        "target_type": target, "target_url": dst, "target_index": "dst", "batch_size": 100}))
    assert started["migration_id"] == mid and started["status"] in ("in_progress", "completed")

    again = await client.call_tool("start_migration", {
        "migration_id": mid, "source_type": "parquet", "source_url": src, "source_index": "docs",
        "target_type": target, "target_url": dst, "target_index": "dst"})
    assert "already" in error_text(again)

    done = await wait_completed(client, mid)
    assert done["status"] == "completed", done
    assert done["progress"] == {"total_records": N, "migrated_records": N, "percentage": 100.0}
    assert done["counters"]["records_written"] == N and done["ended_at"]

    listed = structured(await client.call_tool("list_migrations", {"status": "completed", "limit": 5}))
    assert mid in [m["migration_id"] for m in listed["migrations"]]

    report = structured(await client.call_tool("validate_migration", {"migration_id": mid, "sample_size": 50,
                                                                      "seed": 3}))
    assert report["passed"] is True, report
    assert report["counts"][0]["source"] == N and report["counts"][0]["target"] == N
    assert report["sample"]["checked"] == 50

    refused = await client.call_tool("rollback_migration", {"migration_id": mid})
    assert "confirm=true" in error_text(refused)
    assert structured(await client.call_tool("migration_status", {"migration_id": mid}))["status"] == "completed"

    rolled = structured(await client.call_tool("rollback_migration", {"migration_id": mid, "confirm": True}))
    assert rolled["status"] == "completed" and rolled["dropped_collection"] is True
    assert structured(await client.call_tool("migration_status", {"migration_id": mid}))["status"] == "rolled_back"
    gone = await client.call_tool("describe_collection", {"type": target, "url": dst, "index": "dst"})
    assert "collection 'dst' does not exist" in error_text(gone)  # the one the migration created was dropped


@pytest.mark.parametrize("mode", MODES)
async def test_stdio_full_flow(tmp_path: Path, mode: str) -> None:
    seed_parquet(tmp_path / "pq", n=N)
    async with stdio_client(tmp_path / "state.db", mode) as client:
        assert client.protocol_version == EXPECTED_VERSION[mode]
        await full_flow(client, tmp_path, f"mig-stdio-{mode}", connectors=mode == "legacy",
                        target=TARGET[mode])


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `vectormigrate serve` for the HTTP tests of this module (each test uses its own ids and folders)."""
    tmp = tmp_path_factory.mktemp("http")
    server = start_server(tmp)
    yield server
    server.stop()


@pytest.mark.parametrize("mode", MODES)
async def test_http_full_flow(tmp_path: Path, http_server: Server, mode: str) -> None:
    seed_parquet(tmp_path / "pq", n=N)
    path = "/mcp" if mode == "legacy" else "/"  # both paths serve MCP
    async with http_client(http_server, mode, path) as client:
        assert client.protocol_version == EXPECTED_VERSION[mode]
        await full_flow(client, tmp_path, f"mig-http-{mode}", connectors=False,
                        target=TARGET[mode])
    calls = [a for a in http_server.audit_lines() if a["tool"] == "start_migration"
             and a.get("migration_id") == f"mig-http-{mode}"]
    assert calls and all(a["who"].startswith("key:") and a["transport"] == "mcp" for a in calls)
    assert KEY not in http_server.audit.read_text()


@pytest.mark.parametrize("mode", MODES)
async def test_http_progress_stop_resume(tmp_path: Path, http_server: Server, mode: str) -> None:
    """wait=true streams progress notifications; stop_migration stops a run at a checkpoint; resume finishes it."""
    n = 3000
    seed_parquet(tmp_path / "pq", n=n)
    async with http_client(http_server, mode) as client:
        seen: list[tuple[float, float | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total))

        base = {"source_type": "parquet", "source_url": str(tmp_path / "pq"), "source_index": "docs",
                "target_type": "parquet", "target_url": str(tmp_path / "out")}
        small = structured(await client.call_tool("start_migration", base | {
            "migration_id": f"waited-{mode}", "target_index": "waited", "batch_size": 200, "wait": True},
            progress_callback=on_progress))
        assert small["status"] == "completed" and small["result"]["records_written"] == n
        assert seen, "no progress notification"
        assert [p for p, _ in seen] == sorted({p for p, _ in seen}) and seen[-1] == (float(n), float(n))
        checks: list[float] = []

        async def on_check(progress: float, total: float | None, message: str | None) -> None:
            checks.append(progress)

        report = structured(await client.call_tool("validate_migration", {"migration_id": f"waited-{mode}",
                                                                          "full": True}, progress_callback=on_check))
        assert report["passed"] and report["full"]["checked"] == n and checks and checks == sorted(set(checks))

        mid = f"stoppable-{mode}"
        structured(await client.call_tool("start_migration", base | {
            "migration_id": mid, "target_index": "stoppable", "batch_size": 20, "workers": 1}))
        stopped = structured(await client.call_tool("stop_migration", {"migration_id": mid}))
        assert stopped["status"] in ("stopped", "completed"), stopped
        status = structured(await client.call_tool("migration_status", {"migration_id": mid}))
        if stopped["status"] == "stopped":
            assert status["progress"]["migrated_records"] < n and status["checkpoint"] is not None
        resumed = structured(await client.call_tool("resume_migration", {"migration_id": mid, "wait": True}))
        if stopped["status"] == "stopped":
            assert resumed["status"] == "completed", resumed
        done = structured(await client.call_tool("migration_status", {"migration_id": mid}))
        assert done["status"] == "completed" and done["progress"]["migrated_records"] == n
