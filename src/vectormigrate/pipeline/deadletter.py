"""The dead-letter file: one JSON line per record that was not written, with the reason and the fix.

Lines are appended by the committer together with the checkpoint of their batch, and carry that batch's
sequence number. A crash between the append and the checkpoint would leave lines for a batch that will be
read again, so opening the file for a resume first drops every line past the checkpoint: each dead record is
listed exactly once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vectormigrate.pipeline.transform import DeadRecord
from vectormigrate.state.store import utcnow

__all__ = ["DeadLetterFile"]


class DeadLetterFile:
    """Append-only JSONL of dead records for one migration."""

    def __init__(self, path: Path, migration_id: str) -> None:
        self.path = path
        self.migration_id = migration_id

    def truncate_after(self, batch_seq: int) -> None:
        """Drop lines of batches after ``batch_seq`` (they will be processed again)."""
        if not self.path.exists():
            return
        kept = []
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    if int(json.loads(line).get("batch_seq", 0)) <= batch_seq:
                        kept.append(line if line.endswith("\n") else line + "\n")
                except (ValueError, json.JSONDecodeError):
                    continue  # a torn last line from a crash
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, self.path)

    def append(self, batch_seq: int, records: Sequence[DeadRecord]) -> None:
        """Append and fsync (the checkpoint that follows must not outrun these lines)."""
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        now = utcnow()
        lines = [
            json.dumps({"migration_id": self.migration_id, "batch_seq": batch_seq, "ts": now} | r.to_json(),
                       ensure_ascii=False, default=str) + "\n"
            for r in records
        ]
        with self.path.open("a", encoding="utf-8") as fh:
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())

    def read(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The dead records so far."""
        if not self.path.exists():
            return []
        out = []
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    out.append(json.loads(line))
                    if limit is not None and len(out) >= limit:
                        break
        return out
