"""The dual-write journal: every id an application touched during a migration, numbered in commit order.

The journal is written by the application (through :class:`~vectormigrate.zerodowntime.dualwriter.DualWriter`)
and read by ``vectormigrate sync``; it is not in the state database, because applications must not need write
access to the tool's state. Two implementations share one layout:

* :class:`SQLiteJournal` (default): a file that the application and ``vectormigrate sync`` share. Several
  processes on one host may write it (SQLite serialises writers with a file lock; WAL lets ``sync`` read while
  they write). Not for network file systems.
* :class:`PostgresJournal` (``postgresql://...``, psycopg 3): when application processes on several hosts write.

**Sequence numbers are gapless and in commit order**, per migration. Each append takes the migration's row in
``vectormigrate_journal_heads`` (``UPDATE ... SET seq = seq + n``), which the database locks until commit, so two
appends of one migration cannot commit out of order, and a rolled-back append gives its numbers back. This is
what lets ``sync`` keep a plain "everything up to seq N is done" checkpoint: an entry that is not visible yet can
only get a number above every visible one. (An identity column would not do: PostgreSQL hands out sequence
values at insert time, so seq 11 can commit before seq 10, and a reader that saw 11 would skip 10 forever.)
It also makes the lag exact: ``head - checkpoint`` entries.

Ids and namespaces are stored as JSON text, so ``5`` and ``"5"`` stay different ids and ``None`` (no
namespace) differs from ``""``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from vectormigrate.errors import ConfigError, StateError
from vectormigrate.model import RecordId

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "Journal",
    "JournalEntry",
    "JournalLag",
    "Op",
    "PostgresJournal",
    "SQLiteJournal",
    "open_journal",
    "redact_location",
]

Op = Literal["upsert", "delete"]
"""What the application did. Informational: ``sync`` always copies the source's current state."""

_TABLES = ("vectormigrate_journal", "vectormigrate_journal_heads", "vectormigrate_journal_meta")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One touched id."""

    seq: int
    namespace: str | None
    record_id: RecordId
    op: Op
    ts: float
    """Unix time of the append (seconds)."""


@dataclass(frozen=True, slots=True)
class JournalLag:
    """Entries journaled after a sequence number (by ``sync``: not yet synced)."""

    entries: int
    ids: int
    """Distinct (namespace, id) pairs among them."""
    head: int
    oldest_ts: float | None
    """When the oldest of them was journaled (``None``: none)."""

    def to_json(self) -> dict[str, Any]:
        """JSON for status and results."""
        age = round(time.time() - self.oldest_ts, 3) if self.oldest_ts is not None else None
        return {"entries": self.entries, "ids": self.ids, "head": self.head, "oldest_age_s": age}


def _key(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _check_ids(ids: Sequence[RecordId]) -> None:
    for rid in ids:
        if isinstance(rid, bool) or not isinstance(rid, int | str):
            msg = f"cannot journal id {rid!r}: ids are ints or strings"
            raise ConfigError(msg, hint="pass the record ids as the source database knows them")


class Journal(ABC):
    """Where the dual-writer records touched ids, and where ``sync`` finds them."""

    location: str
    """Where the journal is, without any password (safe to store and print)."""

    @property
    @abstractmethod
    def journal_id(self) -> str:
        """A random id made when the journal was created: a sync checkpoint belongs to one journal."""

    @abstractmethod
    def append(self, migration_id: str, ids: Sequence[RecordId], *, namespace: str | None = None,
               op: Op = "upsert") -> tuple[int, int]:
        """Journal ``ids`` durably; returns the first and last sequence number given (``(0, 0)`` for no ids)."""

    @abstractmethod
    def read(self, migration_id: str, *, after: int, limit: int, upto: int | None = None) -> list[JournalEntry]:
        """Entries with ``after < seq <= upto``, in sequence order, at most ``limit``."""

    @abstractmethod
    def head(self, migration_id: str) -> int:
        """The last sequence number given (0: nothing journaled)."""

    @abstractmethod
    def lag(self, migration_id: str, after: int) -> JournalLag:
        """What was journaled after ``after``."""

    @abstractmethod
    def prune(self, migration_id: str, upto: int) -> int:
        """Delete entries with ``seq <= upto`` (already synced); returns how many."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection this object opened (any thread's)."""

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _entries(rows: Sequence[Sequence[Any]]) -> list[JournalEntry]:
    return [JournalEntry(int(r[0]), json.loads(r[1]), json.loads(r[2]), r[3], float(r[4])) for r in rows]


# -- SQLite --------------------------------------------------------------------------------------------------------
_SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS vectormigrate_journal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vectormigrate_journal_heads (migration_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS vectormigrate_journal (
    migration_id TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    namespace    TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    op           TEXT NOT NULL,
    ts           REAL NOT NULL,
    PRIMARY KEY (migration_id, seq)
) WITHOUT ROWID;
"""


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class _ThreadConnections(Generic[C]):
    """One database connection per thread, opened on first use, all closed together by :meth:`close_all`."""

    def __init__(self, opener: Callable[[], C], usable: Callable[[C], bool] = lambda _: True) -> None:
        self._opener = opener
        self._usable = usable
        self._local = threading.local()
        self._all: list[C] = []
        self._lock = threading.Lock()

    def get(self) -> C:
        """This thread's connection (a new one when it has none, or its last one is no longer usable)."""
        conn: C | None = getattr(self._local, "conn", None)
        if conn is None or not self._usable(conn):
            conn = self._opener()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close_all(self) -> None:
        """Close every thread's connection; the next :meth:`get` opens a new one."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()


class SQLiteJournal(Journal):
    """The journal in a SQLite file (WAL, ``synchronous=FULL``: an entry survives a power cut once appended).

    Thread-safe: one connection per thread. Several processes on one host may share the file.
    """

    def __init__(self, path: str | Path) -> None:
        raw = str(path)
        raw = raw.removeprefix("sqlite:///") if raw.startswith("sqlite:///") else raw.removeprefix("sqlite://")
        self.path = Path(raw).expanduser()
        self.location = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the folder of the journal {self.path}: {exc.strerror}"
            raise ConfigError(msg, hint="pass a journal path in a writable folder that the application and "
                              "`vectormigrate sync` both reach") from exc
        self._conns: _ThreadConnections[sqlite3.Connection] = _ThreadConnections(self._open)
        with self._tx() as conn:
            for stmt in _SQLITE_DDL.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT OR IGNORE INTO vectormigrate_journal_meta (key, value) VALUES ('journal_id', ?)",
                         (str(uuid.uuid4()),))
            row = conn.execute("SELECT value FROM vectormigrate_journal_meta WHERE key='journal_id'").fetchone()
        self._journal_id = str(row[0])

    @property
    def journal_id(self) -> str:
        """See :attr:`Journal.journal_id`."""
        return self._journal_id

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            msg = f"cannot open the journal {self.path}: {exc}"
            raise StateError(msg, hint="check that the path is a writable local file (not on NFS)") from exc
        return conn

    def _conn(self) -> sqlite3.Connection:
        return self._conns.get()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            msg = f"cannot write the journal {self.path}: {exc}"
            raise StateError(msg, hint="another process may hold it for too long; check the disk") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def append(self, migration_id: str, ids: Sequence[RecordId], *, namespace: str | None = None,
               op: Op = "upsert") -> tuple[int, int]:
        """See :meth:`Journal.append`."""
        if not ids:
            return 0, 0
        _check_ids(ids)
        now = time.time()
        ns = _key(namespace)
        try:
            with self._tx() as conn:
                conn.execute("INSERT OR IGNORE INTO vectormigrate_journal_heads (migration_id, seq) VALUES (?, 0)",
                             (migration_id,))
                last = int(conn.execute(
                    "UPDATE vectormigrate_journal_heads SET seq = seq + ? WHERE migration_id = ? RETURNING seq",
                    (len(ids), migration_id)).fetchone()[0])
                first = last - len(ids) + 1
                conn.executemany(
                    "INSERT INTO vectormigrate_journal (migration_id, seq, namespace, record_id, op, ts) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(migration_id, first + i, ns, _key(rid), op, now) for i, rid in enumerate(ids)])
        except sqlite3.Error as exc:
            msg = f"cannot append to the journal {self.path}: {exc}"
            raise StateError(msg, hint="check the disk and the file's permissions") from exc
        return first, last

    def read(self, migration_id: str, *, after: int, limit: int, upto: int | None = None) -> list[JournalEntry]:
        """See :meth:`Journal.read`."""
        rows = self._conn().execute(
            "SELECT seq, namespace, record_id, op, ts FROM vectormigrate_journal WHERE migration_id = ? AND seq > ? "
            "AND seq <= ? ORDER BY seq LIMIT ?",
            (migration_id, after, upto if upto is not None else 2**62, limit)).fetchall()
        return _entries(rows)

    def head(self, migration_id: str) -> int:
        """See :meth:`Journal.head`."""
        row = self._conn().execute("SELECT seq FROM vectormigrate_journal_heads WHERE migration_id = ?",
                                   (migration_id,)).fetchone()
        return int(row[0]) if row else 0

    def lag(self, migration_id: str, after: int) -> JournalLag:
        """See :meth:`Journal.lag`."""
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot for the three numbers
        try:
            head = self.head(migration_id)
            row = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT namespace || ' ' || record_id), MIN(ts) FROM vectormigrate_journal "
                "WHERE migration_id = ? AND seq > ?", (migration_id, after)).fetchone()
        finally:
            conn.execute("COMMIT")
        # Pruned or never-written entries below `after` do not count; entries above it always exist (gapless).
        return JournalLag(max(0, head - after), int(row[1]), head, float(row[2]) if row[2] is not None else None)

    def prune(self, migration_id: str, upto: int) -> int:
        """See :meth:`Journal.prune`."""
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM vectormigrate_journal WHERE migration_id = ? AND seq <= ?",
                               (migration_id, upto))
            return int(cur.rowcount)

    def close(self) -> None:
        """See :meth:`Journal.close`."""
        self._conns.close_all()


# -- PostgreSQL ----------------------------------------------------------------------------------------------------
_PG_DDL = """
CREATE TABLE IF NOT EXISTS vectormigrate_journal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vectormigrate_journal_heads (migration_id TEXT PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS vectormigrate_journal (
    migration_id TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    namespace    TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    op           TEXT NOT NULL,
    ts           DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (migration_id, seq)
);
"""
_PG_DDL_LOCK = 0x766D6A6F75726E  # pg_advisory_xact_lock key: concurrent first starts must not race on CREATE TABLE


class PostgresJournal(Journal):
    """The journal in PostgreSQL tables (``vectormigrate_journal*``), for writers on several hosts.

    Args:
        url: ``postgresql://user[:password]@host[:port]/db[?...]``. The password may also come from
            ``PGPASSWORD`` or ``~/.pgpass``; it is never stored (``location`` is redacted).
    """

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            msg = "the PostgreSQL journal needs psycopg 3"
            raise ConfigError(msg, hint="pip install 'vectormigrate[zerodowntime-pg]' (or 'psycopg[binary]')") \
                from exc
        self._psycopg = psycopg
        self.url = url
        self.location = redact_location(url)
        self._conns: _ThreadConnections[psycopg.Connection[Any]] = _ThreadConnections(
            self._open, usable=lambda conn: not conn.closed)
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_DDL_LOCK,))
            cur.execute(_PG_DDL)
            cur.execute("INSERT INTO vectormigrate_journal_meta (key, value) VALUES ('journal_id', %s) "
                        "ON CONFLICT (key) DO NOTHING", (str(uuid.uuid4()),))
            cur.execute("SELECT value FROM vectormigrate_journal_meta WHERE key = 'journal_id'")
            row = cur.fetchone()
        assert row is not None  # noqa: S101 - inserted just above
        self._journal_id = str(row[0])

    @property
    def journal_id(self) -> str:
        """See :attr:`Journal.journal_id`."""
        return self._journal_id

    def _open(self) -> psycopg.Connection[Any]:
        try:
            return self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except self._psycopg.OperationalError as exc:
            msg = f"cannot connect to the journal database {self.location}: {_pg_reason(exc)}"
            raise StateError(msg, hint="check the URL, that the server runs, and the password "
                             "(PGPASSWORD or ~/.pgpass)") from exc

    def _conn(self) -> psycopg.Connection[Any]:
        return self._conns.get()

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        conn = self._conn()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except self._psycopg.Error as exc:
            msg = f"journal database {self.location} failed: {_pg_reason(exc)}"
            raise StateError(msg, hint="check the server; the application's write reached the source") from exc

    def append(self, migration_id: str, ids: Sequence[RecordId], *, namespace: str | None = None,
               op: Op = "upsert") -> tuple[int, int]:
        """See :meth:`Journal.append`."""
        if not ids:
            return 0, 0
        _check_ids(ids)
        now = time.time()
        ns = _key(namespace)
        with self._tx() as cur:
            cur.execute("INSERT INTO vectormigrate_journal_heads (migration_id, seq) VALUES (%s, 0) "
                        "ON CONFLICT (migration_id) DO NOTHING", (migration_id,))
            # The row lock taken here is held to commit: appends of one migration commit in seq order.
            cur.execute("UPDATE vectormigrate_journal_heads SET seq = seq + %s WHERE migration_id = %s RETURNING seq",
                        (len(ids), migration_id))
            row = cur.fetchone()
            assert row is not None  # noqa: S101 - the row was inserted above
            last = int(row[0])
            first = last - len(ids) + 1
            with cur.copy("COPY vectormigrate_journal (migration_id, seq, namespace, record_id, op, ts) "
                          "FROM STDIN") as copy:
                for i, rid in enumerate(ids):
                    copy.write_row((migration_id, first + i, ns, _key(rid), op, now))
        return first, last

    def read(self, migration_id: str, *, after: int, limit: int, upto: int | None = None) -> list[JournalEntry]:
        """See :meth:`Journal.read`."""
        with self._tx() as cur:
            cur.execute("SELECT seq, namespace, record_id, op, ts FROM vectormigrate_journal WHERE migration_id = %s "
                        "AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
                        (migration_id, after, upto if upto is not None else 2**62, limit))
            return _entries(cur.fetchall())

    def head(self, migration_id: str) -> int:
        """See :meth:`Journal.head`."""
        with self._tx() as cur:
            cur.execute("SELECT seq FROM vectormigrate_journal_heads WHERE migration_id = %s", (migration_id,))
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def lag(self, migration_id: str, after: int) -> JournalLag:
        """See :meth:`Journal.lag`."""
        with self._tx() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("SELECT seq FROM vectormigrate_journal_heads WHERE migration_id = %s", (migration_id,))
            hrow = cur.fetchone()
            cur.execute("SELECT COUNT(DISTINCT (namespace, record_id)), MIN(ts) FROM vectormigrate_journal "
                        "WHERE migration_id = %s AND seq > %s", (migration_id, after))
            row = cur.fetchone()
        head = int(hrow[0]) if hrow else 0
        assert row is not None  # noqa: S101 - an aggregate always returns a row
        return JournalLag(max(0, head - after), int(row[0]), head, float(row[1]) if row[1] is not None else None)

    def prune(self, migration_id: str, upto: int) -> int:
        """See :meth:`Journal.prune`."""
        with self._tx() as cur:
            cur.execute("DELETE FROM vectormigrate_journal WHERE migration_id = %s AND seq <= %s", (migration_id, upto))
            return int(cur.rowcount)

    def close(self) -> None:
        """See :meth:`Journal.close`."""
        self._conns.close_all()


def _pg_reason(exc: Exception) -> str:
    # psycopg messages may echo the connection string; keep the first line and drop any password in it.
    return redact_location(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


_PASSWORD_IN_URL = re.compile(r"(postgres(?:ql)?://[^:/@\s]+):[^@\s]*@")
_PASSWORD_PARAM = re.compile(r"(?i)(password=)[^&\s]*")


def redact_location(location: str) -> str:
    """A journal location without its password (``postgresql://user:pw@h/db`` -> ``postgresql://user@h/db``)."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1@", location))


def open_journal(location: str | Path) -> Journal:
    """The journal at ``location``: ``postgresql://...`` (or ``postgres://``) for PostgreSQL, else a SQLite path.

    Raises:
        ConfigError: an empty location, or psycopg missing for a PostgreSQL URL.
        StateError: the journal cannot be opened.
    """
    text = str(location).strip()
    if not text:
        msg = "the journal location is empty"
        raise ConfigError(msg, hint="pass --journal PATH (a SQLite file) or --journal postgresql://...")
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresJournal(text)
    return SQLiteJournal(text)
