"""Bearer API keys: only keyed hashes in memory, compared in constant time, never logged.

A key is reduced at startup to HMAC-SHA256 under a random per-process secret; the plain key is dropped. A
presented token is hashed the same way and compared with :func:`hmac.compare_digest` against *every* known
digest (no early exit), so neither the comparison nor the loop leaks which key, or how much of one, matched.
Logs and the audit trail name a caller by :func:`fingerprint` (``key:`` + 8 hex of SHA-256), never the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vectormigrate.errors import ConfigError

__all__ = ["REALM", "KeyRing", "challenge", "fingerprint", "load_keys", "parse_bearer"]

REALM = "vectormigrate"
MIN_RECOMMENDED_LENGTH = 32


def fingerprint(key: str) -> str:
    """A stable, loggable name for a key: ``key:`` and the first 8 hex digits of its SHA-256."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:8]


def parse_bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def challenge(error: str | None = None, description: str | None = None) -> str:
    """The ``WWW-Authenticate`` value of a 401 (RFC 6750 section 3)."""
    parts = [f'Bearer realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    return ", ".join(parts)


@dataclass(frozen=True)
class Verified:
    """A token that matched a configured key."""

    fingerprint: str


class KeyRing:
    """The accepted keys, as keyed digests only."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._secret = secrets.token_bytes(32)
        self._entries: list[tuple[bytes, str]] = []
        seen: set[bytes] = set()
        for key in keys:
            key = key.strip()
            if not key:
                continue
            digest = self._digest(key)
            if digest not in seen:
                seen.add(digest)
                self._entries.append((digest, fingerprint(key)))

    def _digest(self, token: str) -> bytes:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).digest()

    def __len__(self) -> int:
        return len(self._entries)

    def verify(self, token: str | None) -> Verified | None:
        """The matching key's fingerprint, or None; constant time in the token and in which key matched."""
        if token is None:
            return None
        digest = self._digest(token)
        found: str | None = None
        for known, fp in self._entries:
            if hmac.compare_digest(digest, known) and found is None:
                found = fp
        return Verified(found) if found is not None else None


def load_keys(api_keys: Iterable[str], env_value: str | None, keys_file: str | None) -> list[str]:
    """Keys from ``--api-key`` (repeatable), ``$VECTORMIGRATE_API_KEYS`` (comma list) and ``--keys-file``.

    The file holds one key per line; blank lines and lines starting with ``#`` are ignored. It must not be
    readable by other users (like an SSH key), since it holds secrets in clear.
    """
    keys = [k.strip() for k in api_keys if k and k.strip()]
    if env_value:
        keys.extend(k.strip() for k in env_value.split(",") if k.strip())
    if keys_file:
        path = Path(keys_file).expanduser()
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"cannot read the keys file {path}: {exc.strerror}"
            raise ConfigError(msg, hint="pass --keys-file PATH to a readable file with one key per line") from exc
        if os.name == "posix" and mode & 0o077:
            msg = f"the keys file {path} is readable or writable by other users"
            raise ConfigError(msg, hint=f"chmod 600 {path}")
        keys.extend(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return keys
