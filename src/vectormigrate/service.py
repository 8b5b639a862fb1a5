"""Use cases shared by the CLI and the server: plan, migrate, resume, status, list.

Every function takes plain data (a :class:`MigrationSpec`, a migration id) and returns typed results or JSON
documents; none of them prints. Secrets arrive in :class:`Endpoint` objects, are handed to connectors, and
are never written to the state database (the spec is stored through :meth:`Endpoint.to_json`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vectormigrate.connectors.base import ConnectionConfig, Connector, IfExists
from vectormigrate.connectors.registry import get_class, open_connector
from vectormigrate.errors import ConfigError, SchemaMismatchError, StateError, VectorMigrateError
from vectormigrate.pipeline.backup import PreImageBackup
from vectormigrate.pipeline.deadletter import DeadLetterFile
from vectormigrate.pipeline.plan import MigrationPlan, PlanOptions, build_plan
from vectormigrate.pipeline.rollback import Rollbacker, RollbackResult
from vectormigrate.pipeline.runner import Progress, Runner, RunOptions, RunResult
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.pipeline.validate import ValidationOptions, ValidationReport, Validator
from vectormigrate.state.lock import MigrationLock
from vectormigrate.state.store import MigrationRow, StateStore

__all__ = [
    "Endpoint",
    "MigrationOutcome",
    "MigrationSpec",
    "list_json",
    "make_plan",
    "migrate",
    "resume",
    "rollback",
    "status_json",
    "validate",
]


@dataclass(frozen=True)
class Endpoint:
    """One side of a migration: ``--source-type/--source-url/--source-index/--source-api-key/--source-option``."""

    type: str
    index: str
    url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict)

    def config(self) -> ConnectionConfig:
        """The connector configuration (with the secret)."""
        return ConnectionConfig(url=self.url, api_key=self.api_key, options=dict(self.options))

    def to_json(self) -> dict[str, Any]:
        """Everything but the secret."""
        return {"type": self.type, "url": self.url, "index": self.index, "options": dict(self.options),
                "api_key_set": bool(self.api_key)}

    @classmethod
    def from_json(cls, data: dict[str, Any], api_key: str | None) -> Endpoint:
        """Rebuild from the stored spec; the secret comes from the caller (flag or environment)."""
        return cls(type=data["type"], index=data["index"], url=data.get("url"), api_key=api_key,
                   options=dict(data.get("options") or {}))


@dataclass(frozen=True)
class MigrationSpec:
    """What the user asked for."""

    migration_id: str
    source: Endpoint
    target: Endpoint
    batch_size: int = 100
    max_retries: int = 3
    workers: int = 2
    if_exists: IfExists = "append"
    plan_options: PlanOptions = field(default_factory=PlanOptions)
    dead_letter_path: str | None = None
    validate_every: int = 0

    def validate(self) -> None:
        """Check the numbers before anything is opened."""
        if not self.migration_id or len(self.migration_id) > 200:
            msg = "a migration id must be 1 to 200 characters"
            raise ConfigError(msg, hint="pass an id such as mig-2026-11-docs")
        if self.batch_size < 1:
            msg = f"--batch-size must be at least 1, not {self.batch_size}"
            raise ConfigError(msg, hint="use --batch-size 100 (the default) or more")
        if self.max_retries < 0:
            msg = f"--max-retries must not be negative, not {self.max_retries}"
            raise ConfigError(msg, hint="use --max-retries 3 (the default)")
        if self.validate_every < 0:
            msg = f"--validate-every must not be negative, not {self.validate_every}"
            raise ConfigError(msg, hint="use 0 (off) or N to sample-check every N batches")
        if self.workers < 1:
            msg = f"--workers must be at least 1, not {self.workers}"
            raise ConfigError(msg, hint="use --workers 2 (the default)")
        for side in (self.source, self.target):
            if not side.index:
                msg = f"the {side.type} collection name is empty"
                raise ConfigError(msg, hint="pass --source-index and --target-index")

    def to_json(self) -> dict[str, Any]:
        """The redacted spec stored with the migration."""
        return {
            "migration_id": self.migration_id, "source": self.source.to_json(), "target": self.target.to_json(),
            "batch_size": self.batch_size, "max_retries": self.max_retries, "workers": self.workers,
            "if_exists": self.if_exists, "dead_letter_path": self.dead_letter_path,
            "validate_every": self.validate_every,
            "plan_options": {"id_field": self.plan_options.id_field,
                             "namespace_field": self.plan_options.namespace_field,
                             "namespace_strategy": self.plan_options.namespace_strategy},
        }


@dataclass
class MigrationOutcome:
    """The result of ``migrate`` / ``resume``."""

    migration_id: str
    plan: MigrationPlan
    result: RunResult
    dry_run: bool
    created_target: bool
    dead_letter_path: str | None

    def to_json(self) -> dict[str, Any]:
        """Summary for ``--json`` and the MCP tools."""
        c = self.result.counters
        out: dict[str, Any] = {
            "migration_id": self.migration_id, "status": self.result.status, "dry_run": self.dry_run,
            "records_read": c.records_read, "records_written": c.records_written,
            "records_failed": c.records_failed, "batches": c.batches, "retries": c.retries,
            "elapsed_s": round(self.result.elapsed_s, 3), "records_per_s": round(self.result.rate, 1),
            "created_target": self.created_target, "dead_letter_file": self.dead_letter_path,
            "warnings": self.plan.warnings,
        }
        if self.result.error is not None:
            out["error"] = self.result.error.attrs()
        return out


@contextmanager
def _open(kind: str, endpoint: Endpoint) -> Iterator[Connector]:
    conn = open_connector(kind, endpoint.config())
    try:
        yield conn
    finally:
        conn.close()


def make_plan(spec: MigrationSpec, *, source: Connector | None = None, target: Connector | None = None,
              count_overlap: bool = True) -> MigrationPlan:
    """Describe both sides and decide every mapping; opens (and closes) connectors it was not given."""
    spec.validate()
    with ExitStack() as stack:
        src = source or stack.enter_context(_open(spec.source.type, spec.source))
        tgt = target or stack.enter_context(_open(spec.target.type, spec.target))
        schema = src.describe(spec.source.index)
        existing = tgt.describe(spec.target.index) if tgt.exists(spec.target.index) else None
        if existing is not None and spec.if_exists == "recreate":
            existing = None  # it will be replaced: plan for a fresh collection
        renames = type(tgt).field_renames([f.name for f in schema.fields])
        problem = None if existing is not None else type(tgt).collection_name_problem(spec.target.index)
        plan = build_plan(spec.source.type, schema, src.capabilities, spec.target.type, tgt.capabilities,
                          spec.target.index, existing_target=existing, options=spec.plan_options,
                          field_renames=renames, collection_problem=problem)
        if existing is not None and spec.if_exists == "append" and not plan.errors:
            try:
                from vectormigrate.connectors.base import check_compatible

                check_compatible(plan.target_schema, existing)
            except SchemaMismatchError as exc:
                plan.errors.append(exc.message)
            else:
                if count_overlap and existing.count:
                    plan.overlapping_ids = _count_overlap(src, tgt, spec, plan)
        if existing is not None and spec.if_exists == "fail":
            plan.errors.append(f"target collection {spec.target.index!r} already exists (--if-exists fail)")
        return plan


def _count_overlap(src: Connector, tgt: Connector, spec: MigrationSpec, plan: MigrationPlan) -> int:
    """How many source records already have an id in the target (they would be overwritten)."""
    transformer = Transformer(plan)
    found = 0
    for batch in src.read_batches(spec.source.index, batch_size=1000):
        ids = [transformer.target_id(i) for i in batch.ids]
        found += len(tgt.fetch(spec.target.index, ids, transformer.target_namespace(batch.namespace)))
    return found


def _raise_plan_errors(plan: MigrationPlan) -> None:
    if plan.errors:
        msg = "the migration cannot run as planned: " + "; ".join(plan.errors)
        raise SchemaMismatchError(msg, hint="`vectormigrate plan` shows the whole plan; fix the source, pick "
                                  "another target collection, or change the options named above")


def _dead_letter_path(store: StateStore, spec: MigrationSpec) -> Path:
    if spec.dead_letter_path:
        return Path(spec.dead_letter_path)
    return store.path.parent / "deadletter" / f"{spec.migration_id}.jsonl"


def migrate(
    spec: MigrationSpec,
    store: StateStore,
    *,
    dry_run: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    on_started: Callable[[MigrationPlan], None] | None = None,
    connectors: tuple[Connector, Connector] | None = None,
) -> MigrationOutcome:
    """Plan and run a new migration (or, with ``dry_run``, everything but the writes, and record nothing).

    ``connectors`` hands in already-open (source, target) connectors, which stay open: an in-process engine
    (a Qdrant local folder, milvus-lite) admits one client, so a caller that holds one must share it.
    """
    spec.validate()
    if not dry_run and store.exists(spec.migration_id):
        msg = f"migration {spec.migration_id!r} already exists"
        raise StateError(msg, hint=f"`vectormigrate resume {spec.migration_id}` continues it; or pick a new id")
    with ExitStack() as stack:
        if connectors is not None:
            src, tgt = connectors
        else:
            src = stack.enter_context(_open(spec.source.type, spec.source))
            tgt = stack.enter_context(_open(spec.target.type, spec.target))
        plan = make_plan(spec, source=src, target=tgt, count_overlap=not dry_run)
        _raise_plan_errors(plan)
        options = RunOptions(batch_size=spec.batch_size, max_retries=spec.max_retries, workers=spec.workers,
                             dry_run=dry_run, validate_every=spec.validate_every)
        if dry_run:
            dl_path = _dead_letter_path(store, spec).with_suffix(".dry-run.jsonl")
            dl_path.unlink(missing_ok=True)
            runner = Runner(migration_id=spec.migration_id, source=src, target=tgt, plan=plan,
                            source_collection=spec.source.index, options=options, store=None,
                            dead_letters=DeadLetterFile(dl_path, spec.migration_id), on_progress=on_progress,
                            stop=stop)
            if on_started:
                on_started(plan)
            result = runner.run()
            return MigrationOutcome(spec.migration_id, plan, result, True, False,
                                    str(dl_path) if dl_path.exists() else None)
        dl_path = _dead_letter_path(store, spec)
        lock = MigrationLock(store.path, spec.migration_id)
        with lock:
            store.create(spec.migration_id, source_type=spec.source.type, target_type=spec.target.type,
                         spec=spec.to_json() | {"dead_letter_path": str(dl_path)}, plan=plan.to_json(),
                         total_records=plan.source_schema.count)
            try:
                created = tgt.prepare(plan.target_schema, if_exists=spec.if_exists)
            except VectorMigrateError as exc:
                store.set_status(spec.migration_id, "failed", error=exc.attrs())
                raise
            store.update(spec.migration_id, created_target=created, phase="copying")
            if on_started:
                on_started(plan)
            result = _execute(store, spec.migration_id, src, tgt, plan, spec.source.index, options, dl_path,
                              on_progress, stop)
        return MigrationOutcome(spec.migration_id, plan, result, False, created, str(dl_path))


def resume(
    migration_id: str,
    store: StateStore,
    *,
    source_api_key: str | None = None,
    target_api_key: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> MigrationOutcome:
    """Continue a migration from its checkpoint, executing the plan it started with."""
    row = store.get(migration_id)
    if row.status in ("rolled_back", "rolling_back"):
        msg = f"migration {migration_id!r} was rolled back"
        raise StateError(msg, hint="start a new migration with a new id")
    if row.status == "completed":
        msg = f"migration {migration_id!r} already completed"
        raise StateError(msg, hint="nothing to resume; `vectormigrate status` shows its result")
    spec = spec_from_row(row, source_api_key, target_api_key)
    lock = MigrationLock(store.path, migration_id)
    with lock, _open(spec.source.type, spec.source) as src, _open(spec.target.type, spec.target) as tgt:
        if row.plan is None:
            msg = f"migration {migration_id!r} has no stored plan"
            raise StateError(msg, hint="start a new migration")
        plan = MigrationPlan.from_json(row.plan, tgt.capabilities)
        if not tgt.exists(plan.target_schema.name):
            # Killed before or during creation: create it now (the first run had not written anything yet).
            tgt.create_collection(plan.target_schema)
            store.update(migration_id, created_target=True)
        options = RunOptions(batch_size=spec.batch_size, max_retries=spec.max_retries, workers=spec.workers,
                             validate_every=spec.validate_every)
        dl_path = Path(row.spec.get("dead_letter_path") or _dead_letter_path(store, spec))
        result = _execute(store, migration_id, src, tgt, plan, spec.source.index, options, dl_path, on_progress, stop)
        return MigrationOutcome(migration_id, plan, result, False, bool(store.get(migration_id).created_target),
                                str(dl_path))


def spec_from_row(row: MigrationRow, source_api_key: str | None, target_api_key: str | None) -> MigrationSpec:
    """The stored spec, with secrets from the arguments or the environment."""
    data = row.spec
    src_key = source_api_key or os.environ.get("VECTORMIGRATE_SOURCE_API_KEY")
    tgt_key = target_api_key or os.environ.get("VECTORMIGRATE_TARGET_API_KEY")
    po = data.get("plan_options") or {}
    return MigrationSpec(
        migration_id=row.migration_id,
        source=Endpoint.from_json(data["source"], src_key),
        target=Endpoint.from_json(data["target"], tgt_key),
        batch_size=int(data.get("batch_size", 100)), max_retries=int(data.get("max_retries", 3)),
        workers=int(data.get("workers", 2)), if_exists="append",
        plan_options=PlanOptions(id_field=po.get("id_field", "_source_id"),
                                 namespace_field=po.get("namespace_field", "_namespace"),
                                 namespace_strategy=po.get("namespace_strategy")),
        dead_letter_path=data.get("dead_letter_path"), validate_every=int(data.get("validate_every") or 0),
    )


def _needs_backup(plan: MigrationPlan) -> bool:
    """A target that held records before the migration gets its overwritten records backed up first."""
    return plan.target_exists and bool(plan.target_count)


def _execute(store: StateStore, mid: str, src: Connector, tgt: Connector, plan: MigrationPlan, collection: str,
             options: RunOptions, dl_path: Path, on_progress: Callable[[Progress], None] | None,
             stop: threading.Event | None) -> RunResult:
    store.set_status(mid, "in_progress")
    backup = PreImageBackup(store, mid, tgt, plan.target_schema.name, plan.target_schema) \
        if _needs_backup(plan) else None
    checker = Validator(src, collection, tgt, plan).check_batch if options.validate_every else None
    runner = Runner(migration_id=mid, source=src, target=tgt, plan=plan, source_collection=collection,
                    options=options, store=store, dead_letters=DeadLetterFile(dl_path, mid), on_progress=on_progress,
                    stop=stop, backup=backup, checker=checker)
    try:
        result = runner.run()
    except KeyboardInterrupt:
        store.set_status(mid, "interrupted")
        raise
    except Exception as exc:
        err = exc if isinstance(exc, VectorMigrateError) else VectorMigrateError(
            f"unexpected error: {type(exc).__name__}: {exc}", hint="this is a bug; please report it")
        store.set_status(mid, "failed", error=err.attrs())
        raise
    finally:
        if backup is not None:
            backup.close()
    if result.status == "completed":
        store.update(mid, phase="copied")
        store.set_status(mid, "completed")
    elif result.status == "stopped":
        store.set_status(mid, "stopped")
    else:
        store.set_status(mid, "failed", error=result.error.attrs() if result.error else None)
    return result


# -- read models ------------------------------------------------------------------------------------------------
def _is_orphaned(store: StateStore, row: MigrationRow) -> bool:
    """An ``in_progress`` row whose runner is gone (killed): nobody holds its lock."""
    if row.status not in ("in_progress", "rolling_back"):
        return False
    lock = MigrationLock(store.path, row.migration_id, purpose="status probe")
    try:
        lock.acquire()
    except VectorMigrateError:
        return False
    lock.release()
    return True


def _progress(row: MigrationRow) -> tuple[int | None, int, float]:
    total = row.total_records
    done = row.counters.records_written
    pct = round(100.0 * done / total, 2) if total else (100.0 if row.status == "completed" else 0.0)
    return total, done, min(pct, 100.0)


def status_json(store: StateStore, migration_id: str) -> dict[str, Any]:
    """The Go README's ``migration_status`` output, plus counters, checkpoint, plan summary and errors."""
    row = store.get(migration_id)
    status = "interrupted" if _is_orphaned(store, row) else row.status
    total, done, pct = _progress(row)
    ckpt = store.checkpoint(migration_id)
    return {
        "migration_id": row.migration_id,
        "status": status,
        "progress": {"total_records": total, "migrated_records": done, "percentage": pct},
        "batches_processed": row.counters.batches,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "phase": row.phase,
        "source": row.spec.get("source"),
        "target": row.spec.get("target"),
        "counters": row.counters.as_dict(),
        "checkpoint": {"batch_seq": ckpt.batch_seq, "cursor": ckpt.cursor, "updated_at": ckpt.updated_at}
        if ckpt else None,
        "created_target": row.created_target,
        "dead_letter_file": row.spec.get("dead_letter_path"),
        "error": row.error,
        "last_validation": row.validation,
        "warnings": (row.plan or {}).get("warnings", []),
    } | _zero_downtime_section(store, migration_id)


def _zero_downtime_section(store: StateStore, migration_id: str) -> dict[str, Any]:
    """Phase (copying, catching up, in sync, validated, cut over) and journal lag, for dual-write migrations."""
    from vectormigrate.zerodowntime.service import status_section  # here: zerodowntime imports this module

    section = status_section(store, migration_id)
    return {"zero_downtime": section} if section else {}


def list_json(store: StateStore, *, status: str | None = None, limit: int = 10, offset: int = 0,
              sort_by: str = "created_at", sort_order: str = "desc") -> dict[str, Any]:
    """The Go README's ``list_migrations`` output."""
    rows, total = store.list(status=status, limit=limit, offset=offset, sort_by=sort_by, sort_order=sort_order)
    items = []
    for row in rows:
        t, done, pct = _progress(row)
        items.append({
            "migration_id": row.migration_id,
            "status": "interrupted" if _is_orphaned(store, row) else row.status,
            "created_at": row.created_at,
            "progress": {"total": t, "current": done, "percent": pct},
            "source_type": row.source_type,
            "target_type": row.target_type,
            "updated_at": row.updated_at,
        })
    return {"migrations": items, "total": total, "limit": limit, "offset": offset}


def connector_classes(kind: str) -> type[Connector]:
    """The connector class for ``kind`` (raises a ConfigError naming the extra to install)."""
    return get_class(kind)


# -- validation ---------------------------------------------------------------------------------------------------
def _target_endpoint_for_checks(spec: MigrationSpec, plan: MigrationPlan) -> Endpoint:
    """The target, opened so that it can count and filter by the plan's namespace field when it supports that."""
    cls = get_class(spec.target.type)
    if plan.namespace_strategy == "metadata_field" and any(o.name == "namespace_field" for o in cls.options):
        return Endpoint(spec.target.type, spec.target.index, spec.target.url, spec.target.api_key,
                        {**spec.target.options, "namespace_field": plan.namespace_field})
    return spec.target


def validate(
    migration_id: str,
    store: StateStore,
    options: ValidationOptions | None = None,
    *,
    source_api_key: str | None = None,
    target_api_key: str | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> ValidationReport:
    """Check a migration's target against its source and store the report (``status`` shows its verdict)."""
    row = store.get(migration_id)
    if row.plan is None:
        msg = f"migration {migration_id!r} has no plan to validate against"
        raise StateError(msg, hint="run the migration first")
    spec = spec_from_row(row, source_api_key, target_api_key)
    with _open(spec.source.type, spec.source) as src:
        plan = MigrationPlan.from_json(row.plan, get_class(spec.target.type).capabilities)
        with _open(spec.target.type, _target_endpoint_for_checks(spec, plan)) as tgt:
            report = Validator(src, spec.source.index, tgt, plan, options).run(on_progress)
    store.add_report(migration_id, "validation", report.passed, report.to_json())
    return report


# -- rollback -----------------------------------------------------------------------------------------------------
def rollback(
    migration_id: str,
    store: StateStore,
    *,
    drop_confirmed: bool = False,
    source_api_key: str | None = None,
    target_api_key: str | None = None,
    workers: int = 4,
    stop: threading.Event | None = None,
) -> RollbackResult:
    """Undo a migration: drop the collection it created, or delete/restore what it wrote. Resumable."""
    row = store.get(migration_id)
    if row.status == "rolled_back":
        msg = f"migration {migration_id!r} is already rolled back"
        raise StateError(msg, hint="nothing to do")
    if row.plan is None:
        msg = f"migration {migration_id!r} has no plan; nothing was written"
        raise StateError(msg, hint="nothing to roll back")
    spec = spec_from_row(row, source_api_key, target_api_key)
    with MigrationLock(store.path, migration_id, purpose="rollback"):
        plan = MigrationPlan.from_json(row.plan, get_class(spec.target.type).capabilities)
        if row.created_target:
            if not drop_confirmed:
                msg = (f"migration {migration_id!r} created target collection {plan.target_schema.name!r}; rolling "
                       "back drops it with everything in it")
                raise StateError(msg, hint="confirm with --force (CLI) or confirm=true (MCP)")
            store.set_status(migration_id, "rolling_back")
            with _open(spec.target.type, spec.target) as tgt:
                if tgt.exists(plan.target_schema.name):
                    tgt.drop_collection(plan.target_schema.name)
            store.update(migration_id, phase="rolled_back")
            store.set_status(migration_id, "rolled_back")
            return RollbackResult("completed", dropped_collection=True)
        store.set_status(migration_id, "rolling_back")
        with _open(spec.source.type, spec.source) as src, _open(spec.target.type, spec.target) as tgt:
            backup = PreImageBackup(store, migration_id, tgt, plan.target_schema.name, plan.target_schema) \
                if _needs_backup(plan) else None
            try:
                result = Rollbacker(store, migration_id, src, spec.source.index, tgt, plan,
                                    batch_size=spec.batch_size, workers=workers, backup=backup, stop=stop).run()
            except VectorMigrateError as exc:
                store.set_status(migration_id, "failed", error=exc.attrs() | {"during": "rollback"})
                raise
            finally:
                if backup is not None:
                    backup.close()
        if result.status == "completed":
            store.update(migration_id, phase="rolled_back")
            store.set_status(migration_id, "rolled_back")
            store.add_event(migration_id, "rollback", result.to_json())
        else:
            # Still rolling back: `resume` must not restart the copy over a half-undone target; running
            # `rollback` again continues from the rollback checkpoint.
            store.add_event(migration_id, "rollback_stopped", result.to_json())
        return result
