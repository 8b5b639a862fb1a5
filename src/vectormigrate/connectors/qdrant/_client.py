"""Opening and sharing qdrant-client instances.

qdrant-client's local mode takes an exclusive lock on its folder (``<path>/.lock``), even against another client
in the same process. A migration from one collection of a folder into another collection of the same folder
opens two connectors on one path, so local clients are shared per folder within the process and reference
counted; the last ``close()`` really closes the client and releases the lock.

Local mode is not thread-safe, and where SQLite is not built thread-safe (macOS) its storage refuses use from
another thread, while the runner reads in one thread and writes in others. Every call on a local client therefore
runs under the handle's lock, and the client is opened with ``force_disable_check_same_thread``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from qdrant_client import QdrantClient

from vectormigrate.connectors.base import ConnectionConfig
from vectormigrate.connectors.qdrant._errors import locked_folder_error
from vectormigrate.errors import ConfigError, UnreachableError

__all__ = ["MEMORY", "ClientHandle", "open_client", "release_client"]

MEMORY = ":memory:"
"""The URL that means qdrant-client's in-memory local mode (private to one connector)."""


@dataclass(eq=False)
class ClientHandle:
    """One open client, shared by the connectors of one local folder."""

    client: QdrantClient
    where: str
    """URL or folder, for messages (never the API key)."""
    local: bool
    key: str | None = None
    """Registry key (the folder's real path) for shared local clients."""
    refs: int = 1
    lock: threading.RLock = field(default_factory=threading.RLock)


_SHARED: dict[str, ClientHandle] = {}
_SHARED_LOCK = threading.Lock()


def open_client(config: ConnectionConfig, opts: dict[str, Any]) -> ClientHandle:
    """Open (or share) the client ``config`` names.

    Raises:
        ConfigError: no URL.
        UnreachableError: the local folder cannot be opened or another process holds its lock.
    """
    url = config.url
    if not url:
        msg = "the qdrant connector needs a URL"
        raise ConfigError(msg, hint="pass http(s)://host:6333 for a server, a folder path for local mode, or "
                                    f"{MEMORY} for an in-memory store")
    if url == MEMORY:
        return ClientHandle(QdrantClient(location=MEMORY, force_disable_check_same_thread=True), MEMORY, True)
    if config.is_server:
        client = QdrantClient(
            url=url,
            api_key=config.api_key,
            prefer_grpc=bool(opts.get("prefer_grpc")),
            grpc_port=int(opts.get("grpc_port") or 6334),
            timeout=opts.get("timeout"),
            # the version probe costs a round trip and only warns; errors surface on the first real call
            check_compatibility=False,
        )
        return ClientHandle(client, url, False)
    key = os.path.realpath(os.path.expanduser(url))
    with _SHARED_LOCK:
        handle = _SHARED.get(key)
        if handle is not None:
            handle.refs += 1
            return handle
        if os.path.exists(key) and not os.path.isdir(key):
            msg = f"qdrant local path {url!r} is a file, not a folder"
            raise UnreachableError(msg, hint="local mode stores a collection set in a folder; pass a folder path",
                                   url=url)
        try:
            client = QdrantClient(path=key, force_disable_check_same_thread=True)
        except RuntimeError as exc:
            if "already accessed by another instance" in str(exc):
                raise locked_folder_error(url, exc) from exc
            raise
        except OSError as exc:
            msg = f"cannot open qdrant local folder {url!r}: {exc}"
            raise UnreachableError(msg, hint="check the path and its permissions", url=url) from exc
        handle = ClientHandle(client, url, True, key=key)
        _SHARED[key] = handle
        return handle


def release_client(handle: ClientHandle) -> None:
    """Drop one reference; the last one closes the client (and releases a local folder's lock)."""
    with _SHARED_LOCK:
        handle.refs -= 1
        if handle.refs > 0:
            return
        if handle.key is not None and _SHARED.get(handle.key) is handle:
            del _SHARED[handle.key]
    with handle.lock:
        handle.client.close()
