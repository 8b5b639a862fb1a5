"""Rollback: undo a migration without losing data that was in the target before it.

* If the migration created the target collection, dropping it restores the state before the migration.
* Otherwise the source is scanned again, up to the last batch that may have reached the target (the
  ``dispatched`` high-water mark: the checkpoint plus batches in flight when the run stopped), the target ids
  are recomputed from the plan, and with a pool of workers each id is either restored from the pre-image backup
  (it existed before) or deleted (the migration created it). Ids past the mark are never touched.

Rollback is resumable: its own checkpoint (kind ``rollback``) advances in order as windows of batches finish, and
redoing a window is harmless (deletes and restores are idempotent).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from vectormigrate.connectors.base import Connector
from vectormigrate.model import Batch, Cursor
from vectormigrate.pipeline.backup import PreImageBackup
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.state.store import StateStore

__all__ = ["RollbackResult", "Rollbacker"]


@dataclass
class RollbackResult:
    """What a rollback did."""

    status: str
    deleted: int = 0
    restored: int = 0
    untouched: int = 0
    batches: int = 0
    dropped_collection: bool = False
    source_changed: bool = False

    def to_json(self) -> dict[str, object]:
        """Summary for ``--json`` and the MCP tool."""
        return {"status": self.status, "deleted": self.deleted, "restored": self.restored,
                "untouched": self.untouched, "batches": self.batches, "dropped_collection": self.dropped_collection,
                "source_changed": self.source_changed}


class Rollbacker:
    """Deletes or restores, in the target, every id a migration may have written."""

    def __init__(self, store: StateStore, migration_id: str, source: Connector, source_collection: str,
                 target: Connector, plan: MigrationPlan, *, batch_size: int, workers: int = 4,
                 backup: PreImageBackup | None = None, stop: threading.Event | None = None) -> None:
        self.store = store
        self.mid = migration_id
        self.source = source
        self.source_collection = source_collection
        self.target = target
        self.target_collection = plan.target_schema.name
        self.tr = Transformer(plan)
        self.batch_size = batch_size
        self.workers = max(1, workers)
        self.backup = backup
        self.stop = stop or threading.Event()
        self._lock = threading.Lock()

    def run(self) -> RollbackResult:
        """Undo up to the high-water mark, resuming a previous rollback where it stopped."""
        copy = self.store.checkpoint(self.mid, "copy")
        dispatched = self.store.checkpoint(self.mid, "dispatched")
        limit = max(copy.batch_seq if copy else 0, dispatched.batch_seq if dispatched else 0)
        limit_cursor = dispatched.cursor if dispatched and dispatched.batch_seq >= limit else \
            (copy.cursor if copy else None)
        done = self.store.checkpoint(self.mid, "rollback")
        seq = done.batch_seq if done else 0
        after: Cursor | None = done.cursor if done else None
        result = RollbackResult("completed")
        if seq >= limit:
            return result
        window: list[tuple[int, Batch]] = []
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="vm-rollback") as pool:
            for batch in self.source.read_batches(self.source_collection, batch_size=self.batch_size, after=after):
                if self.stop.is_set():
                    result.status = "stopped"
                    break
                seq += 1
                window.append((seq, batch))
                last = seq >= limit
                if len(window) >= self.workers * 2 or last:
                    # Every batch of the window is undone before the checkpoint moves past it.
                    for r in pool.map(self._undo, [b for _, b in window]):
                        result.deleted += r[0]
                        result.restored += r[1]
                        result.untouched += r[2]
                    result.batches += len(window)
                    self.store.put_checkpoint(self.mid, "rollback", cursor=window[-1][1].cursor,
                                              batch_seq=window[-1][0])
                    window = []
                if last:
                    result.source_changed = limit_cursor is not None and batch.cursor != limit_cursor
                    break
        return result

    def _undo(self, batch: Batch) -> tuple[int, int, int]:
        tids = [self.tr.target_id(i) for i in batch.ids]
        ns = self.tr.target_namespace(batch.namespace)
        if self.backup is None:
            # The target held nothing before the migration (or it was empty): every id we wrote goes.
            self.target.delete(self.target_collection, tids, ns)
            return len(tids), 0, 0
        marks = self.store.backup_marks(self.mid, ns, tids)
        restore = [t for t in tids if marks.get(t) is True]
        delete = [t for t in tids if marks.get(t) is False]
        # Unmarked ids were never protected, so never written: they may be pre-existing data. Leave them.
        untouched = len(tids) - len(restore) - len(delete)
        if delete:
            self.target.delete(self.target_collection, delete, ns)
        if restore:
            originals = self.backup.originals(restore, ns)
            self.target.write_batch(self.target_collection, Batch.from_records(originals, namespace=ns))
        return len(delete), len(restore), untouched


