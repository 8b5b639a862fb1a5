"""The dual-writer: an application puts it in front of its writes while a migration runs.

Every write goes, in this order:

1. to the **source** (it stays the truth): its failure is the application's failure and is raised unchanged;
2. into the **journal**: every touched id, with a sequence number (see :mod:`.journal`);
3. to the **target**, through the migration plan's :class:`~vectormigrate.pipeline.transform.Transformer`
   (ids mapped, vector names renamed, metadata coerced, namespace placed as planned). A failed target write is
   logged and counted and never fails the application's write: the id is journaled, and the next
   ``vectormigrate sync`` copies it from the source.

The journal is written before the target so that no target write can be missing from it. If the journal
itself cannot be written, the target is still written (best effort) and a :class:`~vectormigrate.errors.StateError`
is raised: the source has the write, but ``sync`` cannot know about it, so the application must hear of it.

An application that writes through an official SDK client keeps its calls and wraps the client instead; see
:mod:`vectormigrate.zerodowntime.adapters`.

Example::

    from vectormigrate import DualWriter

    with DualWriter.for_migration("mig-2026-11-docs") as dw:   # plan, journal and target from the state DB
        dw.upsert(records)                                      # VectorRecords or a Batch, in source form
        dw.delete(["doc-1", "doc-2"])
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from vectormigrate.connectors.base import Connector, Target
from vectormigrate.errors import ConfigError, StateError, VectorMigrateError
from vectormigrate.model import Batch, RecordId, VectorRecord
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import Transformer, split_batch
from vectormigrate.zerodowntime.journal import Journal, Op, open_journal

if TYPE_CHECKING:
    from vectormigrate.state.store import StateStore

__all__ = ["DualWriter", "DualWriterStats", "TargetWriteFailure"]

log = logging.getLogger("vectormigrate.dualwrite")


@dataclass(frozen=True, slots=True)
class TargetWriteFailure:
    """A target write that failed (the source has the write; the next sync repairs the target)."""

    op: Op
    ids: tuple[RecordId, ...]
    namespace: str | None
    error: str


@dataclass
class DualWriterStats:
    """Counters since the dual-writer was opened."""

    source_writes: int = 0
    journaled_ids: int = 0
    last_seq: int = 0
    target_writes: int = 0
    target_failures: int = 0
    target_failed_ids: int = 0
    last_target_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain dict."""
        return {"source_writes": self.source_writes, "journaled_ids": self.journaled_ids, "last_seq": self.last_seq,
                "target_writes": self.target_writes, "target_failures": self.target_failures,
                "target_failed_ids": self.target_failed_ids, "last_target_error": self.last_target_error}


@dataclass
class _Owned:
    closers: list[Callable[[], None]] = field(default_factory=list)


class DualWriter:
    """Writes to the source, journals, then writes the target; see the module docstring.

    Args:
        migration_id: the migration whose journal entries these are.
        plan: the migration's plan (``DualWriter.for_migration`` loads the stored one).
        journal: where touched ids go.
        target: the target connector (records are written in target form, into ``plan.target_schema.name``).
        source: the source connector, for :meth:`upsert` / :meth:`delete`. Not needed when the application
            writes the source itself and calls :meth:`mirror` / :meth:`mirror_delete` (the SDK adapters do).
        source_collection: the source collection :meth:`upsert` / :meth:`delete` write to.
        on_target_error: called (in the writing thread) after a target write failed; must not raise.
        source_opener: opens ``source`` on first use when it was not given (``for_migration`` passes one, so an
            application that only uses an SDK adapter never opens a second client on the source).
    """

    def __init__(
        self,
        *,
        migration_id: str,
        plan: MigrationPlan,
        journal: Journal,
        target: Target,
        source: Target | None = None,
        source_collection: str | None = None,
        on_target_error: Callable[[TargetWriteFailure], None] | None = None,
        source_opener: Callable[[], Target] | None = None,
    ) -> None:
        self.migration_id = migration_id
        self.plan = plan
        self.transformer = Transformer(plan)
        self.journal = journal
        self.target = target
        self.target_collection = plan.target_schema.name
        self.source_collection = source_collection
        self.on_target_error = on_target_error
        self._source = source
        self._source_opener = source_opener
        self._lock = threading.Lock()
        self._stats = DualWriterStats()
        self._namespaces_ready: set[str] = set()
        self._owned = _Owned()
        caps = plan.target_capabilities
        self._max_records = max(1, caps.max_batch_records)
        self._max_bytes = caps.max_batch_bytes
        self._dims = {v.name: v.dim for v in plan.source_schema.vectors}

    # -- construction from the state database -------------------------------------------------------------------
    @classmethod
    def for_migration(
        cls,
        migration_id: str,
        *,
        store: StateStore | str | Path | None = None,
        journal: Journal | str | None = None,
        source: Connector | None = None,
        target: Connector | None = None,
        source_api_key: str | None = None,
        target_api_key: str | None = None,
        on_target_error: Callable[[TargetWriteFailure], None] | None = None,
    ) -> DualWriter:
        """The dual-writer of a migration prepared with ``start_dual_write`` (``vectormigrate dual-write``).

        Loads the stored plan from the state database, then does what :meth:`from_config` does. Application
        hosts that cannot reach the state database use :meth:`from_config` with the file
        ``vectormigrate dual-write --app-config FILE`` wrote.

        Raises:
            StateError: unknown or rolled-back migration, no journal registered, or a different journal.
        """
        from vectormigrate.state.store import StateStore
        from vectormigrate.zerodowntime.service import app_config

        st = store if isinstance(store, StateStore) else StateStore(store)
        row = st.get(migration_id)
        if row.status in ("rolled_back", "rolling_back"):
            msg = f"migration {migration_id!r} was rolled back; there is nothing to dual-write into"
            raise StateError(msg, hint="start a new migration (and dual-write) with a new id")
        if row.plan is None:
            msg = f"migration {migration_id!r} has no plan yet"
            raise StateError(msg, hint="prepare it with `vectormigrate dual-write` (start_dual_write) first")
        if journal is None and not (row.spec.get("dual_write") or {}).get("journal"):
            msg = f"migration {migration_id!r} has no dual-write journal"
            raise StateError(msg, hint=f"`vectormigrate dual-write {migration_id} --journal PATH ...` registers "
                             "one (start_dual_write() in Python)")
        return cls.from_config(app_config(row), journal=journal, source=source, target=target,
                               source_api_key=source_api_key, target_api_key=target_api_key,
                               on_target_error=on_target_error)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any] | str | Path,
        *,
        journal: Journal | str | None = None,
        source: Connector | None = None,
        target: Connector | None = None,
        source_api_key: str | None = None,
        target_api_key: str | None = None,
        on_target_error: Callable[[TargetWriteFailure], None] | None = None,
    ) -> DualWriter:
        """A dual-writer from an application config (a dict, or the JSON file ``dual-write --app-config`` wrote).

        The config holds the migration id, the plan, both endpoints and the journal, without secrets. Secrets
        come from the arguments or ``VECTORMIGRATE_SOURCE_API_KEY`` / ``VECTORMIGRATE_TARGET_API_KEY``; a
        PostgreSQL journal's password from ``VECTORMIGRATE_JOURNAL_URL``, ``PGPASSWORD`` or ``~/.pgpass``. The
        target is opened now (unless given); the source only if :meth:`upsert` / :meth:`delete` /
        :meth:`source_fetch` need it.

        Raises:
            ConfigError: the config is not a dual-write config.
            StateError: the journal is not the one registered for the migration.
        """
        from vectormigrate.connectors.registry import get_class, open_connector
        from vectormigrate.service import Endpoint

        cfg = _load_config(config)
        mid = str(cfg["migration_id"])
        src_ep = Endpoint.from_json(cfg["source"], source_api_key or os.environ.get("VECTORMIGRATE_SOURCE_API_KEY"))
        tgt_ep = Endpoint.from_json(cfg["target"], target_api_key or os.environ.get("VECTORMIGRATE_TARGET_API_KEY"))
        owned: list[Callable[[], None]] = []
        registered = cfg.get("journal_id")
        if isinstance(journal, Journal):
            jrn = journal
        else:
            location = journal or os.environ.get("VECTORMIGRATE_JOURNAL_URL") or cfg.get("journal")
            if not location:
                msg = f"the dual-write config of migration {mid!r} names no journal"
                raise ConfigError(msg, hint="pass journal=PATH or URL")
            jrn = open_journal(location)
            owned.append(jrn.close)
        if registered and jrn.journal_id != registered:
            for close in owned:
                close()
            msg = (f"the journal at {jrn.location} is not the one registered for migration {mid!r} "
                   f"({cfg.get('journal')}); the application and sync must share one journal")
            raise StateError(msg, hint="pass the registered journal (journal= / $VECTORMIGRATE_JOURNAL_URL)",
                             migration_id=mid)
        plan = MigrationPlan.from_json(cfg["plan"], get_class(tgt_ep.type).capabilities)
        if target is None:
            target = open_connector(tgt_ep.type, tgt_ep.config())
            owned.append(target.close)

        def open_source() -> Target:
            conn = open_connector(src_ep.type, src_ep.config())
            owned.append(conn.close)
            return conn

        writer = cls(migration_id=mid, plan=plan, journal=jrn, target=target, source=source,
                     source_collection=src_ep.index, on_target_error=on_target_error,
                     source_opener=open_source if source is None else None)
        writer._owned.closers = owned
        return writer

    # -- the application's API ------------------------------------------------------------------------------------
    def upsert(self, records: Batch | Sequence[VectorRecord], namespace: str | None = None) -> None:
        """Upsert records (in the source's form) into the source, journal their ids, then mirror them.

        Args:
            records: a :class:`~vectormigrate.model.Batch` or rows; rows must share their dense vector names.
            namespace: the source namespace (overrides the batch's; default: the batch's / first record's).

        Raises:
            VectorMigrateError: the source write failed (nothing was journaled or mirrored), or the journal
                could not be written (the source and, best effort, the target have the write).
        """
        batch = records if isinstance(records, Batch) else Batch.from_records(records, namespace=namespace,
                                                                              dims=self._dims)
        if namespace is not None:
            batch.namespace = namespace
        if not len(batch):
            return
        source = self._require_source()
        source.write_batch(self._require_source_collection(), batch)
        with self._lock:
            self._stats.source_writes += 1
        self.mirror(batch)

    def delete(self, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        """Delete ids from the source, journal them, then delete their mapped ids from the target.

        Raises:
            VectorMigrateError: the source delete failed (nothing was journaled or mirrored), or the journal
                could not be written.
        """
        if not ids:
            return
        source = self._require_source()
        source.delete(self._require_source_collection(), list(ids), namespace)
        with self._lock:
            self._stats.source_writes += 1
        self.mirror_delete(ids, namespace)

    # -- for applications (and adapters) that wrote the source themselves -----------------------------------------
    def mirror(self, records: Batch | Sequence[VectorRecord], namespace: str | None = None) -> None:
        """The source already holds these records: journal their ids, then write them to the target.

        Raises:
            StateError: the journal could not be written (the target was still written, best effort).
        """
        batch = records if isinstance(records, Batch) else Batch.from_records(records, namespace=namespace,
                                                                              dims=self._dims)
        if namespace is not None:
            batch.namespace = namespace
        if not len(batch):
            return
        failure = self._journal(batch.ids, batch.namespace, "upsert")
        self._write_target(batch)
        if failure is not None:
            raise failure

    def mirror_ids(self, ids: Sequence[RecordId], namespace: str | None,
                   fetch: Callable[[Sequence[RecordId]], Sequence[VectorRecord]]) -> None:
        """The source already changed these ids: journal them, re-read them with ``fetch``, write the target.

        For writes whose result only the source knows (partial payload updates, server-side defaults, vectors a
        database normalises). Ids ``fetch`` does not return are left to ``sync`` (never deleted here: a read
        right after a write may not see it yet on an eventually consistent source).
        """
        if not ids:
            return
        failure = self._journal(ids, namespace, "upsert")
        try:
            records = list(fetch(ids))
        except Exception as exc:  # noqa: BLE001 - a failed re-read is a failed mirror, never the app's failure
            self._target_failed("upsert", ids, namespace, exc)
            records = []
        # Without a namespace in the call, each record's own (e.g. Qdrant's namespace_field payload key) applies.
        groups: dict[tuple[str | None, tuple[str, ...]], list[VectorRecord]] = {}
        for rec in records:
            ns = namespace if namespace is not None else rec.namespace
            groups.setdefault((ns, tuple(sorted(rec.vectors))), []).append(rec)
        for (ns, _), recs in groups.items():
            self._write_target(Batch.from_records(recs, namespace=ns, dims=self._dims))
        if failure is not None:
            raise failure

    def mirror_delete(self, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        """The source already deleted these ids: journal them, then delete their mapped ids from the target.

        Raises:
            StateError: the journal could not be written (the target was still written, best effort).
        """
        if not ids:
            return
        failure = self._journal(ids, namespace, "delete")
        tr = self.transformer
        try:
            self.target.delete(self.target_collection, [tr.target_id(i) for i in ids], tr.target_namespace(namespace))
        except Exception as exc:  # noqa: BLE001 - see _write_target
            self._target_failed("delete", ids, namespace, exc)
        else:
            with self._lock:
                self._stats.target_writes += 1
        if failure is not None:
            raise failure

    def source_fetch(self, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        """Re-read records from the source through the migration's source connector (for SDK adapters)."""
        return self._require_source().fetch(self._require_source_collection(), list(ids), namespace)

    # -- introspection and lifecycle ------------------------------------------------------------------------------
    def stats(self) -> DualWriterStats:
        """A snapshot of the counters."""
        with self._lock:
            return DualWriterStats(**self._stats.to_json())

    def close(self) -> None:
        """Close what :meth:`for_migration` opened (the journal, the target, a lazily opened source)."""
        closers, self._owned.closers = self._owned.closers, []
        for close in reversed(closers):
            close()

    def __enter__(self) -> DualWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------------------------
    def _require_source(self) -> Target:
        if self._source is None:
            if self._source_opener is None:
                msg = "this dual-writer has no source connector"
                raise ConfigError(msg, hint="pass source= (or use DualWriter.for_migration), or write the source "
                                  "yourself and call mirror()/mirror_delete()")
            with self._lock:
                if self._source is None:
                    self._source = self._source_opener()
        return self._source

    def _require_source_collection(self) -> str:
        if not self.source_collection:
            msg = "this dual-writer has no source collection"
            raise ConfigError(msg, hint="pass source_collection=")
        return self.source_collection

    def _journal(self, ids: Sequence[RecordId], namespace: str | None, op: Op) -> StateError | None:
        """Journal ids; a failure is returned (raised by the caller after the best-effort target write)."""
        try:
            _, last = self.journal.append(self.migration_id, list(ids), namespace=namespace, op=op)
        except VectorMigrateError as exc:
            log.error("dual-write journal failed for %d id(s) of migration %s: %s",  # noqa: TRY400 - expected, no trace
                      len(ids), self.migration_id, exc.message)
            return StateError(f"the write reached the source but could not be journaled: {exc.message}",
                              hint="sync cannot see these ids; fix the journal, then run `vectormigrate sync "
                              f"{self.migration_id} --full` before cutover", migration_id=self.migration_id)
        with self._lock:
            self._stats.journaled_ids += len(ids)
            self._stats.last_seq = max(self._stats.last_seq, last)
        return None

    def _write_target(self, batch: Batch) -> None:
        try:
            out, dead = self.transformer.apply(batch)
            if dead:
                reasons = "; ".join(f"{d.record_id!r} {d.field}: {d.reason}" for d in dead[:3])
                self._target_failed("upsert", [d.record_id for d in dead], batch.namespace,
                                    RuntimeError(f"the target cannot hold {len(dead)} record(s): {reasons}"))
            if not len(out):
                return
            ns = out.namespace
            if ns is not None and ns not in self._namespaces_ready:
                self.target.ensure_namespace(self.target_collection, ns)
                with self._lock:
                    self._namespaces_ready.add(ns)
            for part in split_batch(out, max_records=self._max_records, max_bytes=self._max_bytes):
                self.target.write_batch(self.target_collection, part)
        except Exception as exc:  # noqa: BLE001 - a target failure must never fail the application's write
            self._target_failed("upsert", batch.ids, batch.namespace, exc)
            return
        with self._lock:
            self._stats.target_writes += 1

    def _target_failed(self, op: Op, ids: Sequence[RecordId], namespace: str | None, exc: BaseException) -> None:
        text = exc.message if isinstance(exc, VectorMigrateError) else f"{type(exc).__name__}: {exc}"
        log.warning("dual-write: target %s of %d id(s) failed (journaled; the next `vectormigrate sync %s` repairs "
                    "it): %s", op, len(ids), self.migration_id, text)
        with self._lock:
            self._stats.target_failures += 1
            self._stats.target_failed_ids += len(ids)
            self._stats.last_target_error = text
        if self.on_target_error is not None:
            try:
                self.on_target_error(TargetWriteFailure(op, tuple(ids), namespace, text))
            except Exception:  # a broken callback must not fail the application's write
                log.exception("dual-write: on_target_error callback raised")


def _load_config(config: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(config, Mapping):
        cfg = dict(config)
    else:
        try:
            cfg = json.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"cannot read the dual-write config {config}: {exc}"
            raise ConfigError(msg, hint="write it with `vectormigrate dual-write ... --app-config FILE`") from exc
    missing = [k for k in ("migration_id", "source", "target", "plan") if not isinstance(cfg, dict) or k not in cfg]
    if missing:
        msg = f"not a dual-write config: {', '.join(missing)} missing"
        raise ConfigError(msg, hint="write it with `vectormigrate dual-write ... --app-config FILE`")
    return cfg
