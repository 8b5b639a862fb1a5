"""Zero-downtime use cases, shared by the CLI and the MCP tools: start dual-write, sync, cutover, status.

Every function takes plain data and returns a JSON-able dict; none prints. The journal's location is kept in
the migration's stored spec (``spec["dual_write"]``), without any password; the journal itself is not in the
state database, because the application writes it.

The procedure (``docs/zero-downtime.md`` explains it for people):

1. :func:`start_dual_write` plans the migration, creates the target collection and registers the journal;
2. the application writes through :class:`~vectormigrate.zerodowntime.dualwriter.DualWriter` (or an SDK adapter);
3. the bulk copy runs (``vectormigrate resume ID``, or ``service.migrate`` for a registration made from its
   ``on_started`` hook);
4. :func:`sync_migration` replays the journal (repeatable; resumable);
5. :func:`cutover_migration`: a final sync, validation (refuses to switch when it fails), then the alias switch
   or the exact instructions for switching by hand.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from vectormigrate.connectors.base import Aliasable, Connector
from vectormigrate.connectors.registry import get_class, open_connector
from vectormigrate.errors import ConfigError, SchemaMismatchError, StateError, ValidationFailed, VectorMigrateError
from vectormigrate.pipeline.deadletter import DeadLetterFile
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.validate import ValidationOptions, ValidationReport, Validator
from vectormigrate.service import (
    Endpoint,
    MigrationSpec,
    make_plan,
    spec_from_row,
)
from vectormigrate.service import validate as service_validate
from vectormigrate.state.lock import MigrationLock
from vectormigrate.state.store import MigrationRow, StateStore, utcnow
from vectormigrate.zerodowntime.journal import Journal, open_journal
from vectormigrate.zerodowntime.sync import FULL_KIND, SYNC_KIND, FullSync, JournalSync, SyncResult

__all__ = [
    "JOURNAL_ENV",
    "app_config",
    "cutover_migration",
    "journal_location",
    "open_registered_journal",
    "start_dual_write",
    "status_section",
    "sync_migration",
]

JOURNAL_ENV = "VECTORMIGRATE_JOURNAL_URL"
"""A journal location with its password (the stored one has none)."""

Connectors = tuple[Connector, Connector]
_OWN_PHASES = ("dual_write", "catching_up", "in_sync", "validated", "cut_over")
_PHASE_LABEL = {"dual_write": "dual-write started (bulk copy not started)", "copying": "copying",
                "copied": "catching up", "catching_up": "catching up", "in_sync": "in sync",
                "validated": "validated", "cut_over": "cut over"}


# -- journal registration -------------------------------------------------------------------------------------------
def journal_location(row: MigrationRow) -> str | None:
    """The journal registered for a migration (redacted), or None."""
    dw = row.spec.get("dual_write") or {}
    loc = dw.get("journal")
    return str(loc) if loc else None


def open_registered_journal(row: MigrationRow, override: str | None = None) -> Journal:
    """Open the migration's journal: ``override``, else ``$VECTORMIGRATE_JOURNAL_URL``, else the registered one.

    Raises:
        StateError: nothing registered, or the journal opened is not the registered one (another file/database).
    """
    stored = journal_location(row)
    location = override or os.environ.get(JOURNAL_ENV) or stored
    if not location:
        msg = f"migration {row.migration_id!r} has no dual-write journal"
        raise StateError(msg, hint=f"`vectormigrate dual-write {row.migration_id} --journal PATH ...` registers one; "
                         "an application that cannot use the dual-writer uses `vectormigrate sync ID --full`")
    journal = open_journal(location)
    want = (row.spec.get("dual_write") or {}).get("journal_id")
    if want and journal.journal_id != want:
        where = journal.location
        journal.close()
        msg = (f"the journal at {where} is not the one registered for migration {row.migration_id!r} "
               f"({stored}); the application and sync must share one journal")
        raise StateError(msg, hint="pass the registered journal (--journal / $VECTORMIGRATE_JOURNAL_URL)",
                         migration_id=row.migration_id)
    return journal


def app_config(row: MigrationRow) -> dict[str, Any]:
    """What an application needs to dual-write without the state database: ids, endpoints, journal, plan.

    No secret is in it (the spec is stored redacted); ``DualWriter.from_config`` reads it.
    """
    dw = row.spec.get("dual_write") or {}
    return {"vectormigrate_dual_write": 1, "migration_id": row.migration_id, "source": row.spec["source"],
            "target": row.spec["target"], "journal": dw.get("journal"), "journal_id": dw.get("journal_id"),
            "plan": row.plan}


@contextmanager
def _open_pair(spec: MigrationSpec, connectors: Connectors | None,
               target_endpoint: Endpoint | None = None) -> Iterator[Connectors]:
    if connectors is not None:
        yield connectors
        return
    with ExitStack() as stack:
        src = open_connector(spec.source.type, spec.source.config())
        stack.callback(src.close)
        tep = target_endpoint or spec.target
        tgt = open_connector(tep.type, tep.config())
        stack.callback(tgt.close)
        yield src, tgt


def _dead_letter_path(store: StateStore, row_spec: dict[str, Any], migration_id: str) -> Path:
    base = row_spec.get("dead_letter_path")
    return Path(base) if base else store.path.parent / "deadletter" / f"{migration_id}.jsonl"


def _copy_started(store: StateStore, row: MigrationRow) -> bool:
    return row.status != "pending" or store.checkpoint(row.migration_id, "dispatched") is not None \
        or store.checkpoint(row.migration_id, "copy") is not None


def start_dual_write(
    spec: MigrationSpec,
    store: StateStore,
    *,
    journal: str | Path,
    alias: str | None = None,
    connectors: Connectors | None = None,
) -> dict[str, Any]:
    """Prepare a migration for dual-write: plan, create the target, register the journal.

    For a new migration id this records the migration (status ``pending``, phase ``dual_write``) with its plan
    and creates the target collection, exactly as ``migrate`` would, but copies nothing: the application starts
    dual-writing now, and the bulk copy then runs with ``vectormigrate resume ID``. For a migration that exists
    (for example from ``service.migrate``'s ``on_started`` hook) it only registers the journal; if the copy has
    already read records, writes made before now may be missing (``coverage: "from_now"``), and a
    ``sync --full`` before cutover catches them.

    Args:
        spec: the migration (a new id, or an existing one).
        store: the state database.
        journal: a SQLite path or ``postgresql://...`` URL that the application and ``sync`` both reach.
        alias: the alias ``cutover`` points at the target collection (default: see :func:`cutover_migration`).
        connectors: already-open (source, target), kept open (in-process engines admit one client).

    Returns:
        ``migration_id``, ``journal`` (redacted), ``journal_id``, ``coverage``, ``created_target``, ``warnings``,
        ``next_steps`` and ``app_config`` (for ``DualWriter.from_config`` on hosts without the state database).
    """
    spec.validate()
    warnings: list[str] = []
    jrn = open_journal(journal)
    try:
        journal_id, location = jrn.journal_id, jrn.location
    finally:
        jrn.close()
    created = False
    if store.exists(spec.migration_id):
        row = store.get(spec.migration_id)
        if row.status in ("rolled_back", "rolling_back"):
            msg = f"migration {spec.migration_id!r} was rolled back"
            raise StateError(msg, hint="start a new migration with a new id")
        coverage = "from_now" if _copy_started(store, row) else "complete"
        if coverage == "from_now":
            warnings.append("the bulk copy started before dual-write: a write made between its read of a record "
                            f"and now may be missing; run `vectormigrate sync {spec.migration_id} --full` before "
                            "cutover")
        base = row.spec
        phase = row.phase
    else:
        with MigrationLock(store.path, spec.migration_id, purpose="dual-write setup"), \
                _open_pair(spec, connectors) as (src, tgt):
            plan = make_plan(spec, source=src, target=tgt)
            if plan.errors:
                msg = "the migration cannot run as planned: " + "; ".join(plan.errors)
                raise SchemaMismatchError(msg, hint="`vectormigrate plan` shows the whole plan; fix the source, pick "
                                          "another target collection, or change the options named above")
            dl = _dead_letter_path(store, {"dead_letter_path": spec.dead_letter_path}, spec.migration_id)
            store.create(spec.migration_id, source_type=spec.source.type, target_type=spec.target.type,
                         spec=spec.to_json() | {"dead_letter_path": str(dl)}, plan=plan.to_json(),
                         total_records=plan.source_schema.count)
            try:
                created = tgt.prepare(plan.target_schema, if_exists=spec.if_exists)
            except VectorMigrateError as exc:
                store.set_status(spec.migration_id, "failed", error=exc.attrs())
                raise
            store.update(spec.migration_id, created_target=created)
        coverage = "complete"
        base = store.get(spec.migration_id).spec
        phase = "dual_write"
        if plan.target_exists and plan.target_count:
            warnings.append(f"the target already holds {plan.target_count} records: a rollback restores what the "
                            "bulk copy overwrote, not what the application's dual-writes overwrote; prefer a new "
                            "collection")
    if spec.validate_every:
        warnings.append("--validate-every samples during the copy can fail on a record the application changes "
                        "at the same moment; use 0 and validate at cutover")
    dual = {"journal": location, "journal_id": journal_id, "started_at": utcnow(), "coverage": coverage}
    if alias:
        dual["alias"] = alias
    store.update(spec.migration_id, spec=base | {"dual_write": dual}, phase=phase)
    store.add_event(spec.migration_id, "dual_write_started", dual | {"warnings": warnings})
    mid = spec.migration_id
    return {
        "migration_id": mid, "journal": location, "journal_id": journal_id, "coverage": coverage,
        "created_target": created, "warnings": warnings, "app_config": app_config(store.get(mid)),
        "next_steps": [
            f"point the application's writes at DualWriter.for_migration({mid!r}) (or an SDK adapter) with "
            f"journal {location}",
            f"run the bulk copy: vectormigrate resume {mid}",
            f"catch up as often as you like: vectormigrate sync {mid}",
            f"switch: vectormigrate cutover {mid}",
        ],
    }


# -- sync -----------------------------------------------------------------------------------------------------------
def _load(store: StateStore, migration_id: str, source_api_key: str | None,
          target_api_key: str | None) -> tuple[MigrationRow, MigrationSpec, MigrationPlan]:
    row = store.get(migration_id)
    if row.status in ("rolled_back", "rolling_back"):
        msg = f"migration {migration_id!r} was rolled back"
        raise StateError(msg, hint="start a new migration with a new id")
    if row.plan is None:
        msg = f"migration {migration_id!r} has no plan"
        raise StateError(msg, hint="start it with `vectormigrate dual-write` or `vectormigrate migrate` first")
    spec = spec_from_row(row, source_api_key, target_api_key)
    plan = MigrationPlan.from_json(row.plan, get_class(spec.target.type).capabilities)
    return row, spec, plan


def _hold_reason(row: MigrationRow) -> str | None:
    if row.status == "completed":
        return None
    return (f"the bulk copy is {row.status}: a write of it can still overwrite what sync copies, so entries are "
            "replayed but the checkpoint stays until it completes")


def _run_sync(store: StateStore, row: MigrationRow, spec: MigrationSpec, plan: MigrationPlan, conns: Connectors, *,
              full: bool, journal: str | None, batch_size: int | None, prune: bool, stop: threading.Event | None,
              on_progress: Callable[[SyncResult], None] | None) -> dict[str, Any]:
    mid = row.migration_id
    src, tgt = conns
    dl = DeadLetterFile(_dead_letter_path(store, row.spec, mid).with_suffix(".sync.jsonl"), mid)
    size = batch_size or max(spec.batch_size, 100)
    lag_json: dict[str, Any] | None = None
    if full:
        if row.status != "completed":
            msg = f"the bulk copy of migration {mid!r} is {row.status}; `sync --full` compares finished copies"
            raise StateError(msg, hint=f"finish the copy first (`vectormigrate resume {mid}`)")
        result = FullSync(store=store, migration_id=mid, source=src, source_collection=spec.source.index,
                          target=tgt, plan=plan, batch_size=size, max_retries=spec.max_retries, dead_letters=dl,
                          stop=stop, on_progress=on_progress).run()
    else:
        jrn = open_registered_journal(row, journal)
        try:
            result = JournalSync(store=store, migration_id=mid, journal=jrn, source=src,
                                 source_collection=spec.source.index, target=tgt, plan=plan, batch_size=size,
                                 max_retries=spec.max_retries, hold=_hold_reason(row), prune=prune,
                                 dead_letters=dl, stop=stop, on_progress=on_progress).run()
            lag_json = jrn.lag(mid, result.checkpoint_after).to_json()
        finally:
            jrn.close()
    doc = {"migration_id": mid} | result.to_json()
    if lag_json is not None:
        doc["lag"] = lag_json
    if result.status == "completed" and row.status == "completed" and row.phase not in ("validated", "cut_over"):
        caught_up = full or (lag_json is not None and lag_json["entries"] == 0)
        store.update(mid, phase="in_sync" if caught_up else "catching_up")
    store.add_event(mid, "sync", {k: v for k, v in doc.items() if k != "migration_id"})
    doc["phase"] = store.get(mid).phase
    return doc


def sync_migration(
    migration_id: str,
    store: StateStore,
    *,
    full: bool = False,
    journal: str | None = None,
    batch_size: int | None = None,
    prune: bool = True,
    source_api_key: str | None = None,
    target_api_key: str | None = None,
    connectors: Connectors | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[SyncResult], None] | None = None,
) -> dict[str, Any]:
    """One catch-up pass: replay the journal (default) or compare both sides and repair (``full``).

    Resumable (run it again after a crash or a stop) and idempotent. While the bulk copy runs, a journal pass
    replays entries but holds its checkpoint (``checkpoint_held`` says why); ``full`` refuses to run then.

    Returns:
        The :class:`~vectormigrate.zerodowntime.sync.SyncResult` as JSON, plus ``lag`` (journal entries and ids
        not synced yet) and the migration's ``phase``. ``status`` is ``failed`` (with ``error``) when a terminal
        error stopped the pass; the checkpoint then marks how far it got.
    """
    row, spec, plan = _load(store, migration_id, source_api_key, target_api_key)
    with MigrationLock(store.path, f"{migration_id}.sync", purpose="sync"), _open_pair(spec, connectors) as conns:
        return _run_sync(store, row, spec, plan, conns, full=full, journal=journal, batch_size=batch_size,
                         prune=prune, stop=stop, on_progress=on_progress)


# -- cutover --------------------------------------------------------------------------------------------------------
def _validate(store: StateStore, migration_id: str, spec: MigrationSpec, plan: MigrationPlan,
              options: ValidationOptions, connectors: Connectors | None, keys: tuple[str | None, str | None]
              ) -> ValidationReport:
    if connectors is None:
        return service_validate(migration_id, store, options, source_api_key=keys[0], target_api_key=keys[1])
    # Same as service.validate, on the connectors the caller holds (an in-process engine admits one client).
    report = Validator(connectors[0], spec.source.index, connectors[1], plan, options).run()
    store.add_report(migration_id, "validation", report.passed, report.to_json())
    return report


def _pick_alias(tgt: Aliasable, conn: Connector, spec: MigrationSpec, row: MigrationRow,
                alias: str | None) -> tuple[str | None, str | None]:
    """The alias to point (or None) and, when there is none, why."""
    name = alias or (row.spec.get("dual_write") or {}).get("alias")
    explicit = name is not None
    if name is None:
        if spec.source.index == spec.target.index:
            return None, ("the target collection already has the source collection's name; pass --alias NAME to "
                          "read through an alias")
        name = spec.source.index
    if tgt.resolve_alias(name) is None and conn.exists(name):
        if explicit:
            msg = f"{spec.target.type} already has a collection named {name!r}; an alias cannot take its name"
            raise ConfigError(msg, hint="pass another --alias NAME")
        return None, (f"{spec.target.type} has a collection named {name!r} (the source collection's name), so no "
                      "alias can take it; pass --alias NAME to read through an alias")
    return name, None


def _manual_steps(spec: MigrationSpec, plan: MigrationPlan, read_as: str) -> list[str]:
    where = spec.target.url or "(its default location)"
    steps = [f"point the application's reads at {spec.target.type} {where}, collection {read_as!r}"]
    if plan.id_strategy == "uuid5":
        steps.append(f"ids changed: look records up by metadata field {plan.id_field!r} (the original id) or by "
                     "the UUIDv5 the plan derives from it")
    if plan.namespace_strategy == "metadata_field":
        steps.append(f"namespaces are a metadata field now: filter on {plan.namespace_field!r} instead of "
                     "passing a namespace")
    steps.append("keep writing through the dual-writer (the source stays the truth, and switching reads back is a "
                 "rollback without data loss) until the application writes to the target directly; run "
                 f"`vectormigrate sync {spec.migration_id}` once more after that switch")
    return steps


def cutover_migration(
    migration_id: str,
    store: StateStore,
    *,
    alias: str | None = None,
    full_sync: bool = False,
    validation: ValidationOptions | None = None,
    attempts: int = 3,
    journal: str | None = None,
    source_api_key: str | None = None,
    target_api_key: str | None = None,
    connectors: Connectors | None = None,
) -> dict[str, Any]:
    """Final sync, validation, then the switch.

    1. The bulk copy must have completed.
    2. A sync pass (the journal; ``full_sync``: a full comparison; neither when no journal is registered).
    3. Validation (default: counts and a 1,000-record sample). Writes that land between the sync and the
       check can make it fail, so sync + validation are tried ``attempts`` times; if it still fails, nothing
       is switched and :class:`~vectormigrate.errors.ValidationFailed` names the differences.
    4. The switch: where the target connector has aliases, ``alias`` (default: the registered alias, else the
       source collection's name when the target has no collection of that name) is pointed at the target
       collection atomically. Otherwise the result lists what to switch by hand.

    Returns:
        ``switch`` (``method``: ``alias`` or ``manual``, the alias and the collection it pointed to before),
        ``instructions``, the ``syncs`` and ``validation`` summaries, and the ``lag`` left.
    """
    row, spec, plan = _load(store, migration_id, source_api_key, target_api_key)
    if row.status != "completed":
        msg = f"the bulk copy of migration {migration_id!r} is {row.status}; cutover needs a finished copy"
        raise StateError(msg, hint=f"finish it with `vectormigrate resume {migration_id}`, then sync and cut over")
    options = validation or ValidationOptions(sample_size=1000)
    has_journal = journal is not None or journal_location(row) is not None
    notes: list[str] = []
    if not full_sync and not has_journal:
        notes.append("no journal is registered and --full-sync was not given: no catch-up before validation (right "
                     "only when nothing wrote to the source since the copy)")
    syncs: list[dict[str, Any]] = []
    report: ValidationReport | None = None
    keys = (source_api_key, target_api_key)
    with MigrationLock(store.path, f"{migration_id}.sync", purpose="cutover"):
        for _ in range(max(1, attempts)):
            if full_sync or has_journal:
                with _open_pair(spec, connectors) as conns:
                    syncs.append(_run_sync(store, store.get(migration_id), spec, plan, conns, full=full_sync,
                                           journal=journal, batch_size=None, prune=True, stop=None,
                                           on_progress=None))
                if syncs[-1]["status"] != "completed":
                    err = syncs[-1].get("error") or {}
                    msg = f"the final sync of migration {migration_id!r} failed: {err.get('message', 'stopped')}"
                    raise StateError(msg, hint="fix the cause and run `vectormigrate cutover` again (nothing was "
                                     "switched)", migration_id=migration_id)
            report = _validate(store, migration_id, spec, plan, options, connectors, keys)
            if report.passed:
                break
        assert report is not None  # noqa: S101 - the loop runs at least once
        if not report.passed:
            summary = report.summary
            store.add_event(migration_id, "cutover_refused", {"validation": summary})
            first = report.mismatches[0] if report.mismatches else None
            detail = f"; first: record {first.record_id!r} {first.field}: {first.detail}" if first else ""
            counts = [c for c in report.counts if not c["match"]]
            if counts:
                detail += f"; counts differ: {counts[:3]}"
            msg = f"validation failed, nothing was switched: {report.mismatch_count} difference(s){detail}"
            raise ValidationFailed(msg, hint=f"`vectormigrate sync {migration_id}` (or `--full`) and `vectormigrate "
                                   f"validate {migration_id} --full` show and repair them; then cut over again",
                                   summary=summary, mismatches=[m.to_json() for m in report.mismatches[:20]])
        store.update(migration_id, phase="validated")
        switch, instructions = _switch(store, migration_id, row, spec, plan, connectors, alias)
        store.update(migration_id, phase="cut_over")
        store.add_event(migration_id, "cutover", {"switch": switch})
    lag = _lag(store, store.get(migration_id), journal)
    return {"migration_id": migration_id, "phase": "cut_over", "switch": switch, "instructions": instructions,
            "notes": notes, "syncs": syncs, "validation": report.summary, "lag": lag}


def _switch(store: StateStore, migration_id: str, row: MigrationRow, spec: MigrationSpec, plan: MigrationPlan,
            connectors: Connectors | None, alias: str | None) -> tuple[dict[str, Any], list[str]]:
    collection = plan.target_schema.name
    with ExitStack() as stack:
        if connectors is not None:
            tgt = connectors[1]
        else:
            tgt = open_connector(spec.target.type, spec.target.config())
            stack.callback(tgt.close)
        why = f"{spec.target.type} has no collection aliases"
        if isinstance(tgt, Aliasable):
            name, why_not = _pick_alias(tgt, tgt, spec, row, alias)
            if name is not None:
                previous = tgt.point_alias(name, collection)
                switch = {"method": "alias", "alias": name, "collection": collection, "previous": previous}
                return switch, _manual_steps(spec, plan, name)
            why = why_not or why
        elif alias:
            msg = f"{spec.target.type} has no collection aliases, so --alias {alias} cannot be pointed"
            raise ConfigError(msg, hint="drop --alias: cutover then lists what to switch by hand")
    return {"method": "manual", "collection": collection, "reason": why}, _manual_steps(spec, plan, collection)


# -- status ---------------------------------------------------------------------------------------------------------
def _lag(store: StateStore, row: MigrationRow, journal: str | None = None) -> dict[str, Any] | None:
    if journal is None and journal_location(row) is None:
        return None
    try:
        jrn = open_registered_journal(row, journal)
    except VectorMigrateError as exc:
        return {"error": exc.message}
    try:
        ckpt = store.checkpoint(row.migration_id, SYNC_KIND)
        return jrn.lag(row.migration_id, ckpt.batch_seq if ckpt else 0).to_json()
    except VectorMigrateError as exc:
        return {"error": exc.message}
    finally:
        jrn.close()


def status_section(store: StateStore, migration_id: str) -> dict[str, Any] | None:
    """The zero-downtime part of ``status`` (``None`` for a migration that never dual-wrote or synced).

    ``phase`` is one of: dual-write started, copying, catching up, in sync, validated, cut over; ``lag`` counts
    journaled entries (and distinct ids) that no sync has copied yet.
    """
    row = store.get(migration_id)
    dw = row.spec.get("dual_write")
    ckpt = store.checkpoint(migration_id, SYNC_KIND)
    full = store.checkpoint(migration_id, FULL_KIND)
    events = list(reversed(store.events(migration_id, limit=200)))
    last_sync = next((e["data"] for e in events if e["kind"] == "sync"), None)
    if dw is None and ckpt is None and full is None and last_sync is None and row.phase not in _OWN_PHASES:
        return None
    phase = row.phase or "dual_write"
    if row.status in ("in_progress", "stopped", "failed", "interrupted") and phase not in ("validated", "cut_over"):
        phase = "copying"
    label = _PHASE_LABEL.get(phase, phase)
    return {
        "phase": label,
        "journal": (dw or {}).get("journal"),
        "coverage": (dw or {}).get("coverage"),
        "lag": _lag(store, row),
        "sync_checkpoint": {"seq": ckpt.batch_seq, "updated_at": ckpt.updated_at} if ckpt else None,
        "full_sync_in_progress": full is not None,
        "last_sync": last_sync,
        "cutover": next((e["data"] for e in events if e["kind"] == "cutover"), None),
    }
