"""The audit trail: one JSON line per tool call or refused request.

Each line says who (a key fingerprint, never the key), through what (``mcp``, ``jsonrpc``, ``stdio``), which
tool, its arguments with every secret replaced by ``"***"``, the outcome and the duration. The file is opened
with :class:`logging.handlers.WatchedFileHandler`, so ``logrotate`` can move it away without losing lines.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vectormigrate.errors import redact

__all__ = ["AuditLog", "redact_args"]

_SECRET_KEY = re.compile(r"(?i)(api[-_]?key|apikey|token|password|passwd|secret|authorization|credential|bearer)")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_MAX_STRING = 500


def redact_args(value: Any, key: str | None = None) -> Any:
    """A copy of tool arguments safe to log: secret-named keys become ``"***"``; URLs lose their userinfo."""
    if key is not None and _SECRET_KEY.search(key):
        return "***" if value not in (None, "", False) else value
    if isinstance(value, Mapping):
        return {str(k): redact_args(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_args(v) for v in value[:50]]
    if isinstance(value, str):
        text = redact(_URL_USERINFO.sub(r"\1***@", value))
        return text if len(text) <= _MAX_STRING else text[:_MAX_STRING] + "..."
    return value


class AuditLog:
    """Writes audit records to a file, to stderr (``"-"``), or nowhere (``None``)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._logger = logging.getLogger(f"vectormigrate.audit.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler: logging.Handler | None = None
        if path == "-":
            self._handler = logging.StreamHandler(sys.stderr)
        elif path:
            self._handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        if self._handler is not None:
            self._handler.setFormatter(logging.Formatter("%(message)s"))
            self._logger.addHandler(self._handler)

    @property
    def enabled(self) -> bool:
        """Whether records go anywhere."""
        return self._handler is not None

    def record(self, *, who: str, transport: str, tool: str | None, args: Mapping[str, Any] | None, outcome: str,
               duration_s: float, error: str | None = None, migration_id: str | None = None,
               status_code: int | None = None) -> None:
        """Write one line."""
        if self._handler is None:
            return
        doc: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "who": who, "transport": transport, "tool": tool,
            "args": redact_args(dict(args)) if args is not None else None,
            "outcome": outcome, "duration_ms": round(duration_s * 1000.0, 2),
        }
        if migration_id:
            doc["migration_id"] = migration_id
        if status_code is not None:
            doc["http_status"] = status_code
        if error:
            doc["error"] = redact(error)[:_MAX_STRING]
        self._logger.info(json.dumps(doc, ensure_ascii=False, default=str))

    def close(self) -> None:
        """Flush and close the file."""
        if self._handler is not None:
            self._logger.removeHandler(self._handler)
            self._handler.close()
            self._handler = None
