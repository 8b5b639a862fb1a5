"""One collection folder: atomic commits, the writer lock, crash leftovers, and the id index.

Invariant: **no id appears twice in the committed parts of one namespace.** An upsert writes the new part and,
in the same commit, rewrites every older part of that namespace holding one of its ids without those rows.
So the folder is always a plain, duplicate-free dataset: a reader that knows nothing of VectorMigrate (pyarrow,
pandas, DuckDB) sees exactly the live records, and ``count`` is the sum of the manifest's row counts.

A commit is: part files written to hidden temp files and fsynced -> renamed to ``part-<seq>.parquet``
(the folder fsynced) -> ``_manifest.json`` replaced atomically (temp + fsync + rename + folder fsync) ->
superseded parts unlinked. The manifest is the commit point: a crash before it leaves only files the manifest
does not list, which readers ignore and the next writer deletes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vectormigrate.connectors.parquet._format import (
    LOCK_FILE,
    MANIFEST,
    PART_PREFIX,
    PART_SUFFIX,
    TMP_PREFIX,
    Manifest,
    Part,
    now_utc,
    part_name,
)
from vectormigrate.connectors.parquet._index import IdIndex, Keys, keys_for
from vectormigrate.errors import CollectionNotFound, ConfigError, TerminalError, VectorMigrateError
from vectormigrate.model import CollectionSchema, RecordId

__all__ = ["CollectionStore", "column_keys", "id_array", "open_part"]

_ROW_GROUP_BYTES = 8 * 1024 * 1024
"""Row groups of ~8 MiB: a reader holds one at a time whatever the part's size, and ``fetch`` decodes only the
row groups holding the ids asked for (Parquet has no cheaper random access). Larger groups did not read faster."""
_FOREIGN_TMP_AGE = 24 * 3600
"""Temp files from another host are only removed when older than this (we cannot see its processes)."""

_HOST = hashlib.blake2s(socket.gethostname().encode(), digest_size=4).hexdigest()
_ACTIVE_TMP: set[str] = set()
"""Temp files this process is writing right now (any connector instance), never cleaned as leftovers."""
_ACTIVE_LOCK = threading.Lock()


def open_part(path: Path) -> pq.ParquetFile:
    """Open a part file for streaming.

    ``pre_buffer`` (pyarrow's default) coalesces the reads of every requested row group into memory up front:
    iterating a 256 MiB part would hold all of it. Off, a reader holds about one row group.
    """
    return pq.ParquetFile(path, pre_buffer=False)


def id_array(ids: Sequence[RecordId], *, int_ids: bool) -> pa.Array:
    """The ids as an Arrow array of the ``id`` column's type."""
    return pa.array(np.asarray(ids, dtype=np.int64)) if int_ids else pa.array(ids, type=pa.string())


def column_keys(col: pa.ChunkedArray | pa.Array, *, int_ids: bool) -> Keys:
    """Index keys of an ``id`` column read from a part."""
    if int_ids:
        return np.asarray(col.to_numpy(), dtype=np.int64)
    return keys_for(col.to_pylist(), int_ids=False)


class CollectionStore:
    """The folder ``<root>/<name>``: load and commit its manifest, write and rewrite its parts.

    Thread-safe: commits take a thread lock and an exclusive ``flock`` on ``.lock`` (POSIX), so several
    writer threads, connector instances or processes can write one collection. Reads take no file lock: they
    follow the manifest they loaded, and never write anything (a backup on read-only media stays readable).
    Only the id index is shared between threads: it is used and refreshed under the thread lock (see :meth:`index`).
    """

    def __init__(self, root: Path, name: str, *, compression: str) -> None:
        self.name = name
        self.path = root / name
        self.compression = compression
        self.lock = threading.RLock()
        self._index: IdIndex | None = None
        self._index_uid: str | None = None
        self._index_gen = -1
        """The manifest generation the index mirrors exactly (with ``_index_uid``); see :meth:`index`."""
        self._cleaned = False

    # ---- reading -------------------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        """Where the manifest lives."""
        return self.path / MANIFEST

    def exists(self) -> bool:
        """Whether the collection's manifest exists."""
        return self.manifest_path.is_file()

    def load(self) -> Manifest:
        """The manifest as it is on disk now."""
        try:
            raw = self.manifest_path.read_bytes()
        except FileNotFoundError:
            hint = f"create it first (a target creates it), or check the folder: {self.path} "
            if not self.path.parent.is_dir():
                hint += f"(the URL folder {self.path.parent} does not exist)"
            elif self.path.is_dir():
                hint += f"exists but has no {MANIFEST}; it was not written by VectorMigrate"
            else:
                names = sorted(p.name for p in self.path.parent.iterdir() if (p / MANIFEST).is_file())
                hint += f"does not exist; collections there: {', '.join(names) or 'none'}"
            msg = f"parquet collection {self.name!r} does not exist"
            raise CollectionNotFound(msg, hint=hint, collection=self.name) from None
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            msg = f"{self.manifest_path} is not valid JSON ({exc})"
            raise TerminalError(msg, hint="restore the manifest from a copy; the part files are intact",
                                collection=self.name) from exc
        return Manifest.from_json(doc, str(self.manifest_path))

    def part_path(self, part: Part) -> Path:
        """Path of a part file."""
        return self.path / part.file

    def index(self, manifest: Manifest) -> IdIndex:
        """The id index, made to mirror exactly the parts of ``manifest`` (call with :attr:`lock` held).

        The index is versioned by the manifest generation it mirrors. It only ever moves *forward*: parts are
        immutable and a ``seq`` is never reused within a collection, so the parts of a later generation that
        the index does not know are added (only their ``id`` column is read) and the parts that generation no
        longer lists are dead for good. Moving it backwards would be wrong: the parts committed since the
        older manifest would be marked dead although they are live. So a caller must pass a manifest loaded
        *under the lock* (writers get one from :meth:`locked`; ``fetch`` loads one under :attr:`lock`), and
        a manifest older than the index (a manifest restored by hand, say) rebuilds the index from scratch.
        The refresh reads every new ``id`` column before it touches the index: a part that vanished meanwhile
        (another process rewrote it) leaves the index as it was.
        """
        if (self._index is None or self._index_uid != manifest.uid
                or manifest.generation < self._index_gen):
            self._index, self._index_uid, self._index_gen = IdIndex(), manifest.uid, -1
        live = {p.seq: p for p in manifest.parts}
        known = self._index.parts
        fresh = [(seq, pq.read_table(self.part_path(live[seq]), columns=["id"]).column("id"))
                 for seq in sorted(live.keys() - known)]
        self._index.remove(known - live.keys())
        for seq, col in fresh:
            self._index.add(seq, column_keys(col, int_ids=manifest.int_ids))
        self._index_gen = manifest.generation
        return self._index

    # ---- writing -------------------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[Manifest]:
        """Hold the writer lock and yield the current manifest; the first time, clean crash leftovers."""
        self.load()  # CollectionNotFound before creating a lock file in a folder that does not exist
        with self.lock, _file_lock(self.path / LOCK_FILE):
            manifest = self.load()
            if not self._cleaned:
                self.clean(manifest)
                self._cleaned = True
            yield manifest

    def create(self, schema: CollectionSchema) -> None:
        """Create an empty collection, replacing a collection of that name (never a foreign folder)."""
        with self.lock:
            if self.exists():
                self.drop()
            elif self.path.is_dir() and any(not _ours(p.name) for p in self.path.iterdir()):
                msg = f"{self.path} exists and is not a VectorMigrate collection (it has no {MANIFEST})"
                raise ConfigError(msg, hint="choose another collection name or an empty folder; VectorMigrate "
                                  "never deletes files it did not write")
            self.path.mkdir(parents=True, exist_ok=True)
            _fsync_dir(self.path.parent)
            self.write_manifest(Manifest(schema=schema))
            self._cleaned = True

    def drop(self) -> None:
        """Delete the collection: its manifest first (it is gone at once), then its files, then the folder.

        Only files of the format are deleted; anything else a user put in the folder stays, with the folder.
        """
        with self.lock:
            self._index = self._index_uid = None
            self._index_gen = -1
            self._cleaned = False
            if not self.exists():
                return
            with _file_lock(self.path / LOCK_FILE):
                self.manifest_path.unlink()
                _fsync_dir(self.path)
                for entry in self.path.iterdir():
                    if _ours(entry.name) and entry.name != LOCK_FILE:
                        entry.unlink(missing_ok=True)
                (self.path / LOCK_FILE).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty: the user's own files stay
                self.path.rmdir()
            _fsync_dir(self.path.parent)

    def write_manifest(self, manifest: Manifest) -> None:
        """Replace the manifest atomically and durably."""
        data = _manifest_text(manifest).encode()
        tmp = _new_tmp(self.path, ".json")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.manifest_path)
            _fsync_dir(self.path)
        finally:
            _release_tmp(tmp)

    def write_tmp(self, table: pa.Table) -> Path:
        """Write ``table`` to a new hidden temp file in the collection folder, fsynced."""
        return self.write_tmp_stream(table.schema, [table])

    def write_tmp_stream(self, schema: pa.Schema, tables: Iterable[pa.Table]) -> Path:
        """Write a stream of tables as one temp part file, holding about one row group in memory."""
        tmp = _new_tmp(self.path, PART_SUFFIX)
        try:
            # Dictionary and statistics pay off for namespace and id only; on vectors they are wasted work.
            with pq.ParquetWriter(tmp, schema, compression=self.compression, use_dictionary=["namespace"],
                                  write_statistics=["id", "namespace"]) as writer:
                pending: list[pa.Table] = []
                pending_bytes = 0
                for table in tables:
                    if table.num_rows:
                        pending.append(table)
                        pending_bytes += table.nbytes
                    if pending_bytes >= _ROW_GROUP_BYTES:
                        _write_row_groups(writer, pending)
                        pending, pending_bytes = [], 0
                _write_row_groups(writer, pending)
            _fsync_file(tmp)
        except BaseException:
            self.discard_tmp(tmp)
            raise
        return tmp

    def note_commit(self, manifest: Manifest, dropped: Sequence[int], added: Sequence[tuple[Part, Keys]]) -> None:
        """Apply a commit to the id index (call with :attr:`lock` held), if the index mirrors the generation
        the commit was made on. Otherwise it is left at its older generation, which is still consistent, and
        :meth:`index` brings it forward when it is next needed.
        """
        if (self._index is not None and self._index_uid == manifest.uid
                and self._index_gen == manifest.generation - 1):
            self._index.remove(dropped)
            for part, keys in added:
                self._index.add(part.seq, keys)
            self._index_gen = manifest.generation

    @staticmethod
    def discard_tmp(tmp: Path) -> None:
        """Delete a temp file that was not committed (a no-op for one already renamed)."""
        tmp.unlink(missing_ok=True)
        _release_tmp(tmp)

    def transaction(self, manifest: Manifest) -> Transaction:
        """A new transaction on ``manifest`` (call inside :meth:`locked`)."""
        return Transaction(self, manifest)

    def remove_ids(self, txn: Transaction, parts: Sequence[Part], ids: pa.Array) -> int:
        """Stage rewrites of ``parts`` without the rows whose id is in ``ids``; returns the rows removed.

        Streams each part row group by row group, so a rewrite holds one row group, not the part, in memory.
        """
        removed = 0
        int_ids = txn.manifest.int_ids
        for part in parts:
            with open_part(self.part_path(part)) as pf:
                id_col = pf.read(columns=["id"]).column("id")
                hit = pc.is_in(id_col, value_set=ids)
                n_hit = pc.sum(hit).as_py() or 0
                if not n_hit:
                    continue  # a hash collision or a stale index entry: nothing to do
                removed += n_hit
                txn.drop(part)
                kept_ids = id_col.filter(pc.invert(hit))
                if not len(kept_ids):
                    continue
                groups = (pf.read_row_group(i) for i in range(pf.metadata.num_row_groups))
                kept = (t.filter(pc.invert(pc.is_in(t.column("id"), value_set=ids))) for t in groups)
                tmp = self.write_tmp_stream(pf.schema_arrow, kept)
            txn.stage(tmp, len(kept_ids), part.namespace, column_keys(kept_ids, int_ids=int_ids))
        return removed

    def merge(self, txn: Transaction, parts: Sequence[Part]) -> None:
        """Stage one part holding the rows of ``parts`` (all of one namespace), streamed row group by row group."""
        if not parts:
            return
        with open_part(self.part_path(parts[0])) as first:
            schema = first.schema_arrow
        tables = (pf.read_row_group(i) for pf in _open_all(self.part_path(p) for p in parts)
                  for i in range(pf.metadata.num_row_groups))
        tmp = self.write_tmp_stream(schema, tables)
        ids = pa.chunked_array([pq.read_table(self.part_path(p), columns=["id"]).column("id").combine_chunks()
                                for p in parts])
        txn.stage(tmp, sum(p.rows for p in parts), parts[0].namespace,
                  column_keys(ids, int_ids=txn.manifest.int_ids))
        for part in parts:
            txn.drop(part)

    def clean(self, manifest: Manifest) -> list[str]:
        """Delete what a crashed writer left: unlisted part files and dead temp files (hold the lock)."""
        live = {p.file for p in manifest.parts}
        removed = []
        with os.scandir(self.path) as entries:
            for entry in entries:
                name = entry.name
                orphan = name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX) and name not in live
                if orphan or (name.startswith(TMP_PREFIX) and _is_leftover(entry)):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                    removed.append(name)
        return removed


class Transaction:
    """Parts staged and dropped, made visible together by :meth:`commit` (the manifest replace)."""

    def __init__(self, store: CollectionStore, manifest: Manifest) -> None:
        self.store = store
        self.manifest = manifest
        self._staged: list[tuple[Path, int, str | None, Keys]] = []
        self._dropped: dict[int, Part] = {}
        self._renamed: list[Path] = []

    def stage(self, tmp: Path, rows: int, namespace: str | None, keys: Keys) -> None:
        """Add the temp part file ``tmp`` (``rows`` rows of ``namespace`` with id ``keys``)."""
        self._staged.append((tmp, rows, namespace, keys))

    def drop(self, part: Part) -> None:
        """Remove ``part`` from the collection."""
        self._dropped[part.seq] = part

    def commit(self) -> None:
        """Publish: rename staged parts, replace the manifest, unlink dropped parts, update the index."""
        if not self._staged and not self._dropped:
            return
        store, manifest = self.store, self.manifest
        added: list[tuple[Part, Keys]] = []
        for tmp, rows, namespace, keys in self._staged:
            seq = manifest.next_seq
            manifest.next_seq += 1
            final = store.path / part_name(seq)
            os.replace(tmp, final)
            _release_tmp(tmp)
            self._renamed.append(final)
            added.append((Part(final.name, seq, rows, namespace), keys))
        if added:
            _fsync_dir(store.path)  # the part names are durable before the manifest that lists them
        manifest.parts = [p for p in manifest.parts if p.seq not in self._dropped] + [p for p, _ in added]
        manifest.generation += 1
        manifest.updated_at = now_utc()
        store.write_manifest(manifest)
        self._staged, self._renamed = [], []
        for part in self._dropped.values():
            # A reader still following the previous manifest may want this file: it handles its absence.
            with contextlib.suppress(FileNotFoundError):
                store.part_path(part).unlink()
        store.note_commit(manifest, list(self._dropped), added)
        self._dropped = {}

    def abort(self) -> None:
        """Remove every file this transaction wrote and did not commit (best effort)."""
        for tmp, *_ in self._staged:
            tmp.unlink(missing_ok=True)
            _release_tmp(tmp)
        if self._renamed:
            # The manifest replace may have happened before a later step failed: never delete a listed file.
            try:
                listed = {p.file for p in self.store.load().parts}
            except VectorMigrateError:
                listed = {p.name for p in self._renamed}  # cannot tell: leave them to the next clean-up
            for final in self._renamed:
                if final.name not in listed:
                    final.unlink(missing_ok=True)
        self._staged, self._renamed = [], []


def _ours(name: str) -> bool:
    """Whether a file name belongs to the format (manifest, parts, temp files, lock)."""
    return (name in (MANIFEST, LOCK_FILE) or name.startswith(TMP_PREFIX)
            or (name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX)))


def _open_all(paths: Iterable[Path]) -> Iterator[pq.ParquetFile]:
    for path in paths:
        with open_part(path) as pf:
            yield pf


def _write_row_groups(writer: pq.ParquetWriter, tables: list[pa.Table]) -> None:
    if not tables:
        return
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    row_bytes = max(1, table.nbytes // max(1, table.num_rows))
    writer.write_table(table, row_group_size=max(1, _ROW_GROUP_BYTES // row_bytes))


def _manifest_text(manifest: Manifest) -> str:
    """Indented for people, but one line per part: a big collection has thousands of them."""
    doc = manifest.to_json()
    parts = doc.pop("parts")
    head = json.dumps(doc, ensure_ascii=False, indent=1)
    rows = ",\n".join("  " + json.dumps(p, ensure_ascii=False) for p in parts)
    return head[:-2] + ',\n "parts": [' + (f"\n{rows}\n " if rows else "") + "]\n}\n"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock between processes (a no-op where ``flock`` does not exist)."""
    if sys.platform == "win32":
        yield
        return
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _new_tmp(folder: Path, suffix: str) -> Path:
    # host tag and pid in the name let a later writer tell a crashed writer's file from a live one's.
    name = f"{TMP_PREFIX}{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:12]}{suffix}"
    with _ACTIVE_LOCK:
        _ACTIVE_TMP.add(name)
    return folder / name


def _release_tmp(path: Path) -> None:
    with _ACTIVE_LOCK:
        _ACTIVE_TMP.discard(path.name)


def _is_leftover(entry: os.DirEntry[str]) -> bool:
    fields = entry.name[len(TMP_PREFIX):].split("-")
    pid = int(fields[1]) if len(fields) >= 3 and fields[1].isdigit() else -1
    if len(fields) >= 3 and fields[0] == _HOST and pid > 0:
        if pid == os.getpid():
            with _ACTIVE_LOCK:
                return entry.name not in _ACTIVE_TMP
        return not _pid_alive(pid)
    try:
        return time.time() - entry.stat().st_mtime > _FOREIGN_TMP_AGE
    except FileNotFoundError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True  # cannot tell: keep the file
    return True


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Makes renames in the folder durable; directories cannot be opened for fsync on Windows.
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
