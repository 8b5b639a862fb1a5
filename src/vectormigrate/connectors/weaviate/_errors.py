"""Translate weaviate-client exceptions into the VectorMigrate error tree.

The client raises its own exception types and, for gRPC calls, keeps the ``grpc.RpcError`` only as the
``__context__``/``__cause__`` of what it raises (``WeaviateQueryError("...", "GRPC search")`` loses the status
code in its message), so the status code is recovered by walking the exception chain.

Server messages are Weaviate's own (``could not find class X in schema``, ``tenant not found: "t"``...); they are
matched loosely, because their wording changes between server versions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc  # type: ignore[import-untyped]
import httpx
from weaviate.exceptions import (
    InsufficientPermissionsError,
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateInvalidInputError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from vectormigrate.errors import (
    AuthenticationError,
    CollectionNotFound,
    ConfigError,
    ConnectorError,
    SchemaMismatchError,
    TerminalError,
    TransientError,
    UnreachableError,
    VectorMigrateError,
    redact,
)

__all__ = ["grpc_status", "translate_errors"]

_MISSING_CLASS = re.compile(r"(?i)could not find class ([A-Za-z0-9_]+)|class ([A-Za-z0-9_]+) not found")
_TENANT = re.compile(r"(?i)tenant not found|tenant not active|multi-tenancy (?:is )?(?:not )?enabled|"
                     r"multi-tenancy disabled")
_GRPC_UNREACHABLE = ("failed to connect", "connection refused", "dns resolution failed", "name resolution",
                     "no address", "connect failed", "unavailable")
_TRANSIENT_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL", "CANCELLED")
_AUTH_HINT = "check --source-api-key / --target-api-key (a read-only key cannot write)"


def grpc_status(exc: BaseException) -> tuple[str, str] | None:
    """The ``(code name, details)`` of the first gRPC error in ``exc``'s chain, or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, grpc.RpcError) and isinstance(current, grpc.Call):
            try:
                code: Any = current.code()
                details = current.details() or ""
            except Exception:  # noqa: BLE001 - a half-initialised call can raise instead of answering
                return None
            return (str(getattr(code, "name", code)), str(details))
        current = current.__cause__ or current.__context__
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


@contextmanager
def translate_errors(*, where: str, collection: str | None = None,
                     secrets: tuple[str | None, ...] = ()) -> Iterator[None]:
    """Turn whatever the weaviate client raises inside the block into a VectorMigrate error.

    Args:
        where: the URL, for messages (never contains the API key).
        collection: the collection the call is about, for not-found messages.
        secrets: values to scrub from server messages (the API key).
    """
    try:
        yield
    except VectorMigrateError:
        raise
    except (WeaviateBaseError, grpc.RpcError, httpx.HTTPError) as exc:
        raise translate(exc, where=where, collection=collection, secrets=secrets) from exc


def translate(exc: BaseException, *, where: str, collection: str | None = None,
              secrets: tuple[str | None, ...] = ()) -> VectorMigrateError:
    """The VectorMigrate error for one client exception (see :func:`translate_errors`)."""
    text = redact(str(getattr(exc, "message", "") or exc), secrets)[:800]
    if isinstance(exc, InsufficientPermissionsError):
        msg = f"weaviate at {where} refused the request: the API key lacks a permission ({text})"
        return AuthenticationError(msg, hint=_AUTH_HINT, url=where)
    if isinstance(exc, UnexpectedStatusCodeError):
        return _from_status(exc.status_code, exc, text, where, collection)
    if isinstance(exc, WeaviateTimeoutError):
        msg = f"weaviate at {where} did not answer in time: {text}"
        return TransientError(msg, hint="a larger --*-option timeout=SECONDS helps with big batches", url=where)
    if isinstance(exc, WeaviateStartUpError | WeaviateConnectionError | httpx.TransportError):
        return _from_transport(exc, text, where)
    if isinstance(exc, WeaviateClosedClientError):
        msg = f"the weaviate client for {where} is closed"
        return TerminalError(msg, hint="open a new connector; close() ends its connections", url=where)
    if isinstance(exc, WeaviateInvalidInputError):
        return ConfigError(f"the weaviate client refused the input: {text}",
                           hint="this is a VectorMigrate bug if the input came from a migration plan")
    status = grpc_status(exc)
    if status is not None:
        return _from_grpc(status[0], redact(status[1], secrets), text, where, collection)
    if isinstance(exc, WeaviateRetryError):
        msg = f"weaviate at {where} kept failing after the client's retries: {text}"
        return TransientError(msg, url=where)
    return _from_message(text, where, collection)


def _from_status(status: int, exc: BaseException, text: str, where: str,
                 collection: str | None) -> VectorMigrateError:
    body = getattr(exc, "error", None)
    detail = redact(_error_text(body), ()) if body else text
    if status == 401:
        msg = f"weaviate at {where} refused the credentials (HTTP 401: {detail})"
        return AuthenticationError(msg, hint=_AUTH_HINT + "; Weaviate Cloud keys are per cluster", url=where)
    if status == 403:
        msg = f"weaviate at {where} refused the request (HTTP 403: {detail})"
        return AuthenticationError(msg, hint=_AUTH_HINT, url=where)
    if status == 404:
        return _not_found(collection, where)
    if status == 429 or status >= 500:
        msg = f"weaviate at {where} answered HTTP {status}: {detail}"
        return TransientError(msg, url=where, status=status)
    if status == 422:
        return _from_message(detail, where, collection, status=status)
    msg = f"weaviate at {where} answered HTTP {status}: {detail}"
    return TerminalError(msg, url=where, status=status)


def _error_text(body: Any) -> str:
    """The messages of Weaviate's ``{"error": [{"message": ...}]}`` body (or whatever the body is)."""
    if isinstance(body, dict):
        errors = body.get("error")
        if isinstance(errors, list):
            return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        if "message" in body:
            return str(body["message"])
    return str(body)[:800]


def _not_found(collection: str | None, where: str, name: str | None = None) -> CollectionNotFound:
    target = name or collection
    msg = f"weaviate collection {target!r} does not exist at {where}"
    return CollectionNotFound(msg, hint="check the collection name (--source-index / --target-index); Weaviate "
                                        "collection names start with an upper-case letter", collection=target)


def _from_transport(exc: BaseException, text: str, where: str) -> ConnectorError:
    for cause in _chain(exc):
        if isinstance(cause, httpx.TimeoutException):
            msg = f"weaviate at {where} did not answer in time: {text}"
            return TransientError(msg, hint="a larger --*-option timeout=SECONDS helps", url=where)
        if isinstance(cause, httpx.ConnectError):
            msg = f"cannot connect to weaviate at {where}: {cause}"
            return UnreachableError(msg, hint="is Weaviate running, and is the URL right (REST port 8080 by default, "
                                              "http vs https)?", url=where)
    if isinstance(exc, WeaviateStartUpError):
        msg = f"cannot connect to weaviate at {where}: {text}"
        return UnreachableError(msg, hint="is Weaviate running, and is the URL right?", url=where)
    msg = f"the connection to weaviate at {where} failed: {text}"
    return TransientError(msg, url=where)


def _from_grpc(code: str, details: str, text: str, where: str, collection: str | None) -> VectorMigrateError:
    low = details.lower()
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        msg = f"weaviate at {where} refused the credentials over gRPC ({code}: {details})"
        return AuthenticationError(msg, hint=_AUTH_HINT, url=where)
    if code == "UNAVAILABLE" and any(s in low for s in _GRPC_UNREACHABLE[:-1]):
        msg = f"cannot reach weaviate's gRPC port for {where}: {details}"
        return UnreachableError(msg, hint="is the gRPC port right (50051 by default; --*-option grpc_port=...) and "
                                          "open in the firewall?", url=where)
    if code == "RESOURCE_EXHAUSTED" and "larger than max" in low:
        msg = f"weaviate at {where} refused a gRPC message as too large: {details}"
        return TerminalError(msg, hint="lower --batch-size (Weaviate's GRPC_MAX_MESSAGE_SIZE is 100 MB by default)",
                             url=where)
    if code in _TRANSIENT_CODES:
        msg = f"weaviate at {where} failed over gRPC ({code}: {details or text})"
        return TransientError(msg, url=where)
    return _from_message(details or text, where, collection)


def _from_message(text: str, where: str, collection: str | None, *, status: int | None = None) -> VectorMigrateError:
    match = _MISSING_CLASS.search(text)
    if match:
        return _not_found(collection, where, match.group(1) or match.group(2))
    if _TENANT.search(text):
        msg = f"weaviate collection {collection!r}: {text}"
        return TerminalError(msg, hint="check the tenant (--*-option tenant=...): it must exist and be ACTIVE "
                                       "(collection.tenants.activate)", collection=collection)
    if "property name" in text or "class name" in text or "reserved" in text:
        msg = f"weaviate refused a name in collection {collection!r}: {text}"
        return SchemaMismatchError(msg, hint="rename the field in the plan (see the connector's suggestions)",
                                   collection=collection)
    msg = f"weaviate at {where} refused the request: {text}"
    return TerminalError(msg, url=where, status=status)
