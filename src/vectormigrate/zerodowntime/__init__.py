"""Zero-downtime migration: the dual-writer, its journal, catch-up sync and cutover.

``DualWriter`` and the journals are imported here; the use cases (``start_dual_write``, ``sync_migration``,
``cutover_migration``, ``status_section``) live in :mod:`vectormigrate.zerodowntime.service`, and the SDK
wrappers in :mod:`vectormigrate.zerodowntime.adapters` (each imports its SDK only when used).
"""

from vectormigrate.zerodowntime.dualwriter import DualWriter, DualWriterStats, TargetWriteFailure
from vectormigrate.zerodowntime.journal import Journal, JournalEntry, PostgresJournal, SQLiteJournal, open_journal

__all__ = [
    "DualWriter",
    "DualWriterStats",
    "Journal",
    "JournalEntry",
    "PostgresJournal",
    "SQLiteJournal",
    "TargetWriteFailure",
    "open_journal",
]
