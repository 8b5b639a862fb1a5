"""The HTTP server: MCP (Streamable HTTP, both protocol generations) and plain JSON-RPC on one endpoint.

::

    Guard (every request: Host/Origin allow-list; on the RPC endpoint: bearer key, rate limit, body limit)
      └─ Starlette
           ├─ GET /healthz   alive (no dependency checks)
           ├─ GET /readyz    the state database answers
           ├─ GET /metrics   Prometheus text format
           └─ / and /mcp     POST: method is a tool name -> plain JSON-RPC (the Go README's curl calls);
                             anything else -> the MCP SDK (tools/call, initialize, server/discover...);
                             GET/DELETE -> the MCP SDK (legacy session stream / session end)

The guard runs before the SDK sees a byte: a request without a valid key gets 401 with a
``WWW-Authenticate: Bearer`` challenge, a caller over its rate gets 429 with ``Retry-After``, a body over the
limit gets 413, and each is counted and audited. Health and metrics are not authenticated (they reveal
counts, never data or keys) but are still behind the Host allow-list.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vectormigrate.server import jsonrpc
from vectormigrate.server.auth import KeyRing, challenge, parse_bearer
from vectormigrate.server.metrics import CONTENT_TYPE
from vectormigrate.server.ratelimit import RateLimiter
from vectormigrate.server.tools import TOOL_NAMES, Services

__all__ = ["DEFAULT_MAX_BODY", "HostAllowList", "ServerSettings", "build_app"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 1024 * 1024
RPC_PATHS = frozenset({"/", "/mcp"})
SESSION_IDLE_TIMEOUT_S = 600.0
MAX_SESSIONS = 1000


class HostAllowList:
    """Which ``Host`` (and ``Origin``) values the server answers; guards against DNS rebinding.

    Entries are ``host`` (any port) or ``host:port``; IPv6 in brackets (``[::1]``); ``*`` allows any host.
    ``None`` also allows any host.
    """

    def __init__(self, entries: list[str] | None) -> None:
        self.any = entries is None or "*" in entries
        self._hosts: set[str] = set()
        self._host_ports: set[tuple[str, str]] = set()
        for entry in entries or ():
            host, port = self._split(entry.strip().lower())
            if port:
                self._host_ports.add((host, port))
            else:
                self._hosts.add(host)

    @staticmethod
    def _split(value: str) -> tuple[str, str]:
        if value.startswith("["):
            host, _, rest = value.partition("]")
            return host + "]", rest.removeprefix(":")
        if value.count(":") == 1:
            host, _, port = value.partition(":")
            return host, port
        return value, ""

    def allows_host(self, header: str | None) -> bool:
        """Whether a ``Host`` header value is allowed."""
        if self.any:
            return True
        if not header:
            return False
        host, port = self._split(header.strip().lower())
        return host in self._hosts or (host, port) in self._host_ports

    def allows_origin(self, origin: str | None) -> bool:
        """Whether an ``Origin`` header is allowed (absent: same-origin or not a browser: allowed)."""
        if self.any or not origin:
            return True
        netloc = urlsplit(origin).netloc
        return bool(netloc) and self.allows_host(netloc)

    def describe(self) -> str:
        """For the startup banner."""
        if self.any:
            return "any host"
        return ", ".join(sorted(self._hosts | {f"{h}:{p}" for h, p in self._host_ports}))


class ServerSettings:
    """Security settings of the HTTP server."""

    def __init__(self, keys: KeyRing, *, rate_limit: int = 100, rate_limit_max_keys: int = 10_000,
                 allowed_hosts: list[str] | None = None, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.keys = keys
        self.limiter = RateLimiter(rate_limit, 60.0, rate_limit_max_keys)
        self.hosts = HostAllowList(allowed_hosts)
        self.max_body = max_body


def _json(status: int, doc: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(doc, status_code=status, headers=headers)


def _rpc_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, jsonrpc.error_doc(None, code, message), headers)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when it is larger than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    pending: deque[Message] = deque([{"type": "http.request", "body": body, "more_body": False}])

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


class Guard:
    """Host allow-list for everything; key, rate limit and body limit for the RPC endpoint."""

    def __init__(self, app: ASGIApp, services: Services, settings: ServerSettings) -> None:
        self.app = app
        self.svc = services
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = "rpc" if path in RPC_PATHS else path.strip("/").split("/")[0] if path in (
            "/healthz", "/readyz", "/metrics") else "other"
        metrics = self.svc.metrics

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                metrics.http_responses.inc(endpoint, str(message["status"]))
            await send(message)

        headers = Headers(scope=scope)
        hosts = self.settings.hosts
        if not hosts.allows_host(headers.get("host")):
            await _rpc_error(421, jsonrpc.INVALID_REQUEST, "Misdirected request: this Host is not allowed "
                             "(see --allowed-hosts)")(scope, receive, counted)
            return
        if not hosts.allows_origin(headers.get("origin")):
            await _rpc_error(403, jsonrpc.INVALID_REQUEST, "Forbidden: this Origin is not allowed "
                             "(see --allowed-hosts)")(scope, receive, counted)
            return
        if endpoint != "rpc":
            await self.app(scope, receive, counted)
            return
        await self._guard_rpc(scope, receive, counted, headers)

    async def _guard_rpc(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        started = time.monotonic()
        svc, settings = self.svc, self.settings
        client = scope.get("client")
        ip = str(client[0]) if client else "unknown"
        token = parse_bearer(headers.get("authorization"))
        verified = settings.keys.verify(token)

        def refuse(outcome: str, status: int, who: str) -> None:
            svc.audit.record(who=who, transport="http", tool=None, args=None, outcome=outcome,
                             duration_s=time.monotonic() - started, status_code=status)

        if verified is None:
            decision = settings.limiter.hit(f"ip:{ip}")  # bound guessing: failed attempts share the IP's budget
            if not decision.allowed:
                svc.metrics.rate_limited.inc()
                refuse("rate_limited", 429, f"ip:{ip}")
                await _rpc_error(429, jsonrpc.RATE_LIMITED, "Rate limit exceeded",
                                 {"Retry-After": str(decision.retry_after)})(scope, receive, send)
                return
            reason = "missing_key" if token is None else "invalid_key"
            svc.metrics.auth_failures.inc(reason)
            refuse(reason, 401, f"ip:{ip}")
            www = challenge() if token is None else challenge("invalid_token", "The API key is not valid")
            message = ("Unauthorized: send Authorization: Bearer <API key>" if token is None
                       else "Unauthorized: the API key is not valid")
            await _rpc_error(401, jsonrpc.UNAUTHORIZED, message, {"WWW-Authenticate": www})(scope, receive, send)
            return
        who = verified.fingerprint
        decision = settings.limiter.hit(who)
        if not decision.allowed:
            svc.metrics.rate_limited.inc()
            refuse("rate_limited", 429, who)
            await _rpc_error(429, jsonrpc.RATE_LIMITED, f"Rate limit exceeded: {settings.limiter.limit} requests per "
                             f"minute per key; retry after {decision.retry_after} s",
                             {"Retry-After": str(decision.retry_after)})(scope, receive, send)
            return
        declared = headers.get("content-length")
        too_large = declared is not None and declared.isdigit() and int(declared) > settings.max_body
        body = None if too_large else await _read_body(receive, settings.max_body)
        if body is None:
            refuse("too_large", 413, who)
            await _rpc_error(413, jsonrpc.TOO_LARGE, f"Request body too large (limit {settings.max_body} bytes)",
                             {"Connection": "close"})(scope, receive, send)
            return
        scope.setdefault("state", {})["vm_caller"] = who
        await self.app(scope, _replay(body, receive), send)


class RpcEndpoint:
    """``/`` and ``/mcp``: plain JSON-RPC for tool-name methods, the MCP SDK for everything else."""

    def __init__(self, mcp: MCPServer[Any], mcp_asgi: ASGIApp) -> None:
        self.mcp = mcp
        self.mcp_asgi = mcp_asgi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method in ("GET", "DELETE"):
            await self.mcp_asgi(scope, receive, send)
            return
        if method != "POST":
            await _rpc_error(405, jsonrpc.INVALID_REQUEST, f"Method {method} not allowed: POST JSON-RPC here",
                             {"Allow": "GET, POST, DELETE"})(scope, receive, send)
            return
        body = await _read_body(receive, 1 << 62) or b""  # the guard bounded it already
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            await _rpc_error(400, jsonrpc.PARSE_ERROR, f"Parse error: the body is not JSON ({exc})")(
                scope, receive, send)
            return
        if jsonrpc.is_tool_call(doc):
            state = scope.get("state") or {}
            status, out = await jsonrpc.handle(self.mcp, doc, str(state.get("vm_caller", "anonymous")))
            response = _json(status, out) if out is not None else Response(status_code=status)
            await response(scope, receive, send)
            return
        if isinstance(doc, list):
            await _rpc_error(400, jsonrpc.INVALID_REQUEST, "Invalid Request: batch requests are not supported; send "
                             "one request per POST")(scope, receive, send)
            return
        if not isinstance(doc, dict) or not ({"method", "result", "error"} & doc.keys()):
            await _rpc_error(400, jsonrpc.INVALID_REQUEST, "Invalid Request: expected a JSON-RPC 2.0 object")(
                scope, receive, send)
            return
        name = doc.get("method")
        if name is not None and (not isinstance(name, str) or not jsonrpc.is_mcp_method(name)):
            rid = doc.get("id") if isinstance(doc.get("id"), str | int) else None
            await _json(404, jsonrpc.error_doc(rid, jsonrpc.METHOD_NOT_FOUND, f"Method not found: {name!r}. "
                        f"Plain JSON-RPC methods are the tool names ({', '.join(TOOL_NAMES)}); MCP clients use "
                        "tools/list and tools/call"))(scope, receive, send)
            return
        await self.mcp_asgi(scope, _replay(body, receive), send)


def build_app(services: Services, mcp: MCPServer[Any], settings: ServerSettings) -> ASGIApp:
    """The whole ASGI application (run it with uvicorn; its lifespan starts the MCP session manager)."""
    # The SDK's own Host/Origin check is off: the Guard enforces --allowed-hosts for every path first.
    mcp.streamable_http_app(
        streamable_http_path="/mcp", max_request_body_size=settings.max_body,
        session_idle_timeout=SESSION_IDLE_TIMEOUT_S, max_sessions=MAX_SESSIONS,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    endpoint = RpcEndpoint(mcp, StreamableHTTPASGIApp(mcp.session_manager))

    async def healthz(_: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def readyz(_: Request) -> Response:
        ok = await anyio.to_thread.run_sync(services.store.ping)
        return _json(200 if ok else 503, {"status": "ready" if ok else "state database unreachable",
                                          "state_db": ok, "running_migrations": len(services.jobs.running())})

    async def metrics(_: Request) -> Response:
        services.metrics.ratelimit_tracked.set(len(settings.limiter))
        return Response(services.metrics.render(), media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(services.jobs.shutdown)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/", endpoint),
        Route("/mcp", endpoint),
    ]
    return Guard(Starlette(routes=routes, lifespan=lifespan), services, settings)
