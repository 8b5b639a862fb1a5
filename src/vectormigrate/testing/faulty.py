"""A fault-injecting wrapper around any connector, for retry, dead-letter and crash/resume tests.

:class:`FaultyConnector` delegates every call to the connector it wraps (same ``name``, ``capabilities``,
``config``; it is :class:`~vectormigrate.connectors.base.Searchable` exactly when the wrapped one is) and injects
failures at chosen points, deterministically, so a test of the runner can say *which* batch fails and how:

* **transient** — ``TransientError`` on the first ``transient_times`` attempts of every ``transient_every``-th
  batch (and/or of the batches numbered in ``transient_batches``). A retrying runner then succeeds.
* **terminal** — ``TerminalError`` on every attempt of batch number ``terminal_at_write``.
* **rejected records** — ``RecordError(record_id=...)`` for a batch holding an id of ``reject_ids`` (nothing of
  that batch is written, as a database refusing the request would do), so the runner can dead-letter the record
  and write the rest.
* **crash** — after ``crash_after_writes`` successful writes, "the process dies": by default
  :class:`SimulatedCrash` is raised (a ``BaseException``, so no ``except Exception`` swallows it and tests can catch
  it); pass ``crash=hard_exit`` to end the process with status 137, like ``kill -9``, in subprocess tests.
  ``crash_point="after_write"`` (default) crashes right after the N-th write became durable but before it returns
  (the checkpoint has not recorded it: resume must re-write it harmlessly); ``"before_write"`` crashes when write
  N+1 starts (nothing of it is written). After a crash the wrapper is dead: every call but ``close()`` raises
  :class:`SimulatedCrash`. Inspect the store through ``inner`` or a new connector.
* **read faults** — ``TransientError`` instead of the k-th batch read (counted over the wrapper's life, once
  each, numbers in ``read_transient_at``), so a runner's read retry/resume path runs.

Batches are numbered from 1 in the order ``write_batch`` first sees them. A retry of the same batch (same
namespace, length, first and last id) keeps its number, so "fail the first 2 attempts of batch 3" means what it
says even when several writer threads interleave. Counters are guarded by a lock; the wrapped write runs outside
it, so concurrent writes stay concurrent.

Example::

    inner = MemoryConnector(ConnectionConfig(url="t"))
    target = FaultyConnector(inner, transient_every=3, transient_times=2, crash_after_writes=10)
    with pytest.raises(SimulatedCrash):
        run_migration(source, target)
    assert target.stats().writes_ok == 10
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, cast

from vectormigrate.connectors.base import Connector, IfExists, Searchable
from vectormigrate.errors import RecordError, TerminalError, TransientError
from vectormigrate.model import Batch, CollectionSchema, Cursor, RecordId, VectorRecord

__all__ = ["CrashPoint", "FaultStats", "FaultyConnector", "SimulatedCrash", "hard_exit", "raise_crash"]

CrashPoint = Literal["after_write", "before_write"]
_HINT = "injected by FaultyConnector (vectormigrate.testing.faulty)"


class SimulatedCrash(BaseException):
    """The simulated death of the process. A ``BaseException``: only a test that expects it catches it."""


def raise_crash() -> NoReturn:
    """The default ``crash``: raise :class:`SimulatedCrash`.

    Raises:
        SimulatedCrash: always.
    """
    msg = "simulated crash (FaultyConnector)"
    raise SimulatedCrash(msg)


def hard_exit() -> NoReturn:
    """End the process at once with status 137, as ``kill -9`` would: no cleanup, no flush, no ``finally``."""
    os._exit(137)


@dataclass(frozen=True, slots=True)
class FaultStats:
    """A snapshot of what the wrapper saw and did."""

    write_calls: int
    """Calls to ``write_batch``, retries included."""
    writes_ok: int
    """Writes that reached the wrapped connector and returned."""
    batches_seen: int
    """Distinct batches (retries of one batch count once)."""
    records_written: int
    """Records in the successful writes (a record written twice counts twice)."""
    transient_raised: int
    terminal_raised: int
    record_errors_raised: int
    read_batches: int
    """Batches yielded or failed by ``read_batches``, over the wrapper's life."""
    read_transient_raised: int
    crashed: bool


class FaultyConnector(Connector):
    """Wrap ``inner`` and inject failures; see the module docstring for the semantics.

    Args:
        inner: the connector to wrap.
        transient_every: every N-th batch fails transiently (0: never).
        transient_times: how many attempts of such a batch fail before one goes through.
        transient_batches: batch numbers (from 1) that fail transiently, in addition to ``transient_every``.
        terminal_at_write: the batch number (from 1) that fails with ``TerminalError`` on every attempt.
        reject_ids: ids the "database" refuses with ``RecordError``.
        crash_after_writes: crash after this many successful writes (``None``: never).
        crash_point: ``"after_write"`` or ``"before_write"``, see the module docstring.
        crash: what crashing does: :func:`raise_crash` (default) or :func:`hard_exit`. If it returns,
            :class:`SimulatedCrash` is raised anyway.
        read_transient_at: numbers (from 1) of the read batches replaced by a ``TransientError``, once each.
        write_latency: seconds each successful write sleeps first (to make writer threads overlap).
    """

    def __new__(cls, inner: Connector, **kwargs: Any) -> FaultyConnector:
        """Return the :class:`~vectormigrate.connectors.base.Searchable` variant when ``inner`` can search."""
        if cls is FaultyConnector and isinstance(inner, Searchable):
            return object.__new__(_SearchableFaultyConnector)
        return object.__new__(cls)

    def __init__(
        self,
        inner: Connector,
        *,
        transient_every: int = 0,
        transient_times: int = 1,
        transient_batches: Collection[int] = (),
        terminal_at_write: int | None = None,
        reject_ids: Collection[RecordId] = (),
        crash_after_writes: int | None = None,
        crash_point: CrashPoint = "after_write",
        crash: Callable[[], object] = raise_crash,
        read_transient_at: Collection[int] = (),
        write_latency: float = 0.0,
    ) -> None:
        # Not Connector.__init__: it would parse inner's options against ours. Identity comes from inner;
        # the instance attributes shadow the class variables so the pipeline sees inner's capabilities.
        self.__dict__["name"] = inner.name
        self.__dict__["capabilities"] = inner.capabilities
        self.__dict__["options"] = inner.options
        self.__dict__["extra"] = inner.extra
        self.inner = inner
        self.config = inner.config
        self.opts = inner.opts
        self.transient_every = transient_every
        self.transient_times = transient_times
        self.transient_batches = frozenset(transient_batches)
        self.terminal_at_write = terminal_at_write
        self.reject_ids = frozenset(reject_ids)
        self.crash_after_writes = crash_after_writes
        self.crash_point: CrashPoint = crash_point
        self.crash = crash
        self.read_transient_at = frozenset(read_transient_at)
        self.write_latency = write_latency
        self._lock = threading.Lock()
        self._batch_no: dict[tuple[str | None, int, RecordId | None, RecordId | None], int] = {}
        self._attempts: Counter[int] = Counter()
        self._written_ids: Counter[RecordId] = Counter()
        self._write_calls = self._writes_ok = self._records_written = 0
        self._transient = self._terminal = self._record_errors = 0
        self._reads = self._read_transient = 0
        self._crashed = False

    def __repr__(self) -> str:
        return f"FaultyConnector({self.inner!r})"

    # --- introspection -----------------------------------------------------------------------------------

    def stats(self) -> FaultStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return FaultStats(
                write_calls=self._write_calls, writes_ok=self._writes_ok, batches_seen=len(self._batch_no),
                records_written=self._records_written, transient_raised=self._transient,
                terminal_raised=self._terminal, record_errors_raised=self._record_errors, read_batches=self._reads,
                read_transient_raised=self._read_transient, crashed=self._crashed)

    def writes_per_id(self) -> Counter[RecordId]:
        """How many successful writes carried each id (2 = re-written, e.g. after a resume)."""
        with self._lock:
            return Counter(self._written_ids)

    def attempts(self, batch_no: int) -> int:
        """How many times ``write_batch`` was called for batch number ``batch_no`` (from 1)."""
        with self._lock:
            return self._attempts[batch_no]

    # --- faults ------------------------------------------------------------------------------------------

    def _die(self) -> NoReturn:
        self.crash()
        raise_crash()  # crash() returned: the process must still "die"

    def _check_alive(self) -> None:
        if self._crashed:
            raise_crash()

    def write_batch(self, collection: str, batch: Batch) -> None:
        """Maybe fail, else write through to ``inner``; count and maybe crash afterwards."""
        key = (batch.namespace, len(batch), batch.ids[0] if batch.ids else None, batch.ids[-1] if batch.ids else None)
        with self._lock:
            self._check_alive()
            self._write_calls += 1
            number = self._batch_no.setdefault(key, len(self._batch_no) + 1)
            self._attempts[number] += 1
            attempt = self._attempts[number]
            if self.crash_point == "before_write" and self.crash_after_writes is not None \
                    and self._writes_ok >= self.crash_after_writes:
                self._crashed = True
                crash_now = True
            else:
                crash_now = False
        if crash_now:
            self._die()
        if number == self.terminal_at_write:
            with self._lock:
                self._terminal += 1
            msg = f"injected terminal failure writing batch {number} into {collection!r}"
            raise TerminalError(msg, hint=_HINT, collection=collection)
        transient = number in self.transient_batches or (
            self.transient_every > 0 and number % self.transient_every == 0)
        if transient and attempt <= self.transient_times:
            with self._lock:
                self._transient += 1
            msg = f"injected transient failure writing batch {number} (attempt {attempt}) into {collection!r}"
            raise TransientError(msg, hint=_HINT, collection=collection)
        rejected = next((rid for rid in batch.ids if rid in self.reject_ids), None) if self.reject_ids else None
        if rejected is not None:
            with self._lock:
                self._record_errors += 1
            msg = f"injected refusal of record {rejected!r} in {collection!r}"
            raise RecordError(msg, hint=_HINT, record_id=rejected, field="id", collection=collection)
        if self.write_latency > 0:
            time.sleep(self.write_latency)
        self.inner.write_batch(collection, batch)
        with self._lock:
            self._writes_ok += 1
            self._records_written += len(batch)
            self._written_ids.update(batch.ids)
            crash_now = self._crashed or (
                self.crash_point == "after_write" and self.crash_after_writes is not None
                and self._writes_ok == self.crash_after_writes)
            if crash_now:
                self._crashed = True
        if crash_now:
            self._die()

    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        """Delegate to ``inner``, replacing the read batches numbered in ``read_transient_at`` by a TransientError."""
        self._check_alive()
        for batch in self.inner.read_batches(collection, batch_size=batch_size, after=after):
            with self._lock:
                self._check_alive()
                self._reads += 1
                number = self._reads
                fail = number in self.read_transient_at
                if fail:
                    self._read_transient += 1
            if fail:
                msg = f"injected transient failure reading batch {number} of {collection!r}"
                raise TransientError(msg, hint=_HINT, collection=collection)
            yield batch

    # --- plain delegation --------------------------------------------------------------------------------

    def exists(self, collection: str) -> bool:
        """Delegate to ``inner``."""
        self._check_alive()
        return self.inner.exists(collection)

    def describe(self, collection: str) -> CollectionSchema:
        """Delegate to ``inner``."""
        self._check_alive()
        return self.inner.describe(collection)

    def count(self, collection: str, namespace: str | None = None) -> int:
        """Delegate to ``inner``."""
        self._check_alive()
        return self.inner.count(collection, namespace)

    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        """Delegate to ``inner``."""
        self._check_alive()
        return self.inner.fetch(collection, ids, namespace)

    def create_collection(self, schema: CollectionSchema) -> None:
        """Delegate to ``inner``."""
        self._check_alive()
        self.inner.create_collection(schema)

    def drop_collection(self, collection: str) -> None:
        """Delegate to ``inner``."""
        self._check_alive()
        self.inner.drop_collection(collection)

    def delete(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        """Delegate to ``inner``."""
        self._check_alive()
        self.inner.delete(collection, ids, namespace)

    def ensure_namespace(self, collection: str, namespace: str) -> None:
        """Delegate to ``inner``."""
        self._check_alive()
        self.inner.ensure_namespace(collection, namespace)

    def prepare(self, schema: CollectionSchema, *, if_exists: IfExists = "append") -> bool:
        """Delegate to ``inner`` (which may override the template)."""
        self._check_alive()
        return self.inner.prepare(schema, if_exists=if_exists)

    def close(self) -> None:
        """Close ``inner`` (allowed after a crash)."""
        self.inner.close()


class _SearchableFaultyConnector(FaultyConnector, Searchable):
    """The wrapper of a searchable connector (``FaultyConnector(inner)`` picks it)."""

    def search(self, collection: str, vector_name: str, query: Sequence[float], top_k: int,
               namespace: str | None = None) -> list[tuple[RecordId, float]]:
        """Delegate to ``inner``."""
        self._check_alive()
        return cast(Searchable, self.inner).search(collection, vector_name, query, top_k, namespace)
