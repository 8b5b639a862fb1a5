"""The one error tree of VectorMigrate.

::

    VectorMigrateError
    ├── ConfigError                 bad flags, unknown connector, missing extra, bad option
    ├── ConnectorError              anything a database said or did
    │   ├── TransientError          retried by the runner (timeouts, 429, 5xx, connection resets)
    │   └── TerminalError           never retried
    │       ├── AuthenticationError wrong or missing API key
    │       ├── CollectionNotFound  source or target collection does not exist
    │       └── UnreachableError    nothing listens at the URL / path cannot be opened
    ├── SchemaMismatchError         the target exists and cannot hold the source (dim, metric, vectors)
    ├── RecordError                 one record cannot be represented (goes to the dead-letter file)
    ├── StateError                  the state database: unknown migration, locked, bad version
    │   └── MigrationLocked         another runner holds the migration
    ├── CheckpointError             a cursor went backwards or cannot be resumed
    └── ValidationFailed            validation ran and found differences

Only :class:`TransientError` is retried. Every error carries structured fields (``attrs()``) so the
CLI's ``--json`` output and the MCP server can serialise it, and a ``hint`` that tells the user what to do.
Secrets never reach an error message: connectors redact them before raising (see :func:`redact`).
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AuthenticationError",
    "CheckpointError",
    "CollectionNotFound",
    "ConfigError",
    "ConnectorError",
    "MigrationLocked",
    "RecordError",
    "SchemaMismatchError",
    "StateError",
    "TerminalError",
    "TransientError",
    "UnreachableError",
    "ValidationFailed",
    "VectorMigrateError",
    "redact",
    "retry_after_seconds",
]

_SECRET_PATTERNS = (
    re.compile(r"(?i)(api[-_]?key|token|password|secret|authorization)([\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]+)"),
)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None when absent or unreadable.

    Header names are matched case-insensitively, so any mapping of headers works (httpx, requests, a dict).
    """
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact(text: str, secrets: tuple[str | None, ...] = ()) -> str:
    """Remove secrets from a message: known secret values, and ``key=value`` shapes that look like one."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}***", text)


class VectorMigrateError(Exception):
    """Base of every error VectorMigrate raises on purpose.

    Args:
        message: what went wrong, in the user's terms (names the record, field or collection).
        hint: what the user can do about it.
        **fields: structured context (``record_id``, ``field``, ``collection``...), serialised by ``attrs()``.
    """

    exit_code: int = 1
    kind: str = "error"

    def __init__(self, message: str, *, hint: str | None = None, **fields: Any) -> None:
        super().__init__(redact(message))
        self.message = redact(message)
        self.hint = redact(hint) if hint else None
        self.fields = fields

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

    def attrs(self) -> dict[str, Any]:
        """A JSON-serialisable description of the error."""
        out: dict[str, Any] = {"error": type(self).__name__, "kind": self.kind, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        out.update({k: v for k, v in self.fields.items() if v is not None})
        return out


class ConfigError(VectorMigrateError):
    """The command line, an option or the environment is wrong; nothing was touched."""

    exit_code = 2
    kind = "config"


class ConnectorError(VectorMigrateError):
    """A database (or its SDK) failed."""

    kind = "connector"


class TransientError(ConnectorError):
    """A failure worth retrying: timeouts, rate limits (429), server errors (5xx), dropped connections.

    Args:
        retry_after: seconds the server asked us to wait, when it said so (``Retry-After``).
    """

    kind = "transient"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class TerminalError(ConnectorError):
    """A failure that retrying cannot fix."""

    kind = "terminal"


class AuthenticationError(TerminalError):
    """The database refused our credentials."""

    kind = "auth"


class CollectionNotFound(TerminalError):
    """The named collection / index / class does not exist."""

    kind = "not_found"


class UnreachableError(TerminalError):
    """Nothing answers at the URL, or the local path cannot be opened."""

    kind = "unreachable"


class SchemaMismatchError(VectorMigrateError):
    """The existing target cannot hold the source as planned; refused before anything is written."""

    exit_code = 3
    kind = "schema_mismatch"


class RecordError(VectorMigrateError):
    """One record cannot be represented in the target (NaN vector, id too long, metadata too big...)."""

    kind = "record"


class StateError(VectorMigrateError):
    """The state database cannot do what was asked (unknown migration, newer schema, ...)."""

    kind = "state"


class MigrationLocked(StateError):
    """Another runner is working this migration right now."""

    kind = "locked"


class CheckpointError(VectorMigrateError):
    """A checkpoint cannot be trusted (a cursor moved backwards, the spec changed under a resume)."""

    kind = "checkpoint"


class ValidationFailed(VectorMigrateError):
    """Validation ran and the target differs from the source."""

    exit_code = 4
    kind = "validation"
