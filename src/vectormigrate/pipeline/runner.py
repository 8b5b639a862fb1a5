"""The runner: read -> transform -> write, overlapped, with a checkpoint that never gets ahead of the data.

::

    reader thread ──(bounded queue of sub-batches)──> N writer threads ──> committer (low-water mark)

* The reader pulls source batches, numbers them (``seq``), transforms them, cuts them under the target's
  record AND byte limits, and blocks when the queue is full: memory is bounded by queue depth x batch size,
  whatever the collection size.
* Writers upsert sub-batches. Only :class:`~vectormigrate.errors.TransientError` is retried (exponential
  backoff with full jitter, honouring ``Retry-After``). A :class:`~vectormigrate.errors.RecordError` naming a
  record takes that record out to the dead-letter file and the rest is written. Anything else stops the run.
* The committer advances the checkpoint to batch ``k``'s cursor only when batches ``1..k`` are all written,
  in one transaction with the counters. Kill the process anywhere: ``resume`` re-reads from the mark, and
  idempotent upserts make the re-written tail harmless, so nothing is lost and nothing is duplicated.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, final

from vectormigrate.connectors.base import Source, Target
from vectormigrate.errors import RecordError, TransientError, ValidationFailed, VectorMigrateError
from vectormigrate.model import Batch, Cursor
from vectormigrate.pipeline.backup import PreImageBackup
from vectormigrate.pipeline.compare import Mismatch
from vectormigrate.pipeline.deadletter import DeadLetterFile
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import DeadRecord, Transformer, split_sized
from vectormigrate.state.store import Counters, StateStore

__all__ = ["Progress", "RunOptions", "RunResult", "Runner"]

_DONE: Final = object()


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves."""

    batch_size: int = 100
    max_retries: int = 3
    workers: int = 2
    queue_depth: int = 4
    dry_run: bool = False
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    validate_every: int = 0
    """Every N batches, re-read a sample of the batch from the target and compare (0: off)."""
    validate_sample: int = 10


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress bars, JSON lines and metrics."""

    migration_id: str
    counters: Counters
    total_records: int | None
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Records written (or, in a dry run, transformed) per second."""
        return self.counters.records_written / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class RunResult:
    """What a run did."""

    status: str
    counters: Counters
    elapsed_s: float
    error: VectorMigrateError | None = None
    dead_letters: int = 0

    @property
    def rate(self) -> float:
        """Records written per second over the whole run."""
        return self.counters.records_written / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class _Unit:
    """One source batch on its way: done when all its sub-batches are written."""

    seq: int
    cursor: Cursor | None
    read: int
    parts: int
    dead: list[DeadRecord] = field(default_factory=list)
    sample: Batch | None = None
    written: int = 0
    retries: int = 0
    bytes: int = 0


@final
class Runner:
    """Runs one migration (or its remainder) to the end, a stop, or a failure."""

    def __init__(
        self,
        *,
        migration_id: str,
        source: Source,
        target: Target,
        plan: MigrationPlan,
        source_collection: str,
        options: RunOptions,
        store: StateStore | None,
        dead_letters: DeadLetterFile | None,
        on_progress: Callable[[Progress], None] | None = None,
        stop: threading.Event | None = None,
        backup: PreImageBackup | None = None,
        checker: Callable[[Batch], list[Mismatch]] | None = None,
    ) -> None:
        if store is None and not options.dry_run:
            msg = "a real run needs a state store"
            raise ValueError(msg)
        self.mid = migration_id
        self.source = source
        self.target = target
        self.plan = plan
        self.transformer = Transformer(plan)
        self.source_collection = source_collection
        self.target_collection = plan.target_schema.name
        self.opts = options
        self.store = store
        self.dead_letters = dead_letters
        self.on_progress = on_progress
        self.stop = stop or threading.Event()
        self.backup = backup
        self.checker = checker if options.validate_every > 0 and not options.dry_run else None
        caps = plan.target_capabilities
        self._max_records = max(1, min(options.batch_size, caps.max_batch_records))
        self._max_bytes = caps.max_batch_bytes
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, options.queue_depth))
        self._lock = threading.Lock()
        self._pending: dict[int, _Unit] = {}
        self._finished: dict[int, _Unit] = {}
        self._next_commit = 1
        self._failure: VectorMigrateError | None = None
        self._crash: BaseException | None = None
        self._totals = Counters()
        self._started = 0.0

    # -- public ---------------------------------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Copy everything after the checkpoint; returns when done, stopped or failed."""
        self._started = time.monotonic()
        after: Cursor | None = None
        seq0 = 0
        if self.store is not None and not self.opts.dry_run:
            ckpt = self.store.checkpoint(self.mid)
            if ckpt is not None:
                after, seq0 = ckpt.cursor, ckpt.batch_seq
                if self.dead_letters is not None:
                    self.dead_letters.truncate_after(seq0)
            self._totals = self.store.get(self.mid).counters
        self._next_commit = seq0 + 1
        writers = [threading.Thread(target=self._write_loop, name=f"vm-writer-{i}", daemon=True)
                   for i in range(max(1, self.opts.workers))]
        for w in writers:
            w.start()
        try:
            self._read_loop(after, seq0)
        except VectorMigrateError as exc:
            self._fail(exc)
        finally:
            for _ in writers:
                self._queue.put(_DONE)
            for w in writers:
                w.join()
        if self._crash is not None:
            raise self._crash
        elapsed = time.monotonic() - self._started
        dead = self._totals.records_failed
        if self._failure is not None:
            return RunResult("failed", self._totals, elapsed, self._failure, dead)
        if self.stop.is_set():
            return RunResult("stopped", self._totals, elapsed, None, dead)
        return RunResult("completed", self._totals, elapsed, None, dead)

    # -- reader ---------------------------------------------------------------------------------------------------
    def _read_loop(self, after: Cursor | None, seq0: int) -> None:
        seq = seq0
        attempts = 0
        while True:
            try:
                for src in self.source.read_batches(self.source_collection, batch_size=self.opts.batch_size,
                                                    after=after):
                    if self.stop.is_set() or self._failure is not None:
                        return
                    seq += 1
                    self._submit(seq, src)
                    after = src.cursor
                    attempts = 0
                return
            except TransientError as exc:
                # Restart the scan from the last batch handed on: the cursor makes this exact.
                attempts += 1
                if attempts > self.opts.max_retries:
                    raise
                self._note_retry(None)
                self._sleep(attempts, exc.retry_after)

    def _submit(self, seq: int, src: Batch) -> None:
        out, dead = self.transformer.apply(src)
        parts = split_sized(out, max_records=self._max_records, max_bytes=self._max_bytes)
        unit = _Unit(seq=seq, cursor=src.cursor, read=len(src), parts=len(parts), dead=dead)
        if self.checker is not None and seq % self.opts.validate_every == 0 and len(src):
            dead_ids = {d.record_id for d in dead}
            keep = [i for i, rid in enumerate(src.ids) if rid not in dead_ids]
            pick = random.sample(keep, min(self.opts.validate_sample, len(keep)))
            unit.sample = src.take(sorted(pick))
        if parts and self.store is not None and not self.opts.dry_run:
            # High-water mark: batches up to here may reach the target. Rollback undoes up to it, not only up
            # to the checkpoint, so writes in flight when a run failed or crashed are undone too.
            self.store.put_checkpoint(self.mid, "dispatched", cursor=src.cursor, batch_seq=seq)
        with self._lock:
            self._pending[seq] = unit
        if not parts:
            self._part_done(unit)
            return
        for part, size in parts:
            while not self.stop.is_set() and self._failure is None:
                try:
                    self._queue.put((unit, part, size), timeout=0.2)
                    break
                except queue.Full:
                    continue

    # -- writers --------------------------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            unit, part, size = item
            if self._failure is not None:
                continue
            try:
                written, dead, retries = self._write(part)
            except VectorMigrateError as exc:
                self._fail(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - an SDK bug must stop the run cleanly, not hang it
                self._fail(VectorMigrateError(f"unexpected error while writing: {type(exc).__name__}: {exc}",
                                              hint="this is a bug in vectormigrate or the SDK; please report it"))
                continue
            except BaseException as exc:  # noqa: BLE001 - re-raised in run(), see below
                # SystemExit / a simulated crash in a writer: behave like a dying process. Nothing more is
                # committed for this batch, the run stops, and run() re-raises it in the caller's thread.
                self._crash = exc
                self._fail(VectorMigrateError("a writer thread died", hint="resume the migration"))
                continue
            with self._lock:
                unit.written += written
                unit.dead.extend(dead)
                unit.retries += retries
                unit.bytes += size
            self._part_done(unit)

    def _write(self, part: Batch) -> tuple[int, list[DeadRecord], int]:
        """Upsert with retries; returns (written, dead, retries)."""
        dead: list[DeadRecord] = []
        retries = 0
        attempt = 0
        while True:
            if len(part) == 0:
                return 0, dead, retries
            if self.opts.dry_run:
                return len(part), dead, retries
            try:
                if self.backup is not None:
                    self.backup.protect(part)
                self.target.write_batch(self.target_collection, part)
                return len(part), dead, retries
            except TransientError as exc:
                attempt += 1
                if attempt > self.opts.max_retries:
                    raise
                retries += 1
                self._note_retry(exc)
                self._sleep(attempt, exc.retry_after)
            except RecordError as exc:
                rid = exc.fields.get("record_id")
                if rid is None or rid not in part.ids:
                    raise
                i = part.ids.index(rid)
                dead.append(DeadRecord(rid, part.namespace, str(exc.fields.get("field", "record")), exc.message,
                                       exc.hint or "fix the record in the source"))
                part = part.take([j for j in range(len(part)) if j != i])

    def _sleep(self, attempt: int, retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None else random.uniform(  # noqa: S311 - jitter, not crypto
            0, min(self.opts.backoff_cap, self.opts.backoff_base * 2 ** (attempt - 1)))
        self.stop.wait(delay)

    def _note_retry(self, exc: TransientError | None) -> None:
        if self.store is not None and not self.opts.dry_run:
            self.store.add_event(self.mid, "retry", {"error": exc.message if exc else "source read"})

    # -- committer ------------------------------------------------------------------------------------------------
    def _part_done(self, unit: _Unit) -> None:
        with self._lock:
            unit.parts -= 1
            if unit.parts > 0:
                return
        # A sampled batch is checked before its checkpoint can commit: a failed check leaves it (and everything
        # after it) to be copied again by `resume`.
        if unit.sample is not None and self.checker is not None and not self._check_sample(unit):
            return
        with self._lock:
            self._finished[unit.seq] = self._pending.pop(unit.seq)
            # Commit every batch that is now contiguous with the mark; the lock keeps commits ordered.
            while self._next_commit in self._finished:
                done = self._finished.pop(self._next_commit)
                self._commit(done)
                self._next_commit += 1

    def _check_sample(self, unit: _Unit) -> bool:
        """--validate-every: the batch is durably written; read a sample back and compare it with the source."""
        assert unit.sample is not None and self.checker is not None  # noqa: S101 - guarded by the caller
        try:
            found = self.checker(unit.sample)
        except VectorMigrateError as exc:
            self._fail(exc)
            return False
        if self.store is not None:
            self.store.add_event(self.mid, "sample_check", {"batch_seq": unit.seq, "checked": len(unit.sample),
                                                            "mismatches": len(found)})
        if found:
            first = found[0]
            msg = (f"validation sample of batch {unit.seq} failed: {len(found)} difference(s), first: record "
                   f"{first.record_id!r} {first.field}: {first.detail}")
            self._fail(ValidationFailed(msg, hint="`vectormigrate validate ID --full` lists every difference; fix "
                                        "the cause, then `vectormigrate resume ID`",
                                        mismatches=[m.to_json() for m in found[:20]], batch_seq=unit.seq))
            return False
        return True

    def _commit(self, unit: _Unit) -> None:
        delta = Counters(records_read=unit.read, records_written=unit.written, records_failed=len(unit.dead),
                         batches=1, retries=unit.retries, bytes_written=unit.bytes)
        if not self.opts.dry_run and self.store is not None:
            if self.dead_letters is not None:
                self.dead_letters.append(unit.seq, unit.dead)
            self.store.commit_checkpoint(self.mid, cursor=unit.cursor, batch_seq=unit.seq, delta=delta)
        elif self.dead_letters is not None and unit.dead:
            self.dead_letters.append(unit.seq, unit.dead)
        self._totals.add(delta)
        if self.on_progress is not None:
            snapshot = Counters(**self._totals.as_dict())
            self.on_progress(Progress(self.mid, snapshot, self.plan.source_schema.count,
                                      time.monotonic() - self._started))

    def _fail(self, exc: VectorMigrateError) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = exc
        self.stop.set()
