"""Translate filesystem and pyarrow failures into VectorMigrate's error tree, at the connector's edge."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from vectormigrate.errors import TerminalError, TransientError, UnreachableError, VectorMigrateError

__all__ = ["translate_errors"]

# Network filesystems (NFS, SMB, FUSE mounts of object stores) report these for hiccups that pass.
_TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EINTR, errno.ETIMEDOUT, errno.EBUSY, errno.ESTALE,
                               errno.ECONNRESET, errno.ECONNABORTED, errno.ENETDOWN, errno.ENETUNREACH})


@contextmanager
def translate_errors(action: str, *, collection: str | None = None) -> Iterator[None]:
    """Re-raise OS and pyarrow errors met while doing ``action`` as :mod:`vectormigrate.errors` types.

    Args:
        action: what we were doing, in the user's terms ("write a batch to 'docs'").
        collection: the collection concerned, carried as a structured field.
    """
    try:
        yield
    except VectorMigrateError:
        raise
    except PermissionError as exc:
        msg = f"cannot {action}: permission denied on {exc.filename or 'the collection folder'}"
        raise UnreachableError(msg, hint="check that the folder given as --source-url / --target-url is "
                               "readable (and writable, for a target) by this user", collection=collection) from exc
    except FileNotFoundError as exc:
        msg = f"cannot {action}: {exc.filename or 'a part file'} disappeared"
        raise TerminalError(msg, hint="another program changed the collection folder; re-run, and restore the "
                            "folder from a copy if files were deleted by hand", collection=collection) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            msg = f"cannot {action}: the disk is full"
            raise TerminalError(msg, hint="free some space (or point --target-url at a larger disk) and resume; "
                                "nothing half-written is visible", collection=collection) from exc
        if exc.errno in _TRANSIENT_ERRNOS:
            msg = f"cannot {action} for now: {exc.strerror or exc}"
            raise TransientError(msg, hint="the filesystem reported a passing error; it will be retried",
                                 collection=collection) from exc
        msg = f"cannot {action}: {exc}"
        raise TerminalError(msg, hint="check the disk and the folder", collection=collection) from exc
    except pa.ArrowException as exc:
        msg = f"cannot {action}: a file of the collection is unreadable ({exc})"
        raise TerminalError(msg, hint="the folder holds a damaged or foreign Parquet file; restore it, or remove "
                            "the file named in the message", collection=collection) from exc
