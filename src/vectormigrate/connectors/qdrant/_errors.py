"""Translate qdrant-client exceptions (REST, gRPC and local mode) into the VectorMigrate error tree.

Three transports raise three kinds of exception:

* REST: ``UnexpectedResponse`` (an HTTP status), ``ResponseHandlingException`` (wraps an ``httpx`` error:
  refused connection, timeout, dropped connection) and ``ResourceExhaustedResponse`` (a 429 with Retry-After,
  also raised for gRPC).
* gRPC: ``grpc.RpcError`` with a status code.
* local mode (``:memory:`` and a folder): plain ``ValueError`` for everything the server would answer with 400
  or 404, and ``RuntimeError`` when another process holds the folder's lock.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from qdrant_client.common.client_exceptions import QdrantException, ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from vectormigrate.errors import (
    AuthenticationError,
    CollectionNotFound,
    ConnectorError,
    RecordError,
    SchemaMismatchError,
    TerminalError,
    TransientError,
    UnreachableError,
    redact,
    retry_after_seconds,
)

__all__ = ["BadRequest", "locked_folder_error", "translate_errors"]

# Whole-batch problems: every record of a batch shares its vector names and dimensions, so bisecting the batch to
# find "the" bad record would only dead-letter good records one by one.
_SCHEMA_PROBLEMS = re.compile(r"(?i)vector dimension error|not existing vector name|wrong input: vector .* not found"
                              r"|vector params for .* not specified|conversion between .* is not supported")
_MISSING_COLLECTION = re.compile(r"(?i)collection [`'\"]?([^`'\"\s]+)[`'\"]? (?:not found|doesn't exist)")
_GRPC_UNREACHABLE = ("failed to connect", "connection refused", "dns resolution failed", "name resolution",
                     "no address", "connect failed")


class BadRequest(RecordError):
    """The database refused a write request as invalid (HTTP 400/422, gRPC INVALID_ARGUMENT, local ``ValueError``).

    Raised without a ``record_id``: the connector narrows it down to one record (see ``write_batch``).
    """


def locked_folder_error(path: str, exc: BaseException) -> UnreachableError:
    """The error for a local folder that another Qdrant client holds (qdrant-client keeps a ``.lock`` file)."""
    msg = f"qdrant local folder {path!r} is in use by another Qdrant client ({exc})"
    return UnreachableError(
        msg,
        hint="close the other program that opened this folder (another vectormigrate run, a notebook, a service); "
             "local mode allows one client per folder - for concurrent access run a Qdrant server",
        url=path,
    )


@contextmanager
def translate_errors(*, where: str, collection: str | None = None, writing: bool = False,
                     secrets: tuple[str | None, ...] = ()) -> Iterator[None]:
    """Turn whatever qdrant-client raises inside the block into a VectorMigrate error (``raise ... from exc``).

    Args:
        where: the URL or folder, for messages (never contains the API key).
        collection: the collection the call is about, for not-found messages.
        writing: True for upserts: a refused request becomes :class:`BadRequest` instead of a terminal error.
        secrets: values to scrub from server messages (the API key).
    """
    try:
        yield
    except UnexpectedResponse as exc:
        raise _from_http(exc, where, collection, writing, secrets) from exc
    except ResourceExhaustedResponse as exc:  # 429 / RESOURCE_EXHAUSTED with Retry-After, raised by the client
        msg = f"qdrant at {where} is rate limiting: {redact(exc.message, secrets)}"
        raise TransientError(msg, retry_after=float(exc.retry_after_s), url=where, status=429) from exc
    except QdrantException as exc:
        text = redact(str(exc), secrets)
        if "Retry-After" in text:  # a 429 whose Retry-After is an HTTP date, which the client cannot parse
            msg = f"qdrant at {where} is rate limiting ({text})"
            raise TransientError(msg, url=where, status=429) from exc
        msg = f"qdrant client error talking to {where}: {text}"
        raise TerminalError(msg, url=where) from exc
    except ResponseHandlingException as exc:
        raise _from_transport(exc.source, where, secrets) from exc
    except httpx.HTTPError as exc:
        raise _from_transport(exc, where, secrets) from exc
    except ValueError as exc:  # local mode: what the server would answer with 400/404
        raise _from_message(str(exc), where, collection, writing, 400) from exc
    except RuntimeError as exc:
        if "already accessed by another instance" in str(exc):
            raise locked_folder_error(where, exc) from exc
        if "instance is closed" in str(exc):
            msg = f"the qdrant client for {where} was closed"
            raise TerminalError(msg, hint="open a new connector; close() releases the local folder") from exc
        raise
    except Exception as exc:
        grpc_error = _from_grpc(exc, where, collection, writing, secrets)
        if grpc_error is None:
            raise
        raise grpc_error from exc


def _server_message(content: bytes) -> str:
    """The ``status.error`` text of a Qdrant error body, or the raw body."""
    try:
        body: Any = json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")[:500]
    if isinstance(body, dict):
        status = body.get("status")
        if isinstance(status, dict) and "error" in status:
            return str(status["error"])
    return str(body)[:500]


def _from_http(exc: UnexpectedResponse, where: str, collection: str | None, writing: bool,
               secrets: tuple[str | None, ...]) -> ConnectorError | RecordError | SchemaMismatchError:
    status = exc.status_code or 0
    text = redact(_server_message(exc.content), secrets)
    if status in (401, 403):
        msg = f"qdrant at {where} refused the credentials (HTTP {status}: {text})"
        return AuthenticationError(msg, hint="check --source-api-key / --target-api-key (Qdrant Cloud keys are "
                                             "per cluster; a read-only key cannot write)", url=where)
    if status == 404:
        return _from_message(text, where, collection, writing, 404)
    if status == 413:
        msg = f"qdrant at {where} refused a request as too large (HTTP 413: {text})"
        return TerminalError(msg, hint="lower --batch-size; the server limit is service.max_request_size_mb "
                                       "(32 MB by default)", url=where)
    if status == 429 or status >= 500:
        msg = f"qdrant at {where} answered HTTP {status}: {text}"
        return TransientError(msg, retry_after=retry_after_seconds(exc.headers), url=where, status=status)
    if status in (400, 422):
        return _from_message(text, where, collection, writing, status)
    msg = f"qdrant at {where} answered HTTP {status}: {text}"
    return TerminalError(msg, url=where, status=status)


def _from_message(text: str, where: str, collection: str | None, writing: bool,
                  status: int) -> ConnectorError | RecordError | SchemaMismatchError:
    """Classify a server or local-mode error message (both use the same words)."""
    match = _MISSING_COLLECTION.search(text)
    if match or status == 404:
        name = match.group(1) if match else collection
        msg = f"qdrant collection {name!r} does not exist at {where}"
        return CollectionNotFound(msg, hint="check the collection name (--source-index / --target-index)",
                                  collection=name)
    if _SCHEMA_PROBLEMS.search(text):
        msg = f"qdrant collection {collection!r} cannot hold the batch: {text}"
        return SchemaMismatchError(msg, hint="the target's vector names or sizes differ from the plan; write into a "
                                             "new collection or use --if-exists recreate", collection=collection)
    if writing:
        return BadRequest(f"qdrant refused the write: {text}",
                          hint="see the dead-letter file for the record; fix or drop it and resume")
    msg = f"qdrant at {where} refused the request: {text}"
    return TerminalError(msg, url=where, status=status)


def _from_transport(exc: BaseException, where: str, secrets: tuple[str | None, ...]) -> ConnectorError:
    text = redact(str(exc) or type(exc).__name__, secrets)
    if isinstance(exc, httpx.TimeoutException):
        msg = f"qdrant at {where} did not answer in time ({type(exc).__name__}: {text})"
        return TransientError(msg, hint="a larger --*-option timeout=SECONDS helps with big batches", url=where)
    if isinstance(exc, httpx.ConnectError):
        msg = f"cannot connect to qdrant at {where}: {text}"
        return UnreachableError(msg, hint="is the Qdrant server running, and is the URL right (REST port 6333, "
                                          "http vs https)?", url=where)
    if isinstance(exc, httpx.TransportError):  # the connection dropped mid-request
        msg = f"the connection to qdrant at {where} failed: {text}"
        return TransientError(msg, url=where)
    msg = f"qdrant client error talking to {where}: {text}"
    return TerminalError(msg, url=where)


def _from_grpc(exc: Exception, where: str, collection: str | None, writing: bool,
               secrets: tuple[str | None, ...]) -> ConnectorError | RecordError | SchemaMismatchError | None:
    """Map a ``grpc.RpcError``; None when ``exc`` is not one (grpc is imported only if installed)."""
    try:
        grpc: Any = importlib.import_module("grpc")  # imported here: only gRPC errors need it (no type stubs)
    except ImportError:  # pragma: no cover - grpcio is a qdrant-client dependency
        return None
    if not isinstance(exc, grpc.RpcError) or not isinstance(exc, grpc.Call):
        return None
    code = exc.code()
    details = redact(exc.details() or "", secrets)
    low = details.lower()
    SC = grpc.StatusCode
    if code in (SC.UNAUTHENTICATED, SC.PERMISSION_DENIED):
        msg = f"qdrant at {where} refused the credentials ({code.name}: {details})"
        return AuthenticationError(msg, hint="check --source-api-key / --target-api-key", url=where)
    if code == SC.UNAVAILABLE and any(s in low for s in _GRPC_UNREACHABLE):
        msg = f"cannot connect to qdrant at {where} over gRPC: {details}"
        return UnreachableError(msg, hint="is the Qdrant server running, and is the gRPC port right (6334 by "
                                          "default, --*-option grpc_port=...)?", url=where)
    if code == SC.RESOURCE_EXHAUSTED and "larger than max" in low:
        msg = f"qdrant at {where} refused a gRPC message as too large: {details}"
        return TerminalError(msg, hint="lower --batch-size", url=where)
    if code in (SC.UNAVAILABLE, SC.DEADLINE_EXCEEDED, SC.RESOURCE_EXHAUSTED, SC.ABORTED, SC.INTERNAL,
                SC.UNKNOWN, SC.CANCELLED):
        msg = f"qdrant at {where} failed over gRPC ({code.name}: {details})"
        return TransientError(msg, url=where)
    if code == SC.NOT_FOUND:
        return _from_message(details, where, collection, writing, 404)
    if code in (SC.INVALID_ARGUMENT, SC.FAILED_PRECONDITION, SC.OUT_OF_RANGE):
        return _from_message(details, where, collection, writing, 400)
    msg = f"qdrant at {where} failed over gRPC ({code.name}: {details})"
    return TerminalError(msg, url=where)
