"""Catch-up: make the target equal the source again, from the journal or by a full streaming comparison.

**Journal replay** (:class:`JournalSync`, ``vectormigrate sync ID``). Entries after the ``sync`` checkpoint are
read in sequence order, in windows of ``batch_size``. For each window the distinct ids are fetched from the
source (the truth) and upserted into the target through the plan; ids the source no longer has are deleted from
the target. Then the checkpoint moves to the window's last sequence number (state database, kind ``sync``).
Replaying an entry twice is harmless, so a crash anywhere just repeats at most one window.

*Why the source and not the journaled write?* The journal says which ids changed, not what they became: the
source's current state is the only value that cannot be stale. An entry is safe to pass once its window was
copied, because any later change of that id gets a later sequence number (journal order is commit order, and
the dual-writer writes the source before journaling), so a later window or pass copies it again.

**The bulk-copy rule.** While the bulk copy has not completed (migration status other than ``completed``), a
pass replays but **never moves the checkpoint**. The bulk copy may hold a copy of a record it read before the
application changed it and write it after ``sync`` copied the new one; that stale write can land at any time
until the copy finishes, and nothing tells which entries it will hit. So every entry journaled before the copy
finished is replayed again by the first pass after it. A pass stops at the journal head it saw when it
started, so it ends even while the application keeps writing.

**Full comparison** (:class:`FullSync`, ``vectormigrate sync ID --full``), for applications that cannot use
the dual-writer: every source record is compared with its target copy (streaming, one batch at a time) and
rewritten when missing or different; then every target record whose source record is gone is deleted. The scan
position is checkpointed (kind ``sync_full``), so a stopped pass resumes; a finished pass clears it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

from vectormigrate.connectors.base import Connector
from vectormigrate.errors import RecordError, StateError, TransientError, VectorMigrateError
from vectormigrate.model import Batch, RecordId, VectorRecord, id_kind_of
from vectormigrate.pipeline.deadletter import DeadLetterFile
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import DeadRecord, Transformer, split_batch
from vectormigrate.pipeline.validate import Validator
from vectormigrate.state.store import StateStore
from vectormigrate.zerodowntime.journal import Journal, JournalEntry

__all__ = ["FullSync", "JournalSync", "SyncResult"]

log = logging.getLogger("vectormigrate.sync")
T = TypeVar("T")

SYNC_KIND = "sync"
FULL_KIND = "sync_full"


@dataclass
class SyncResult:
    """What one sync pass did."""

    mode: Literal["journal", "full"]
    status: Literal["completed", "stopped", "failed"] = "completed"
    entries: int = 0
    """Journal entries replayed."""
    ids: int = 0
    """Distinct ids copied or deleted (per window)."""
    upserted: int = 0
    deleted: int = 0
    dead: int = 0
    retries: int = 0
    windows: int = 0
    checked: int = 0
    """--full: source records compared."""
    missing: int = 0
    different: int = 0
    extra: int = 0
    foreign_kept: int = 0
    """--full into a target that held records before: target-only records the migration never wrote (kept)."""
    checkpoint_before: int = 0
    checkpoint_after: int = 0
    head: int = 0
    held: str | None = None
    """Why the checkpoint did not move (the bulk copy is still running), or None."""
    pruned: int = 0
    elapsed_s: float = 0.0
    error: VectorMigrateError | None = None
    dead_letter_file: str | None = None
    extra_info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON for ``--json``, the MCP tools and the state database."""
        out: dict[str, Any] = {"mode": self.mode, "status": self.status, "upserted": self.upserted,
                               "deleted": self.deleted, "dead_letters": self.dead, "retries": self.retries,
                               "elapsed_s": round(self.elapsed_s, 3)}
        if self.mode == "journal":
            out |= {"entries": self.entries, "ids": self.ids, "windows": self.windows,
                    "checkpoint_before": self.checkpoint_before, "checkpoint_after": self.checkpoint_after,
                    "journal_head": self.head, "checkpoint_held": self.held, "pruned": self.pruned}
        else:
            out |= {"checked": self.checked, "missing": self.missing, "different": self.different,
                    "extra_in_target": self.extra, "foreign_kept": self.foreign_kept}
        if self.dead:
            out["dead_letter_file"] = self.dead_letter_file
        if self.error is not None:
            out["error"] = self.error.attrs()
        return out | self.extra_info


def canonical_id(rid: RecordId) -> RecordId:
    """Ids compared across a fetch: databases hand UUIDs back in canonical form (lowercase, hyphenated)."""
    if isinstance(rid, str) and id_kind_of(rid) == "uuid":
        return str(uuid.UUID(rid))
    return rid


class _Repairer:
    """Writes source records into the target (through the plan) and deletes mapped ids, with retries."""

    def __init__(self, target: Connector, plan: MigrationPlan, *, max_retries: int, stop: threading.Event,
                 dead_letters: DeadLetterFile | None, result: SyncResult) -> None:
        self.target = target
        self.collection = plan.target_schema.name
        self.tr = Transformer(plan)
        self.caps = plan.target_capabilities
        self.max_retries = max_retries
        self.stop = stop
        self.dead_letters = dead_letters
        self.result = result
        self.dims = {v.name: v.dim for v in plan.source_schema.vectors}
        self._namespaces: set[str] = set()

    def retry(self, fn: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return fn()
            except TransientError as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                self.result.retries += 1
                delay = exc.retry_after if exc.retry_after is not None else random.uniform(  # noqa: S311 - jitter
                    0, min(10.0, 0.2 * 2 ** (attempt - 1)))
                self.stop.wait(delay)

    def upsert(self, records: Sequence[VectorRecord], namespace: str | None, seq: int) -> None:
        # A fetch may return records with different vector sets (a Qdrant point can lack a named vector):
        # a Batch needs full matrices, so group them.
        groups: dict[tuple[str, ...], list[VectorRecord]] = {}
        for rec in records:
            groups.setdefault(tuple(sorted(rec.vectors)), []).append(rec)
        for recs in groups.values():
            out, dead = self.tr.apply(Batch.from_records(recs, namespace=namespace, dims=self.dims))
            self._dead(seq, dead)
            if not len(out):
                continue
            ns = out.namespace
            if ns is not None and ns not in self._namespaces:
                self.retry(partial(self.target.ensure_namespace, self.collection, ns))
                self._namespaces.add(ns)
            for part in split_batch(out, max_records=self.caps.max_batch_records, max_bytes=self.caps.max_batch_bytes):
                self._write(part, seq)

    def _write(self, part: Batch, seq: int) -> None:
        while len(part):
            try:
                self.retry(partial(self.target.write_batch, self.collection, part))
            except RecordError as exc:
                rid = exc.fields.get("record_id")
                if rid is None or rid not in part.ids:
                    raise
                i = part.ids.index(rid)
                self._dead(seq, [DeadRecord(rid, part.namespace, str(exc.fields.get("field", "record")), exc.message,
                                            exc.hint or "fix the record in the source")])
                part = part.take([j for j in range(len(part)) if j != i])
                continue
            self.result.upserted += len(part)
            return

    def delete(self, source_ids: Sequence[RecordId], namespace: str | None, *, mapped: bool = False) -> None:
        if not source_ids:
            return
        tids = list(source_ids) if mapped else [self.tr.target_id(i) for i in source_ids]
        ns = namespace if mapped else self.tr.target_namespace(namespace)
        self.retry(partial(self.target.delete, self.collection, tids, ns))
        self.result.deleted += len(tids)

    def _dead(self, seq: int, dead: Sequence[DeadRecord]) -> None:
        if not dead:
            return
        self.result.dead += len(dead)
        for d in dead:
            log.warning("sync: record %r cannot be written to the target (%s: %s)", d.record_id, d.field, d.reason)
        if self.dead_letters is not None:
            self.dead_letters.append(seq, dead)


class JournalSync:
    """Replays the journal from the ``sync`` checkpoint; see the module docstring.

    Args:
        hold: why the checkpoint must not move (the bulk copy is still running), or None.
        prune: delete replayed entries from the journal once the checkpoint moved past them.
    """

    def __init__(self, *, store: StateStore, migration_id: str, journal: Journal, source: Connector,
                 source_collection: str, target: Connector, plan: MigrationPlan, batch_size: int = 500,
                 max_retries: int = 3, hold: str | None = None, prune: bool = True,
                 dead_letters: DeadLetterFile | None = None, stop: threading.Event | None = None,
                 on_progress: Callable[[SyncResult], None] | None = None) -> None:
        self.store = store
        self.mid = migration_id
        self.journal = journal
        self.source = source
        self.source_collection = source_collection
        self.batch_size = max(1, batch_size)
        self.hold = hold
        self.prune = prune
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.result = SyncResult("journal", held=hold,
                                 dead_letter_file=str(dead_letters.path) if dead_letters is not None else None)
        self.repair = _Repairer(target, plan, max_retries=max_retries, stop=self.stop, dead_letters=dead_letters,
                                result=self.result)

    def checkpoint(self) -> int:
        """The sequence number up to which the target has every journaled change (0: none)."""
        ckpt = self.store.checkpoint(self.mid, SYNC_KIND)
        if ckpt is None:
            return 0
        made_with = (ckpt.cursor or {}).get("journal_id")
        if made_with is not None and made_with != self.journal.journal_id:
            msg = (f"the sync checkpoint of migration {self.mid!r} belongs to another journal "
                   f"({(ckpt.cursor or {}).get('journal')}), not {self.journal.location}")
            raise StateError(msg, hint="point --journal at the journal the application writes (the one "
                             "`vectormigrate dual-write` registered)", migration_id=self.mid)
        return ckpt.batch_seq

    def run(self) -> SyncResult:
        """One pass, up to the journal head seen at the start."""
        started = time.monotonic()
        res = self.result
        after = res.checkpoint_before = res.checkpoint_after = self.checkpoint()
        upto = res.head = self.journal.head(self.mid)
        try:
            while after < upto:
                if self.stop.is_set():
                    res.status = "stopped"
                    break
                window = self.journal.read(self.mid, after=after, limit=self.batch_size, upto=upto)
                if not window:
                    break  # pruned or never written below the head: nothing left
                self._replay(window)
                after = window[-1].seq
                res.entries += len(window)
                res.windows += 1
                if self.hold is None:
                    self.store.put_checkpoint(self.mid, SYNC_KIND, cursor={"journal_id": self.journal.journal_id,
                                                                           "journal": self.journal.location},
                                              batch_seq=after)
                    res.checkpoint_after = after
                if self.on_progress is not None:
                    self.on_progress(res)
        except VectorMigrateError as exc:
            res.status = "failed"
            res.error = exc
        if self.hold is None and self.prune and res.checkpoint_after > res.checkpoint_before:
            try:
                res.pruned = self.journal.prune(self.mid, res.checkpoint_after)
            except VectorMigrateError as exc:  # pruning is housekeeping; the sync itself succeeded
                log.warning("sync: could not prune the journal: %s", exc.message)
        res.elapsed_s = time.monotonic() - started
        return res

    def _replay(self, window: Sequence[JournalEntry]) -> None:
        by_ns: dict[str | None, dict[RecordId, None]] = {}
        for e in window:
            by_ns.setdefault(e.namespace, {})[e.record_id] = None
        seq = window[-1].seq
        for ns, ids_map in by_ns.items():
            ids = list(ids_map)
            self.result.ids += len(ids)
            records = self.repair.retry(partial(self.source.fetch, self.source_collection, ids, ns))
            present = {canonical_id(r.id) for r in records}
            gone = [i for i in ids if canonical_id(i) not in present]
            # An entry without a namespace (an SDK adapter journals before it knows one) takes the record's own.
            by_record_ns: dict[str | None, list[VectorRecord]] = {}
            for rec in records:
                by_record_ns.setdefault(ns if ns is not None else rec.namespace, []).append(rec)
            for rns, recs in by_record_ns.items():
                self.repair.upsert(recs, rns, seq)
            self.repair.delete(gone, ns)


class FullSync:
    """Compares both sides record by record and repairs every difference; see the module docstring."""

    def __init__(self, *, store: StateStore, migration_id: str, source: Connector, source_collection: str,
                 target: Connector, plan: MigrationPlan, batch_size: int = 500, max_retries: int = 3,
                 dead_letters: DeadLetterFile | None = None, stop: threading.Event | None = None,
                 on_progress: Callable[[SyncResult], None] | None = None) -> None:
        self.store = store
        self.mid = migration_id
        self.source = source
        self.source_collection = source_collection
        self.target = target
        self.plan = plan
        self.batch_size = max(1, batch_size)
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.validator = Validator(source, source_collection, target, plan)
        self.foreign_guard = plan.target_exists and bool(plan.target_count)
        self.result = SyncResult("full", dead_letter_file=str(dead_letters.path) if dead_letters is not None else None)
        self.repair = _Repairer(target, plan, max_retries=max_retries, stop=self.stop, dead_letters=dead_letters,
                                result=self.result)

    def run(self) -> SyncResult:
        """One pass (or the rest of a stopped one)."""
        started = time.monotonic()
        res = self.result
        ckpt = self.store.checkpoint(self.mid, FULL_KIND)
        state: dict[str, Any] = dict(ckpt.cursor or {}) if ckpt else {}
        n = ckpt.batch_seq if ckpt else 0
        try:
            if state.get("phase", "source") == "source":
                n = self._source_side(state.get("after"), n)
                if res.status == "completed":
                    state = {"phase": "target", "after": None}
                    self.store.put_checkpoint(self.mid, FULL_KIND, cursor=state, batch_seq=n)
            if res.status == "completed":
                self._target_side(state.get("after"), n)
            if res.status == "completed":
                self.store.clear_checkpoint(self.mid, FULL_KIND)
        except VectorMigrateError as exc:
            res.status = "failed"
            res.error = exc
        res.elapsed_s = time.monotonic() - started
        return res

    def _source_side(self, after: Any, n: int) -> int:
        """Every source record against its target copy; rewrite the missing and the different ones."""
        res = self.result
        for batch in self.source.read_batches(self.source_collection, batch_size=self.batch_size, after=after):
            if self.stop.is_set():
                res.status = "stopped"
                return n
            n += 1
            found = self.repair.retry(partial(self.validator.check_batch, batch))
            res.checked += len(batch)
            bad: dict[RecordId, bool] = {}
            for m in found:
                missing = m.field == "record"
                bad[m.record_id] = bad.get(m.record_id, False) or missing
            res.missing += sum(1 for v in bad.values() if v)
            res.different += sum(1 for v in bad.values() if not v)
            if bad:
                keep = [i for i, rid in enumerate(batch.ids) if rid in bad]
                self.repair.upsert(list(batch.take(keep).records()), batch.namespace, n)
            self.store.put_checkpoint(self.mid, FULL_KIND, cursor={"phase": "source", "after": batch.cursor},
                                      batch_seq=n)
            if self.on_progress is not None:
                self.on_progress(res)
        return n

    def _target_side(self, after: Any, n: int) -> None:
        """Delete target records whose source record is gone (stale or foreign ones)."""
        res = self.result
        plan = self.plan
        tr = self.repair.tr
        for batch in self.target.read_batches(plan.target_schema.name, batch_size=self.batch_size, after=after):
            if self.stop.is_set():
                res.status = "stopped"
                return
            n += 1
            by_source_ns: dict[str | None, list[tuple[RecordId, RecordId]]] = {}
            for tid, meta in zip(batch.ids, batch.metadata, strict=True):
                sid = meta.get(plan.id_field, tid) if plan.id_strategy != "keep" else tid
                ns = meta.get(plan.namespace_field) if plan.namespace_strategy == "metadata_field" \
                    else batch.namespace
                by_source_ns.setdefault(ns, []).append((sid, tid))
            for ns, pairs in by_source_ns.items():
                sids = [s for s, _ in pairs]
                got = self.repair.retry(partial(self.source.fetch, self.source_collection, sids, ns))
                present = {canonical_id(r.id) for r in got}
                # A target record also counts as foreign when its id is not what the plan maps its source id to.
                extra = [tid for sid, tid in pairs
                         if canonical_id(sid) not in present or canonical_id(tr.target_id(sid)) != canonical_id(tid)]
                if extra and self.foreign_guard:
                    # The target held records before the migration: only delete those the migration wrote
                    # (a backup mark), never records that were there before and have no source counterpart.
                    marks = self.store.backup_marks(self.mid, batch.namespace, extra)
                    res.foreign_kept += sum(1 for t in extra if t not in marks)
                    extra = [t for t in extra if t in marks]
                if extra:
                    res.extra += len(extra)
                    self.repair.delete(extra, batch.namespace, mapped=True)
            self.store.put_checkpoint(self.mid, FULL_KIND, cursor={"phase": "target", "after": batch.cursor},
                                      batch_seq=n)
            if self.on_progress is not None:
                self.on_progress(res)
