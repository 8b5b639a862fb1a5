"""Translate pymilvus / gRPC exceptions into VectorMigrate's error tree, at the connector's edge.

pymilvus reports most failures as :class:`pymilvus.exceptions.MilvusException` with a numeric ``code``, and
wraps the gRPC error that caused it (``raise MilvusException(...) from rpc_error``). A wrong token and a closed
port both arrive as code 2 "Fail connecting to server"; only the chained gRPC status (``UNAUTHENTICATED`` vs
``UNAVAILABLE``) tells them apart, so we walk the cause chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc  # type: ignore[import-untyped]  # grpcio ships no type stubs
from pymilvus.exceptions import ConnectionConfigException, MilvusException

from vectormigrate.errors import (
    AuthenticationError,
    CollectionNotFound,
    TerminalError,
    TransientError,
    UnreachableError,
    VectorMigrateError,
)

__all__ = ["translate_errors"]

# Milvus status codes (milvus/pkg/util/merr): the ones we treat specially.
_CONNECT_FAILED = 2
_RATE_LIMIT = 8
_FORCE_DENY = 9
_COLLECTION_NOT_FOUND = 100
_INVALID_PARAMETER = 1100

_TRANSIENT_GRPC = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
}
_AUTH_PHRASES = ("auth check fail", "authentication fail", "unauthenticated", "permission denied",
                 "invalid token", "missing authorization")
_TRANSIENT_WORDS = ("rate limit", "ratelimit", "deny to write", "memory quota", "timeout", "deadline exceeded",
                    "service unavailable", "not ready", "server is busy", "too many requests")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes. pymilvus raises ``e from e``, so guard against cycles."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _grpc_code(exc: BaseException) -> grpc.StatusCode | None:
    for item in _chain(exc):
        if isinstance(item, grpc.RpcError) and hasattr(item, "code"):
            code = item.code()
            if isinstance(code, grpc.StatusCode):
                return code
        # After its own retries run out, pymilvus re-raises with the grpc.StatusCode as the Milvus code.
        code = getattr(item, "code", None)
        if isinstance(code, grpc.StatusCode):
            return code
    return None


def _message(exc: BaseException) -> str:
    msg = getattr(exc, "message", None)
    return str(msg if isinstance(msg, str) and msg else exc)


@contextmanager
def translate_errors(
    action: str,
    *,
    where: str,
    collection: str | None = None,
    connecting: bool = False,
    existing: Callable[[], list[str]] | None = None,
    secrets: tuple[str | None, ...] = (),
) -> Iterator[None]:
    """Map pymilvus and gRPC exceptions raised inside the block to :mod:`vectormigrate.errors`.

    Args:
        action: what we were doing, for the message ("upsert into", "read", ...).
        where: the server URL or lite path, named in unreachable errors.
        collection: the collection involved, named in not-found errors.
        connecting: the block opens the connection: "cannot connect" means unreachable, not transient.
        existing: lists the collections that do exist, for the not-found hint.
        secrets: values to scrub from messages (the api key).

    Raises:
        UnreachableError, AuthenticationError, CollectionNotFound, TransientError, TerminalError.
    """
    try:
        yield
    except VectorMigrateError:
        raise
    except ConnectionConfigException as exc:
        # Raised before any network traffic: a lite path whose folder does not exist, a malformed URI.
        msg = f"cannot open Milvus at {where}: {_message(exc)}"
        raise UnreachableError(
            _scrub(msg, secrets),
            hint="a milvus-lite path must end in .db and its parent folder must exist, and no other process may "
                 "have it open (milvus-lite locks it); a server URL looks like http://host:19530",
        ) from exc
    except (MilvusException, grpc.RpcError) as exc:
        raise _translate(exc, action, where, collection, connecting, existing, secrets) from exc


def _scrub(text: str, secrets: tuple[str | None, ...]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def _translate(exc: BaseException, action: str, where: str, collection: str | None, connecting: bool,
               existing: Callable[[], list[str]] | None, secrets: tuple[str | None, ...]) -> VectorMigrateError:
    grpc_code = _grpc_code(exc)
    milvus_code = getattr(exc, "code", None)
    detail = _scrub(_message(exc), secrets)
    lowered = detail.lower()
    target = f" {collection!r}" if collection else ""

    if grpc_code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED) or any(
            phrase in lowered for phrase in _AUTH_PHRASES):
        reason = next((_scrub(str(e.details()), secrets) for e in _chain(exc)
                       if isinstance(e, grpc.RpcError) and hasattr(e, "details")), detail)
        return AuthenticationError(
            f"Milvus at {where} refused our credentials while trying to {action}{target}: {reason}",
            hint="pass the token as --*-api-key: 'user:password' for Milvus with authentication on, or the API "
                 "key for Zilliz Cloud",
        )
    if connecting and (milvus_code == _CONNECT_FAILED or grpc_code in _TRANSIENT_GRPC):
        return UnreachableError(
            f"cannot connect to Milvus at {where}: {detail}",
            hint="check the URL and port (Milvus listens on 19530 by default) and that the server is running; "
                 "for milvus-lite give a path ending in .db",
        )
    if milvus_code == _COLLECTION_NOT_FOUND or (
            "collection" in lowered and ("not found" in lowered or "not exist" in lowered)):
        names = _safe_list(existing)
        listing = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "") if names else "none"
        return CollectionNotFound(
            f"Milvus collection{target} does not exist at {where}",
            hint=f"existing collections: {listing}",
            collection=collection,
        )
    if (grpc_code in _TRANSIENT_GRPC or milvus_code in (_RATE_LIMIT, _FORCE_DENY, _CONNECT_FAILED)
            or any(word in lowered for word in _TRANSIENT_WORDS)):
        return TransientError(
            f"Milvus at {where} failed to {action}{target} (will retry): {detail}",
            hint="the server is busy, rate-limiting or restarting; lower --batch-size if it persists",
            collection=collection,
        )
    if milvus_code == _INVALID_PARAMETER or grpc_code == grpc.StatusCode.INVALID_ARGUMENT:
        return TerminalError(
            f"Milvus refused to {action}{target}: {detail}",
            hint="a name, a value or a size is outside what this Milvus accepts; the connector's NOTES.md lists "
                 "the limits of each Milvus version",
            collection=collection,
        )
    return TerminalError(
        f"Milvus failed to {action}{target}: {detail}",
        hint="see the message above; the Milvus server log has the details",
        collection=collection,
    )


def _safe_list(existing: Callable[[], list[str]] | None) -> list[str]:
    if existing is None:
        return []
    try:
        return sorted(existing())
    except Exception:  # noqa: BLE001 - a hint must never mask the real error
        return []
