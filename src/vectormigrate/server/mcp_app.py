"""The MCP server object (official ``mcp`` SDK 2.x) and its stdio transport.

One :class:`~mcp.server.MCPServer` serves both protocol generations: the 2026-07-28 stateless requests (each
carries ``_meta`` with the protocol version) and the legacy ``initialize``/session handshake (2025-11-25 and
earlier). Over stdio the SDK tells them apart per message; over Streamable HTTP the same endpoint does (see
:mod:`vectormigrate.server.app`).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.to_thread
from mcp.server import MCPServer

from vectormigrate import __version__
from vectormigrate.server.audit import AuditLog
from vectormigrate.server.jobs import JobManager
from vectormigrate.server.metrics import ServerMetrics
from vectormigrate.server.tools import Services, register_tools
from vectormigrate.state.store import StateStore

__all__ = ["INSTRUCTIONS", "build_mcp", "make_services", "run_stdio"]

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
VectorMigrate copies vector collections between vector databases (Milvus, Qdrant, Parquet, ...), resumably.
Typical flow: list_connectors -> describe_collection (source) -> schema_recommendation (the plan: check its
warnings and errors with the user) -> start_migration (returns a migration id at once; the copy runs in the
background) -> migration_status until "completed" -> validate_migration. stop_migration / resume_migration
pause and continue. rollback_migration deletes data and needs confirm=true: ask the user first. Zero-downtime
flow (the application keeps writing): start_dual_write -> the application writes through the dual-writer ->
resume_migration (bulk copy) -> sync_migration (repeatable catch-up) -> cutover_migration (validates, then
switches reads; needs confirm=true: ask the user first). API keys passed to tools are used for that call only
and never stored, so resume/validate/rollback/sync/cutover need them again."""


def make_services(state_db: str | None, *, audit_log: str | None = None, max_jobs: int = 4) -> Services:
    """The state database, job manager, metrics and audit log of one server process."""
    store = StateStore(state_db)
    metrics = ServerMetrics()
    return Services(store=store, jobs=JobManager(store, metrics, max_jobs=max_jobs), metrics=metrics,
                    audit=AuditLog(audit_log))


def build_mcp(services: Services) -> MCPServer[Any]:
    """An MCPServer with every VectorMigrate tool."""
    mcp: MCPServer[Any] = MCPServer("vectormigrate", title="VectorMigrate", version=__version__,
                                    instructions=INSTRUCTIONS, log_level="WARNING")
    register_tools(mcp, services)
    return mcp


def run_stdio(services: Services, *, resume_interrupted: bool = False) -> None:
    """Serve MCP on stdin/stdout until the client closes stdin; then stop running migrations gracefully."""
    for mid, action in services.jobs.reconcile(resume_interrupted).items():
        log.warning("startup: migration %s %s", mid, action)
    mcp = build_mcp(services)

    async def main() -> None:
        try:
            await mcp.run_stdio_async()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(services.jobs.shutdown)

    anyio.run(main)
