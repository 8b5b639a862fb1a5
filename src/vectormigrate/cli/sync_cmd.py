"""``dual-write``, ``sync`` and ``cutover``: the zero-downtime procedure (``docs/zero-downtime.md``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape as esc

from vectormigrate.cli._app import emit_json, handle_errors, json_option, open_store, out_console, state_db_option
from vectormigrate.cli._endpoints import endpoint_options, make_endpoint, plan_options, plan_options_from
from vectormigrate.errors import ValidationFailed
from vectormigrate.pipeline.validate import ValidationOptions
from vectormigrate.service import MigrationSpec
from vectormigrate.zerodowntime.service import cutover_migration, start_dual_write, sync_migration

__all__ = ["cutover", "dual_write", "sync"]

_journal_option = click.option(
    "--journal", default=None, envvar="VECTORMIGRATE_JOURNAL_URL",
    help="The journal, when not the one registered by `dual-write` (or $VECTORMIGRATE_JOURNAL_URL, which may "
    "carry a PostgreSQL password).")
_keys = [
    click.option("--source-api-key", default=None, help="Source API key (or $VECTORMIGRATE_SOURCE_API_KEY)."),
    click.option("--target-api-key", default=None, help="Target API key (or $VECTORMIGRATE_TARGET_API_KEY)."),
]


def _with_keys(fn: Any) -> Any:
    for opt in reversed(_keys):
        fn = opt(fn)
    return fn


@click.command(name="dual-write")
@click.argument("migration_id")
@endpoint_options("source")
@endpoint_options("target")
@click.option("--journal", required=True, help="Where the application journals touched ids: a SQLite file path "
              "the application and `sync` both reach, or postgresql://user@host/db when several hosts write.")
@click.option("--alias", default=None, help="Alias that `cutover` points at the target collection.")
@click.option("--app-config", type=click.Path(dir_okay=False), default=None,
              help="Also write the application's dual-write config (plan, endpoints, journal; no secrets) to this "
              "JSON file, for DualWriter.from_config(FILE) on hosts that cannot reach the state database.")
@click.option("--batch-size", default=100, show_default=True, help="Records per read batch of the bulk copy.")
@click.option("--max-retries", default=3, show_default=True, help="Retries of a transient failure.")
@click.option("--workers", default=2, show_default=True, help="Concurrent writers of the bulk copy.")
@click.option("--if-exists", type=click.Choice(["fail", "append"]), default="append", show_default=True,
              help="What to do when the target collection exists.")
@plan_options
@state_db_option
@json_option
@handle_errors()
def dual_write(migration_id: str, journal: str, alias: str | None, app_config: str | None, state_db: str | None,
               as_json: bool, **kw: Any) -> None:
    """Start a zero-downtime migration: plan it, create the target, register the dual-write journal.

    Nothing is copied yet. Next: the application writes through DualWriter.for_migration(ID) or
    DualWriter.from_config(FILE) (or an SDK adapter), then `vectormigrate resume ID` runs the bulk copy,
    `vectormigrate sync ID` catches up and `vectormigrate cutover ID` switches.
    """
    spec = MigrationSpec(migration_id=migration_id, source=make_endpoint("source", kw),
                         target=make_endpoint("target", kw), batch_size=kw["batch_size"],
                         max_retries=kw["max_retries"], workers=kw["workers"], if_exists=kw["if_exists"],
                         plan_options=plan_options_from(kw), validate_every=0)
    doc = start_dual_write(spec, open_store(state_db), journal=journal, alias=alias)
    if app_config:
        Path(app_config).write_text(json.dumps(doc["app_config"], ensure_ascii=False, indent=1), encoding="utf-8")
    if as_json:
        emit_json(doc)
        return
    out_console.print(f"[bold]{esc(migration_id)}[/]: dual-write journal {esc(doc['journal'])} "
                      f"({'target created' if doc['created_target'] else 'existing target'}, coverage "
                      f"{doc['coverage']})")
    if app_config:
        out_console.print(f"application config written to {esc(app_config)}")
    for w in doc["warnings"]:
        out_console.print(f"[yellow]warning:[/] {esc(w)}", soft_wrap=True)
    out_console.print("next:")
    for i, step in enumerate(doc["next_steps"], 1):
        out_console.print(f"  {i}. {esc(step)}", soft_wrap=True)


@click.command()
@click.argument("migration_id")
@click.option("--full", is_flag=True, help="Compare both sides record by record and repair every difference "
              "(for applications that cannot use the dual-writer), instead of replaying the journal.")
@click.option("--batch-size", type=int, default=None, help="Journal entries (or records, with --full) per window "
              "(default: the migration's batch size, at least 100).")
@click.option("--keep-journal", is_flag=True, help="Do not delete synced entries from the journal.")
@_journal_option
@_with_keys
@state_db_option
@json_option
@handle_errors()
def sync(migration_id: str, full: bool, batch_size: int | None, keep_journal: bool, journal: str | None,
         source_api_key: str | None, target_api_key: str | None, state_db: str | None, as_json: bool) -> None:
    """Copy every journaled change since the last sync from the source to the target (resumable, idempotent).

    While the bulk copy still runs, entries are replayed but the checkpoint does not move (a late write of the
    copy could undo them); the first sync after the copy completes replays them again and moves it.
    """
    doc = sync_migration(migration_id, open_store(state_db), full=full, journal=journal, batch_size=batch_size,
                         prune=not keep_journal, source_api_key=source_api_key, target_api_key=target_api_key)
    if as_json:
        emit_json(doc)
    else:
        _print_sync(doc)
    if doc["status"] != "completed":
        sys.exit(1 if doc["status"] == "failed" else 130)


def _print_sync(doc: dict[str, Any]) -> None:
    if doc["mode"] == "full":
        out_console.print(f"full sync {doc['status']}: {doc['checked']:,} records compared, {doc['missing']:,} "
                          f"missing and {doc['different']:,} different rewritten, {doc['extra_in_target']:,} extra "
                          f"deleted from the target")
        if doc.get("foreign_kept"):
            out_console.print(f"  kept {doc['foreign_kept']:,} target records that predate the migration")
    else:
        out_console.print(f"sync {doc['status']}: {doc['entries']:,} journal entries replayed ({doc['upserted']:,} "
                          f"records copied, {doc['deleted']:,} deleted), checkpoint {doc['checkpoint_before']} -> "
                          f"{doc['checkpoint_after']} of {doc['journal_head']}")
        if doc.get("checkpoint_held"):
            out_console.print(f"  [yellow]checkpoint held:[/] {esc(doc['checkpoint_held'])}", soft_wrap=True)
        lag = doc.get("lag") or {}
        out_console.print(f"  lag: {lag.get('entries', '?')} entries ({lag.get('ids', '?')} ids) not synced yet; "
                          f"phase {doc.get('phase')}")
    if doc.get("dead_letters"):
        out_console.print(f"  [yellow]{doc['dead_letters']} record(s) the target cannot hold:[/] "
                          f"{esc(str(doc.get('dead_letter_file')))}")
    if doc.get("error"):
        out_console.print(f"  [red]error:[/] {esc(doc['error'].get('message', ''))}", soft_wrap=True)
        if doc["error"].get("hint"):
            out_console.print(f"  [yellow]hint:[/] {esc(doc['error']['hint'])}", soft_wrap=True)


@click.command()
@click.argument("migration_id")
@click.option("--alias", default=None, help="Alias to point at the target collection (default: the one given to "
              "`dual-write`, else the source collection's name when the target has no collection of that name).")
@click.option("--full-sync", is_flag=True, help="Final catch-up by full comparison instead of the journal.")
@click.option("--sample-size", default=1000, show_default=True, help="Records compared by the validation.")
@click.option("--full-validation", is_flag=True, help="Validate every record (and look for extra ones).")
@click.option("--min-cosine", default=0.999, show_default=True, help="Lowest cosine similarity a vector copy may have.")
@click.option("--attempts", default=3, show_default=True, help="Sync + validation rounds before giving up (writes "
              "landing between the sync and the check can fail one round).")
@_journal_option
@_with_keys
@state_db_option
@json_option
@handle_errors()
def cutover(migration_id: str, alias: str | None, full_sync: bool, sample_size: int, full_validation: bool,
            min_cosine: float, attempts: int, journal: str | None, source_api_key: str | None,
            target_api_key: str | None, state_db: str | None, as_json: bool) -> None:
    """Final sync, validation, then switch: point an alias at the target, or print what to switch.

    Nothing is switched when validation fails (exit code 4).
    """
    options = ValidationOptions(sample_size=sample_size, full=full_validation, min_cosine=min_cosine)
    try:
        doc = cutover_migration(migration_id, open_store(state_db), alias=alias, full_sync=full_sync,
                                validation=options, attempts=attempts, journal=journal,
                                source_api_key=source_api_key, target_api_key=target_api_key)
    except ValidationFailed as exc:
        if not as_json:
            for m in (exc.fields.get("mismatches") or [])[:10]:
                out_console.print(f"  {esc(str(m.get('record_id')))} {esc(str(m.get('field')))}: "
                                  f"{esc(str(m.get('detail')))}", soft_wrap=True)
        raise
    if as_json:
        emit_json(doc)
        return
    sw = doc["switch"]
    if sw["method"] == "alias":
        was = f" (it pointed to {sw['previous']!r})" if sw.get("previous") else ""
        out_console.print(f"[bold green]cut over[/]: alias {sw['alias']!r} now points to {sw['collection']!r}{was}")
    else:
        out_console.print(f"[bold green]validated[/]; switch by hand ({esc(sw['reason'])}):")
    for step in doc["instructions"]:
        out_console.print(f"  - {esc(step)}", soft_wrap=True)
    for note in doc["notes"]:
        out_console.print(f"[yellow]note:[/] {esc(note)}", soft_wrap=True)
    lag = doc.get("lag") or {}
    if lag.get("entries"):
        out_console.print(f"{lag['entries']} journal entries arrived during cutover: run `vectormigrate sync "
                          f"{migration_id}`")
