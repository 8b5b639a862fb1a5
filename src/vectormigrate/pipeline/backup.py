"""Pre-image backup: before a migration overwrites ids in a target that already held data, it saves what was
there, so a rollback restores those records instead of deleting data that predates the migration.

Order of operations for every sub-batch (each step durable before the next):

1. look up which ids already have a mark (a crash may have left the target holding our copy: never back that up);
2. fetch the unmarked ids from the target and write the ones that exist to the backup (a Parquet collection);
3. mark every unmarked id in the state database: existed (restore on rollback) or not (delete on rollback);
4. only then does the runner write the batch to the target.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.model import Batch, CollectionSchema, RecordId, VectorRecord
from vectormigrate.state.store import StateStore

__all__ = ["BACKUP_COLLECTION", "PreImageBackup", "backup_folder"]

BACKUP_COLLECTION = "pre_image"


def backup_folder(store: StateStore, migration_id: str) -> Path:
    """Where a migration's pre-image backup lives (a Parquet folder next to the state database)."""
    return store.path.parent / "backups" / migration_id


class PreImageBackup:
    """The pre-images of one migration."""

    def __init__(self, store: StateStore, migration_id: str, target: Connector, target_collection: str,
                 schema: CollectionSchema) -> None:
        self.store = store
        self.mid = migration_id
        self.target = target
        self.target_collection = target_collection
        self.folder = backup_folder(store, migration_id)
        self.backup = open_connector("parquet", ConnectionConfig(url=str(self.folder)))
        if not self.backup.exists(BACKUP_COLLECTION):
            self.backup.create_collection(schema.with_name(BACKUP_COLLECTION))
        self._lock = threading.Lock()

    def protect(self, part: Batch) -> int:
        """Save the pre-images of the ids ``part`` is about to overwrite; returns how many were saved."""
        with self._lock:
            marks = self.store.backup_marks(self.mid, part.namespace, part.ids)
            new = [i for i in part.ids if i not in marks]
            if not new:
                return 0
            pre = self.target.fetch(self.target_collection, new, part.namespace)
            if pre:
                self.backup.write_batch(BACKUP_COLLECTION, Batch.from_records(pre, namespace=part.namespace))
            found = {r.id for r in pre}
            self.store.mark_backup(self.mid, part.namespace, {i: i in found for i in new})
            return len(pre)

    def originals(self, ids: Sequence[RecordId], namespace: str | None) -> list[VectorRecord]:
        """The saved pre-images of these ids."""
        return self.backup.fetch(BACKUP_COLLECTION, ids, namespace)

    def close(self) -> None:
        """Close the backup connector."""
        self.backup.close()
