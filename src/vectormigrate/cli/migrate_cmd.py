"""``migrate``, ``resume`` and ``plan``."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

import click
from rich.markup import escape as esc
from rich.table import Table

from vectormigrate.cli._app import (
    emit_json,
    err_console,
    handle_errors,
    json_option,
    open_store,
    out_console,
    progress_renderer,
    state_db_option,
)
from vectormigrate.cli._endpoints import endpoint_options, make_endpoint, plan_options, plan_options_from
from vectormigrate.errors import ConfigError
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.service import MigrationOutcome, MigrationSpec, make_plan
from vectormigrate.service import migrate as run_migrate
from vectormigrate.service import resume as run_resume

__all__ = ["migrate", "plan", "print_plan", "resume"]

EXIT_DEAD_LETTERS = 5


def _stop_on_sigterm() -> threading.Event:
    """SIGTERM stops the run gracefully: in-flight batches finish, the checkpoint is committed."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
    return stop


@click.command()
@click.argument("migration_id")
@endpoint_options("source")
@endpoint_options("target")
@click.option("--batch-size", default=100, show_default=True, help="Records per read batch (writes are also cut "
              "under each target's record and byte limits).")
@click.option("--max-retries", default=3, show_default=True, help="Retries of a transient failure (429, 5xx, timeout).")
@click.option("--workers", default=2, show_default=True, help="Concurrent writers.")
@click.option("--validate-every", default=10, show_default=True,
              help="Every N batches, read a sample back from the target and compare it with the source; a failed "
              "sample stops the run with the evidence (0: off).")
@click.option("--if-exists", type=click.Choice(["fail", "append", "recreate"]), default="append", show_default=True,
              help="What to do when the target collection exists (recreate drops it: asks for confirmation).")
@click.option("--yes", is_flag=True, help="Confirm --if-exists recreate without asking.")
@click.option("--dead-letter", default=None, type=click.Path(dir_okay=False),
              help="JSONL file for records that cannot be written (default: next to the state database).")
@click.option("--dry-run", is_flag=True, help="Read, plan and transform everything; write nothing; report.")
@plan_options
@state_db_option
@json_option
@handle_errors()
def migrate(migration_id: str, state_db: str | None, as_json: bool, **kw: Any) -> None:
    """Copy a collection from a source to a target database (Go README flags)."""
    spec = MigrationSpec(
        migration_id=migration_id, source=make_endpoint("source", kw), target=make_endpoint("target", kw),
        batch_size=kw["batch_size"], max_retries=kw["max_retries"], workers=kw["workers"],
        if_exists=kw["if_exists"], plan_options=plan_options_from(kw), dead_letter_path=kw["dead_letter"],
        validate_every=kw["validate_every"],
    )
    if spec.if_exists == "recreate" and not kw["yes"] and not kw["dry_run"]:
        if not sys.stdin.isatty():
            msg = f"--if-exists recreate drops target collection {spec.target.index!r}"
            raise ConfigError(msg, hint="add --yes to confirm")
        click.confirm(f"Drop and recreate target collection {spec.target.index!r}?", abort=True, err=True)
    store = open_store(state_db)
    stop = _stop_on_sigterm()

    def started(p: MigrationPlan) -> None:
        if as_json:
            emit_json({"event": "plan", "migration_id": migration_id} | p.to_json())
        else:
            for w in p.warnings:
                err_console.print(f"[yellow]warning:[/] {esc(w)}", soft_wrap=True)

    with progress_renderer(as_json, f"{'dry run ' if kw['dry_run'] else ''}{migration_id}") as on_progress:
        outcome = run_migrate(spec, store, dry_run=kw["dry_run"], on_progress=on_progress, stop=stop,
                              on_started=started)
    _finish(outcome, as_json)


@click.command()
@click.argument("migration_id")
@click.option("--source-api-key", default=None, help="Source API key (or $VECTORMIGRATE_SOURCE_API_KEY).")
@click.option("--target-api-key", default=None, help="Target API key (or $VECTORMIGRATE_TARGET_API_KEY).")
@state_db_option
@json_option
@handle_errors()
def resume(migration_id: str, source_api_key: str | None, target_api_key: str | None, state_db: str | None,
           as_json: bool) -> None:
    """Continue a migration from its last checkpoint (after a crash, a stop or a failure)."""
    store = open_store(state_db)
    stop = _stop_on_sigterm()
    with progress_renderer(as_json, f"resume {migration_id}") as on_progress:
        outcome = run_resume(migration_id, store, source_api_key=source_api_key, target_api_key=target_api_key,
                             on_progress=on_progress, stop=stop)
    _finish(outcome, as_json)


def _finish(outcome: MigrationOutcome, as_json: bool) -> None:
    doc = outcome.to_json()
    r = outcome.result
    if as_json:
        emit_json({"event": "result"} | doc)
    else:
        verb = "would write" if outcome.dry_run else "wrote"
        colour = {"completed": "green", "stopped": "yellow"}.get(r.status, "red")
        out_console.print(
            f"[bold {colour}]{r.status}[/] {outcome.migration_id}: read {r.counters.records_read:,}, "
            f"{verb} {r.counters.records_written:,}, failed {r.counters.records_failed:,} records in "
            f"{r.elapsed_s:.1f}s ({r.rate:,.0f} records/s, {r.counters.retries} retries)", soft_wrap=True)
        if r.counters.records_failed:
            out_console.print(f"[yellow]{r.counters.records_failed} record(s) could not be written; each is listed "
                              f"with the reason and the fix in {outcome.dead_letter_path}[/]", soft_wrap=True)
        if r.error is not None:
            err_console.print(f"[bold red]error:[/] {esc(r.error.message)}", soft_wrap=True)
            if r.error.hint:
                err_console.print(f"[yellow]hint:[/] {esc(r.error.hint)}", soft_wrap=True)
            err_console.print(f"the checkpoint is safe: fix the cause, then `vectormigrate resume "
                              f"{outcome.migration_id}`", soft_wrap=True)
    if r.error is not None:
        sys.exit(r.error.exit_code)
    if r.status == "stopped":
        sys.exit(130)
    if r.counters.records_failed:
        sys.exit(EXIT_DEAD_LETTERS)


@click.command()
@endpoint_options("source")
@click.option("--target-type", required=True, help="Target database type.")
@click.option("--target-url", default=None, help="Target URL or path (to check an existing collection).")
@click.option("--target-index", default=None, help="Target collection (default: the source's name).")
@click.option("--target-api-key", default=None, help="Target API key (or $VECTORMIGRATE_TARGET_API_KEY).")
@click.option("--target-option", "target_option", multiple=True, metavar="KEY=VALUE", help="Connector setting.")
@click.option("--if-exists", type=click.Choice(["fail", "append", "recreate"]), default="append", show_default=True)
@plan_options
@state_db_option
@json_option
@handle_errors()
def plan(state_db: str | None, as_json: bool, **kw: Any) -> None:
    """Show how a migration would map ids, vectors, namespaces and metadata, and every risk, writing nothing."""
    kw["target_index"] = kw["target_index"] or kw["source_index"]
    spec = MigrationSpec(migration_id="plan", source=make_endpoint("source", kw), target=make_endpoint("target", kw),
                         if_exists=kw["if_exists"], plan_options=plan_options_from(kw))
    result = make_plan(spec)
    if as_json:
        emit_json(result.to_json())
    else:
        print_plan(result)
    if result.errors:
        sys.exit(3)


def print_plan(p: MigrationPlan) -> None:
    """The plan as a table, then warnings and blocking errors."""
    src, tgt = p.source_schema, p.target_schema
    out_console.print(f"[bold]{p.source_type}[/] {src.name!r} ({src.count if src.count is not None else '?'} records)"
                      f" -> [bold]{p.target_type}[/] {tgt.name!r}"
                      f"{' (exists, ' + str(p.target_count) + ' records)' if p.target_exists else ' (will be created)'}")
    table = Table("kind", "source", "target", "confidence", "conversion", "notes", show_lines=False)
    for m in p.field_mappings:
        table.add_row(m.kind, m.source_field, m.target_field, f"{m.confidence:.2f}", "yes" if m.conversion_needed
                      else "", m.notes)
    out_console.print(table)
    out_console.print(f"id strategy: {p.id_strategy}; namespaces: {p.namespace_strategy}; overall confidence "
                      f"{p.overall_confidence:.2f}")
    if p.overlapping_ids is not None:
        out_console.print(f"{p.overlapping_ids} source id(s) already exist in the target and would be overwritten")
    for w in p.warnings:
        out_console.print(f"[yellow]warning:[/] {esc(w)}", soft_wrap=True)
    for e in p.errors:
        out_console.print(f"[bold red]blocking:[/] {esc(e)}", soft_wrap=True)
