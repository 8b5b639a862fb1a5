"""Plain JSON-RPC 2.0 where the method is the tool name: the calls of VectorMigrate's Go README.

``{"jsonrpc":"2.0","id":1,"method":"migration_status","params":{"migration_id":"mig-123"}}`` answers
``{"jsonrpc":"2.0","id":1,"result":{...}}`` with the tool's structured output. This is not MCP (there the
method is ``tools/call`` and the tool's name is a parameter); the HTTP endpoint tells them apart by the method
(:func:`is_tool_call`). The tool runs through ``MCPServer.call_tool``, so argument validation, behaviour,
metrics and audit are those of the MCP tool.

Errors: -32700 parse error and -32600 invalid request (HTTP 400), -32601 unknown method (404), -32602 invalid
params (400), -32000 the tool failed with an actionable message, its hint and structured fields in ``data``
(200), -32603 internal error (500).
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from vectormigrate.errors import VectorMigrateError
from vectormigrate.server.tools import CALLER, TOOL_NAMES

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "TOOL_FAILED",
    "error_doc",
    "handle",
    "http_status",
    "is_mcp_method",
    "is_tool_call",
]

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TOOL_FAILED = -32000
"""Implementation-defined server error: the tool ran and failed; ``message``/``data.hint`` say what to do."""
UNAUTHORIZED = -32001
RATE_LIMITED = -32002
TOO_LARGE = -32003

_STATUS = {PARSE_ERROR: 400, INVALID_REQUEST: 400, METHOD_NOT_FOUND: 404, INVALID_PARAMS: 400, INTERNAL_ERROR: 500,
           TOOL_FAILED: 200}
_MCP_BARE_METHODS = frozenset({"initialize", "ping", "server/discover"})


def http_status(code: int) -> int:
    """The HTTP status that goes with a JSON-RPC error code."""
    return _STATUS.get(code, 400)


def is_mcp_method(method: str) -> bool:
    """MCP methods are namespaced (``tools/call``, ``notifications/initialized``) or one of a few bare ones."""
    return method in _MCP_BARE_METHODS or "/" in method


def is_tool_call(doc: Any) -> bool:
    """Whether a parsed request is a plain JSON-RPC call of a tool (method = tool name)."""
    return isinstance(doc, dict) and doc.get("method") in TOOL_NAMES


def error_doc(rid: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC error response."""
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": err}


def _text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent)) or "the tool failed"


def _root_cause(exc: BaseException) -> BaseException:
    """The first VectorMigrateError or ValidationError in the ``__cause__`` chain, else the innermost cause."""
    seen: BaseException = exc
    while True:
        if isinstance(seen, VectorMigrateError | ValidationError):
            return seen
        if seen.__cause__ is None:
            return seen
        seen = seen.__cause__


def _strip_prefix(text: str, method: str) -> str:
    prefix = f"Error executing tool {method}: "
    while text.startswith(prefix):
        text = text[len(prefix):]
    return text


async def handle(mcp: MCPServer[Any], doc: dict[str, Any], who: str) -> tuple[int, dict[str, Any] | None]:
    """Run one plain JSON-RPC tool call; returns (HTTP status, response document or None for a notification)."""
    rid = doc.get("id")
    is_notification = "id" not in doc
    if doc.get("jsonrpc") != "2.0" or not isinstance(rid, str | int | type(None)) or isinstance(rid, bool):
        return 400, error_doc(rid if isinstance(rid, str | int) else None, INVALID_REQUEST,
                              'Invalid Request: expected {"jsonrpc": "2.0", "id": ..., "method": ..., "params": {...}}')
    params = doc.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return 400, error_doc(rid, INVALID_PARAMS, "Invalid params: params must be an object of named arguments")
    method = str(doc["method"])
    token = CALLER.set((who, "jsonrpc"))
    try:
        result = await mcp.call_tool(method, params, Context(mcp_server=mcp))
    except UnexpectedToolError:
        log.exception("tool %s crashed", method)
        out = error_doc(rid, INTERNAL_ERROR, f"Internal error in {method}; see the server log")
    except ToolError as exc:
        cause = _root_cause(exc)
        if isinstance(cause, ValidationError):
            problems = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in cause.errors()]
            out = error_doc(rid, INVALID_PARAMS, f"Invalid params for {method}: " + "; ".join(
                f"{p['field']}: {p['problem']}" for p in problems), {"errors": problems})
        elif isinstance(cause, VectorMigrateError):
            out = error_doc(rid, TOOL_FAILED, cause.message, cause.attrs())
        else:
            message, _, hint = _strip_prefix(str(cause), method).partition("\nhint: ")
            out = error_doc(rid, TOOL_FAILED, message, {"hint": hint} if hint else None)
    else:
        if isinstance(result, CallToolResult) and not result.is_error:
            out = {"jsonrpc": "2.0", "id": rid, "result": result.structured_content}
        elif isinstance(result, CallToolResult):
            message, _, hint = _strip_prefix(_text(result), method).partition("\nhint: ")
            out = error_doc(rid, TOOL_FAILED, message, {"hint": hint} if hint else None)
        else:  # an input-required round trip: not expressible in plain JSON-RPC
            out = error_doc(rid, TOOL_FAILED, f"{method} needs input that plain JSON-RPC cannot carry; use MCP")
    finally:
        CALLER.reset(token)
    if is_notification:
        return 202, None
    status = http_status(out["error"]["code"]) if "error" in out else 200
    return status, out
