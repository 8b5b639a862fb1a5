"""Migration state in SQLite (WAL): migrations, checkpoints, events, reports.

The one invariant everything else relies on: a checkpoint (the source cursor) and the counters move in ONE
transaction, and only after every batch before it is durably written (the runner's low-water mark). Kill the
process at any point and the database describes a prefix of the source that is entirely in the target.

Secrets never enter this database: :func:`scrub` removes anything that looks like a credential from every
JSON document before it is written.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from vectormigrate.errors import ConfigError, StateError

__all__ = [
    "COUNTER_NAMES",
    "SCHEMA_VERSION",
    "Checkpoint",
    "Counters",
    "MigrationRow",
    "StateStore",
    "Status",
    "default_state_path",
    "scrub",
    "utcnow",
]

Status = Literal["pending", "in_progress", "completed", "failed", "interrupted", "stopped",
                 "rolling_back", "rolled_back"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "interrupted", "stopped", "rolled_back"})
COUNTER_NAMES = ("records_read", "records_written", "records_failed", "records_skipped", "batches", "retries",
                 "bytes_written")
SORT_COLUMNS = frozenset({"created_at", "updated_at", "started_at", "ended_at", "migration_id", "status"})
_SECRET_KEYS = ("api_key", "apikey", "token", "password", "secret", "authorization", "credential")

SCHEMA_VERSION = 2
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE migrations (
        migration_id    TEXT PRIMARY KEY,
        status          TEXT NOT NULL,
        source_type     TEXT NOT NULL,
        target_type     TEXT NOT NULL,
        spec_json       TEXT NOT NULL,
        plan_json       TEXT,
        total_records   INTEGER,
        records_read    INTEGER NOT NULL DEFAULT 0,
        records_written INTEGER NOT NULL DEFAULT 0,
        records_failed  INTEGER NOT NULL DEFAULT 0,
        records_skipped INTEGER NOT NULL DEFAULT 0,
        batches         INTEGER NOT NULL DEFAULT 0,
        retries         INTEGER NOT NULL DEFAULT 0,
        bytes_written   INTEGER NOT NULL DEFAULT 0,
        created_target  INTEGER NOT NULL DEFAULT 0,
        phase           TEXT,
        error_json      TEXT,
        validation_json TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        started_at      TEXT,
        ended_at        TEXT,
        runner          TEXT
    );
    CREATE INDEX migrations_status ON migrations(status);
    CREATE TABLE checkpoints (
        migration_id TEXT NOT NULL,
        kind         TEXT NOT NULL,
        cursor_json  TEXT,
        batch_seq    INTEGER NOT NULL,
        updated_at   TEXT NOT NULL,
        PRIMARY KEY (migration_id, kind)
    );
    CREATE TABLE events (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        migration_id TEXT NOT NULL,
        ts           TEXT NOT NULL,
        kind         TEXT NOT NULL,
        data_json    TEXT NOT NULL
    );
    CREATE INDEX events_migration ON events(migration_id, id);
    CREATE TABLE reports (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        migration_id TEXT NOT NULL,
        kind         TEXT NOT NULL,
        ts           TEXT NOT NULL,
        passed       INTEGER NOT NULL,
        report_json  TEXT NOT NULL
    );
    CREATE INDEX reports_migration ON reports(migration_id, id);
    """,
    # v2: pre-image marks for rollback. One row per target id a migration was about to overwrite or create,
    # recorded before the write; `existed` says whether a pre-image was saved to the backup (restore) or not
    # (delete). INSERT OR IGNORE keeps the first answer: after a crash the target already holds our copy.
    2: """
    CREATE TABLE backup_marks (
        migration_id TEXT NOT NULL,
        namespace    TEXT NOT NULL,
        target_id    TEXT NOT NULL,
        existed      INTEGER NOT NULL,
        PRIMARY KEY (migration_id, namespace, target_id)
    );
    """,
}


def utcnow() -> str:
    """Now, as an ISO-8601 UTC string with a ``Z`` (the Go README's format)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_state_path() -> Path:
    """``$VECTORMIGRATE_STATE_DB``, else ``$XDG_STATE_HOME/vectormigrate/state.db``, else ``~/.local/state/...``."""
    env = os.environ.get("VECTORMIGRATE_STATE_DB")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vectormigrate" / "state.db"


def scrub(value: Any) -> Any:
    """A copy of a JSON document with every credential-looking key removed (replaced by a boolean ``*_set``)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            low = str(key).lower()
            if any(s in low for s in _SECRET_KEYS) and not low.endswith("_set"):
                out[f"{key}_set"] = bool(item)
            else:
                out[str(key)] = scrub(item)
        return out
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


@dataclass
class Counters:
    """Counter increments committed together with a checkpoint."""

    records_read: int = 0
    records_written: int = 0
    records_failed: int = 0
    records_skipped: int = 0
    batches: int = 0
    retries: int = 0
    bytes_written: int = 0

    def add(self, other: Counters) -> None:
        """In-place sum."""
        for name in COUNTER_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        """Plain dict."""
        return {name: getattr(self, name) for name in COUNTER_NAMES}


@dataclass(frozen=True)
class Checkpoint:
    """The source position up to which every record is in the target."""

    cursor: dict[str, Any] | None
    batch_seq: int
    updated_at: str


@dataclass
class MigrationRow:
    """One migration as stored."""

    migration_id: str
    status: str
    source_type: str
    target_type: str
    spec: dict[str, Any]
    plan: dict[str, Any] | None
    total_records: int | None
    counters: Counters
    created_target: bool
    phase: str | None
    error: dict[str, Any] | None
    validation: dict[str, Any] | None
    created_at: str
    updated_at: str
    started_at: str | None
    ended_at: str | None
    runner: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def _row(r: sqlite3.Row) -> MigrationRow:
    return MigrationRow(
        migration_id=r["migration_id"], status=r["status"], source_type=r["source_type"],
        target_type=r["target_type"], spec=json.loads(r["spec_json"]),
        plan=json.loads(r["plan_json"]) if r["plan_json"] else None, total_records=r["total_records"],
        counters=Counters(**{n: r[n] for n in COUNTER_NAMES}), created_target=bool(r["created_target"]),
        phase=r["phase"], error=json.loads(r["error_json"]) if r["error_json"] else None,
        validation=json.loads(r["validation_json"]) if r["validation_json"] else None,
        created_at=r["created_at"], updated_at=r["updated_at"], started_at=r["started_at"],
        ended_at=r["ended_at"], runner=r["runner"],
    )


class StateStore:
    """The state database. Thread-safe: one connection per thread, WAL so readers never block the writer."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path else default_state_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the folder of the state database {self.path}: {exc.strerror}"
            raise ConfigError(msg, hint="pass --state-db PATH to a writable location") from exc
        self._local = threading.local()
        self._migrate_schema()

    # -- connection handling ------------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            except sqlite3.Error as exc:
                msg = f"cannot open the state database {self.path}: {exc}"
                raise ConfigError(msg, hint="pass --state-db PATH to a writable location") from exc
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss, not only a process kill. Checkpoints are few (one per batch).
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate_schema(self) -> None:
        with self._tx() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                msg = (f"state database {self.path} has schema version {current}, newer than this "
                       f"vectormigrate understands ({SCHEMA_VERSION})")
                raise StateError(msg, hint="upgrade vectormigrate, or use another --state-db")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for stmt in _MIGRATIONS[version].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute("INSERT INTO schema_version(version) VALUES (?)", (version,))

    def ping(self) -> bool:
        """True when the database answers (for ``/readyz``)."""
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    # -- migrations ---------------------------------------------------------------------------------------------
    def create(self, migration_id: str, *, source_type: str, target_type: str, spec: Mapping[str, Any],
               plan: Mapping[str, Any] | None = None, total_records: int | None = None) -> MigrationRow:
        """Record a new migration in ``pending``; refuses an id that exists."""
        now = utcnow()
        try:
            with self._tx() as conn:
                conn.execute(
                    "INSERT INTO migrations (migration_id, status, source_type, target_type, spec_json, plan_json,"
                    " total_records, created_at, updated_at) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
                    (migration_id, source_type, target_type, json.dumps(scrub(spec)),
                     json.dumps(scrub(plan)) if plan is not None else None, total_records, now, now),
                )
        except sqlite3.IntegrityError as exc:
            msg = f"migration {migration_id!r} already exists"
            raise StateError(msg, hint=f"use `vectormigrate resume {migration_id}` to continue it, or pick a new id",
                             migration_id=migration_id) from exc
        return self.get(migration_id)

    def exists(self, migration_id: str) -> bool:
        """Whether the migration is recorded."""
        row = self._conn().execute("SELECT 1 FROM migrations WHERE migration_id=?", (migration_id,)).fetchone()
        return row is not None

    def get(self, migration_id: str) -> MigrationRow:
        """The stored migration; :class:`StateError` naming the state database when unknown."""
        row = self._conn().execute("SELECT * FROM migrations WHERE migration_id=?", (migration_id,)).fetchone()
        if row is None:
            msg = f"no migration {migration_id!r} in {self.path}"
            raise StateError(msg, hint="`vectormigrate list` shows the known ones; pass --state-db if it was "
                             "started with another state database", migration_id=migration_id)
        return _row(row)

    def list(self, *, status: str | None = None, limit: int = 10, offset: int = 0, sort_by: str = "created_at",
             sort_order: str = "desc") -> tuple[builtins.list[MigrationRow], int]:
        """A page of migrations and the total that match."""
        if sort_by not in SORT_COLUMNS:
            msg = f"cannot sort by {sort_by!r}"
            raise ConfigError(msg, hint=f"sort_by is one of {', '.join(sorted(SORT_COLUMNS))}")
        if sort_order.lower() not in ("asc", "desc"):
            msg = f"sort_order must be asc or desc, not {sort_order!r}"
            raise ConfigError(msg, hint="use asc or desc")
        if limit < 0 or offset < 0:
            msg = "limit and offset must not be negative"
            raise ConfigError(msg, hint="use --limit N --offset N with N >= 0")
        where, args = ("WHERE status=?", [status]) if status else ("", [])
        conn = self._conn()
        total = conn.execute(f"SELECT COUNT(*) FROM migrations {where}", args).fetchone()[0]
        rows = conn.execute(
            f"SELECT * FROM migrations {where} ORDER BY {sort_by} {sort_order.upper()}, migration_id LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return [_row(r) for r in rows], int(total)

    def update(self, migration_id: str, **values: Any) -> None:
        """Set columns (``plan``, ``total_records``, ``created_target``, ``phase``, ``error``, ``validation``...)."""
        cols: dict[str, Any] = {}
        for key, val in values.items():
            if key in ("plan", "error", "validation", "spec"):
                cols[f"{key}_json"] = json.dumps(scrub(val)) if val is not None else None
            elif key in ("total_records", "created_target", "phase", "runner", "started_at", "ended_at", "status"):
                cols[key] = int(val) if isinstance(val, bool) else val
            else:
                msg = f"unknown migration column {key}"
                raise ValueError(msg)
        cols["updated_at"] = utcnow()
        sets = ", ".join(f"{k}=?" for k in cols)
        with self._tx() as conn:
            conn.execute(f"UPDATE migrations SET {sets} WHERE migration_id=?", [*cols.values(), migration_id])

    def set_status(self, migration_id: str, status: Status, *, error: Mapping[str, Any] | None = None) -> None:
        """Move to ``status``; stamps ``started_at`` on the first run and ``ended_at`` on a terminal status."""
        now = utcnow()
        ended = now if status in TERMINAL_STATUSES else None
        event = {"status": status} | ({"error": scrub(error)} if error else {})
        with self._tx() as conn:
            conn.execute(
                "UPDATE migrations SET status=?, updated_at=?, error_json=?, ended_at=?,"
                " started_at=COALESCE(started_at, CASE WHEN ?='in_progress' THEN ? END) WHERE migration_id=?",
                (status, now, json.dumps(scrub(error)) if error else None, ended, status, now, migration_id),
            )
            conn.execute("INSERT INTO events (migration_id, ts, kind, data_json) VALUES (?, ?, 'status', ?)",
                         (migration_id, now, json.dumps(event)))

    # -- checkpoints --------------------------------------------------------------------------------------------
    def commit_checkpoint(self, migration_id: str, *, cursor: Mapping[str, Any] | None, batch_seq: int,
                          delta: Counters, kind: str = "copy") -> None:
        """Advance the checkpoint and add the counters, atomically."""
        now = utcnow()
        sets = ", ".join(f"{n}={n}+?" for n in COUNTER_NAMES)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO checkpoints (migration_id, kind, cursor_json, batch_seq, updated_at) VALUES (?,?,?,?,?)"
                " ON CONFLICT(migration_id, kind) DO UPDATE SET cursor_json=excluded.cursor_json,"
                " batch_seq=excluded.batch_seq, updated_at=excluded.updated_at",
                (migration_id, kind, json.dumps(cursor) if cursor is not None else None, batch_seq, now),
            )
            conn.execute(f"UPDATE migrations SET {sets}, updated_at=? WHERE migration_id=?",
                         [*delta.as_dict().values(), now, migration_id])

    def put_checkpoint(self, migration_id: str, kind: str, *, cursor: Mapping[str, Any] | None, batch_seq: int) -> None:
        """Set a checkpoint of another kind (``dispatched`` high-water mark, ``rollback`` progress) alone."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO checkpoints (migration_id, kind, cursor_json, batch_seq, updated_at) VALUES (?,?,?,?,?)"
                " ON CONFLICT(migration_id, kind) DO UPDATE SET cursor_json=excluded.cursor_json,"
                " batch_seq=excluded.batch_seq, updated_at=excluded.updated_at",
                (migration_id, kind, json.dumps(cursor) if cursor is not None else None, batch_seq, utcnow()),
            )

    def add_counters(self, migration_id: str, delta: Counters) -> None:
        """Add counters without moving a checkpoint."""
        sets = ", ".join(f"{n}={n}+?" for n in COUNTER_NAMES)
        with self._tx() as conn:
            conn.execute(f"UPDATE migrations SET {sets}, updated_at=? WHERE migration_id=?",
                         [*delta.as_dict().values(), utcnow(), migration_id])

    def checkpoint(self, migration_id: str, kind: str = "copy") -> Checkpoint | None:
        """The last committed checkpoint of this kind, if any."""
        row = self._conn().execute(
            "SELECT cursor_json, batch_seq, updated_at FROM checkpoints WHERE migration_id=? AND kind=?",
            (migration_id, kind),
        ).fetchone()
        if row is None:
            return None
        return Checkpoint(json.loads(row[0]) if row[0] else None, int(row[1]), row[2])

    def clear_checkpoint(self, migration_id: str, kind: str) -> None:
        """Forget a checkpoint (a finished rollback or sync starts over next time)."""
        with self._tx() as conn:
            conn.execute("DELETE FROM checkpoints WHERE migration_id=? AND kind=?", (migration_id, kind))

    # -- pre-image backup marks ------------------------------------------------------------------------------------
    def mark_backup(self, migration_id: str, namespace: str | None, marks: Mapping[Any, bool]) -> None:
        """Record, for each target id, whether it existed before the migration touched it (first answer wins)."""
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO backup_marks (migration_id, namespace, target_id, existed) VALUES (?,?,?,?)",
                [(migration_id, namespace or "", json.dumps(tid), int(existed)) for tid, existed in marks.items()],
            )

    def backup_marks(self, migration_id: str, namespace: str | None, ids: Iterable[Any]) -> dict[Any, bool]:
        """The recorded marks of these target ids (ids never marked are left out)."""
        keys = [json.dumps(i) for i in ids]
        out: dict[Any, bool] = {}
        conn = self._conn()
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = conn.execute(
                f"SELECT target_id, existed FROM backup_marks WHERE migration_id=? AND namespace=? "
                f"AND target_id IN ({','.join('?' * len(chunk))})", [migration_id, namespace or "", *chunk],
            ).fetchall()
            out.update({json.loads(r[0]): bool(r[1]) for r in rows})
        return out

    # -- events and reports -------------------------------------------------------------------------------------
    def add_event(self, migration_id: str, kind: str, data: Mapping[str, Any] | None = None) -> None:
        """Append an event (warnings, retries, phase changes)."""
        with self._tx() as conn:
            conn.execute("INSERT INTO events (migration_id, ts, kind, data_json) VALUES (?, ?, ?, ?)",
                         (migration_id, utcnow(), kind, json.dumps(scrub(dict(data or {})), default=str)))

    def events(self, migration_id: str, limit: int = 50) -> builtins.list[dict[str, Any]]:
        """The newest events, oldest first."""
        rows = self._conn().execute(
            "SELECT ts, kind, data_json FROM events WHERE migration_id=? ORDER BY id DESC LIMIT ?",
            (migration_id, limit),
        ).fetchall()
        return [{"ts": r[0], "kind": r[1], "data": json.loads(r[2])} for r in reversed(rows)]

    def add_report(self, migration_id: str, kind: str, passed: bool, report: Mapping[str, Any]) -> None:
        """Store a validation (or other) report and keep its verdict on the migration row."""
        now = utcnow()
        with self._tx() as conn:
            conn.execute("INSERT INTO reports (migration_id, kind, ts, passed, report_json) VALUES (?,?,?,?,?)",
                         (migration_id, kind, now, int(passed), json.dumps(scrub(dict(report)), default=str)))
            if kind == "validation":
                conn.execute("UPDATE migrations SET validation_json=?, updated_at=? WHERE migration_id=?",
                             (json.dumps({"passed": passed, "at": now, "summary": report.get("summary")}), now,
                              migration_id))

    def reports(self, migration_id: str, kind: str | None = None) -> builtins.list[dict[str, Any]]:
        """Stored reports, oldest first."""
        sql = "SELECT kind, ts, passed, report_json FROM reports WHERE migration_id=?"
        args: builtins.list[Any] = [migration_id]
        if kind:
            sql += " AND kind=?"
            args.append(kind)
        rows = self._conn().execute(sql + " ORDER BY id", args).fetchall()
        return [{"kind": r[0], "ts": r[1], "passed": bool(r[2]), "report": json.loads(r[3])} for r in rows]
