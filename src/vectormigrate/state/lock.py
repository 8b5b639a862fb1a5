"""One runner per migration: an OS file lock next to the state database.

``flock`` is released by the kernel when the process dies, even by SIGKILL, so a crashed run never leaves a
stale lock behind, and a second runner (another shell, the MCP server) is refused while the first is alive.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
from pathlib import Path
from types import TracebackType

from vectormigrate.errors import MigrationLocked

__all__ = ["MigrationLock"]


class MigrationLock:
    """Exclusive, non-blocking lock on one migration id (also a context manager)."""

    def __init__(self, state_path: Path, migration_id: str, purpose: str = "run") -> None:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", migration_id)
        self.path = state_path.parent / f"{state_path.name}.locks" / f"{safe}.lock"
        self.migration_id = migration_id
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`MigrationLocked` naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            msg = f"migration {self.migration_id!r} is being worked on by {holder}"
            raise MigrationLocked(msg, hint="wait for it to finish, or stop it (`vectormigrate status` shows it)",
                                  migration_id=self.migration_id) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} ({self.purpose})".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> MigrationLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
