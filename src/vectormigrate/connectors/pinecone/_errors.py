"""Translate the ``pinecone`` SDK's exceptions into the VectorMigrate error tree.

The SDK raises ``ApiError`` subclasses when the service answered with an HTTP error, and plain ``PineconeError``
subclasses for what it decided without a round trip: a refused connection, a timeout, an argument it validates
client-side (non-ASCII ids, metadata types).

Note that the SDK's REST transport already retries 408/429/5xx and dropped connections up to three times,
honouring ``Retry-After``, before it raises: what reaches this module has outlasted those retries, and becomes a
:class:`~vectormigrate.errors.TransientError` for the runner's own, longer backoff.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from pinecone.errors import (
    ApiError,
    ForbiddenError,
    IndexInitFailedError,
    IndexTerminatedError,
    NotFoundError,
    PayloadTooLargeError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    PineconeTypeError,
    PineconeValueError,
    RateLimitError,
    ServiceError,
    UnauthorizedError,
)

from vectormigrate.errors import (
    AuthenticationError,
    CollectionNotFound,
    ConnectorError,
    RecordError,
    TerminalError,
    TransientError,
    UnreachableError,
    redact,
    retry_after_seconds,
)

__all__ = ["BadRequest", "translate_errors"]


class BadRequest(RecordError):
    """Pinecone refused a write as invalid (HTTP 400/413, or the SDK's own checks), without naming a record.

    Raised without ``record_id``: the connector narrows it down to one record by bisecting (upserts are
    idempotent), or turns a whole-batch problem into a schema error.
    """

    def __init__(self, message: str, *, status: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.status = status


@contextmanager
def translate_errors(*, where: str, collection: str | None = None, writing: bool = False,
                     secrets: tuple[str | None, ...] = ()) -> Iterator[None]:
    """Turn whatever the SDK raises inside the block into a VectorMigrate error (``raise ... from exc``).

    Args:
        where: the control-plane URL or index host, for messages (never contains the API key).
        collection: the index the call is about, for not-found messages.
        writing: True for upserts: a refused request becomes :class:`BadRequest`, not a terminal error.
        secrets: values to scrub from server messages (the API key).
    """
    try:
        yield
    except ApiError as exc:
        raise _from_api(exc, where, collection, writing, secrets) from exc
    except PineconeTimeoutError as exc:
        msg = f"pinecone at {where} did not answer in time: {redact(str(exc), secrets)}"
        raise TransientError(msg, hint="a larger --*-option timeout=SECONDS helps with big batches", url=where) from exc
    except PineconeConnectionError as exc:
        raise _from_transport(exc, where, secrets) from exc
    except (IndexInitFailedError, IndexTerminatedError) as exc:
        msg = f"pinecone index {collection!r} is not usable: {redact(str(exc), secrets)}"
        raise TerminalError(msg, hint="check the index in the Pinecone console", collection=collection) from exc
    except (PineconeValueError, PineconeTypeError) as exc:
        text = redact(str(exc), secrets)
        if writing:
            msg = f"the pinecone SDK refused the write: {text}"
            raise BadRequest(msg) from exc
        msg = f"the pinecone SDK refused the request: {text}"
        raise TerminalError(msg, url=where) from exc
    except PineconeError as exc:
        msg = f"pinecone client error talking to {where}: {redact(str(exc), secrets)}"
        raise TerminalError(msg, url=where) from exc


def _message(exc: ApiError, secrets: tuple[str | None, ...]) -> str:
    return redact(exc.message or exc.reason or type(exc).__name__, secrets)


def _from_api(exc: ApiError, where: str, collection: str | None, writing: bool,
              secrets: tuple[str | None, ...]) -> ConnectorError | RecordError:
    status = exc.status_code or 0
    text = _message(exc, secrets)
    if isinstance(exc, UnauthorizedError) or (isinstance(exc, ForbiddenError) and "protection" not in text.lower()):
        msg = f"pinecone at {where} refused the API key (HTTP {status}: {text})"
        return AuthenticationError(msg, hint="check --source-api-key / --target-api-key or PINECONE_API_KEY (keys "
                                             "belong to one project; the index must be in that project)", url=where)
    if isinstance(exc, ForbiddenError):
        msg = f"pinecone refused to delete index {collection!r}: {text}"
        return TerminalError(msg, hint="disable deletion protection on the index in the Pinecone console first",
                             collection=collection)
    if isinstance(exc, NotFoundError):
        msg = f"pinecone index {collection!r} does not exist at {where}"
        return CollectionNotFound(msg, hint="check --source-index / --target-index", collection=collection)
    if isinstance(exc, RateLimitError | ServiceError) or status in (408, 429) or status >= 500:
        retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
        if retry_after is None:
            retry_after = retry_after_seconds(exc.headers)
        msg = f"pinecone at {where} answered HTTP {status}: {text}"
        return TransientError(msg, retry_after=retry_after, url=where, status=status)
    if writing and (isinstance(exc, PayloadTooLargeError) or status == 400):
        return BadRequest(f"pinecone refused the write (HTTP {status}): {text}", status=status)
    msg = f"pinecone at {where} refused the request (HTTP {status}): {text}"
    return TerminalError(msg, url=where, status=status)


def _from_transport(exc: PineconeConnectionError, where: str, secrets: tuple[str | None, ...]) -> ConnectorError:
    text = redact(str(exc), secrets)
    cause: BaseException | None = exc.__cause__
    if isinstance(cause, httpx.ConnectError):
        msg = f"cannot connect to pinecone at {where}: {text}"
        return UnreachableError(msg, hint="check --source-url / --target-url (default https://api.pinecone.io; "
                                          "Pinecone Local: http://localhost:5080) and that the service is up",
                                url=where)
    msg = f"the connection to pinecone at {where} failed: {text}"
    return TransientError(msg, url=where)
