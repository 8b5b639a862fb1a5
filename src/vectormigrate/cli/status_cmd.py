"""``status`` and ``list``."""

from __future__ import annotations

import click
from rich.markup import escape as esc
from rich.table import Table

from vectormigrate.cli._app import emit_json, handle_errors, json_option, open_store, out_console, state_db_option
from vectormigrate.service import list_json, status_json

__all__ = ["list_cmd", "status"]


@click.command()
@click.argument("migration_id")
@state_db_option
@json_option
@handle_errors()
def status(migration_id: str, state_db: str | None, as_json: bool) -> None:
    """Progress, counters, checkpoint and last error of one migration."""
    doc = status_json(open_store(state_db), migration_id)
    if as_json:
        emit_json(doc)
        return
    prog = doc["progress"]
    c = doc["counters"]
    out_console.print(f"[bold]{doc['migration_id']}[/]: {doc['status']}"
                      f"{' (' + doc['phase'] + ')' if doc['phase'] else ''}")
    out_console.print(f"  {doc['source']['type']} {doc['source']['index']!r} -> "
                      f"{doc['target']['type']} {doc['target']['index']!r}")
    out_console.print(f"  progress: {prog['migrated_records']:,} / {prog['total_records'] or '?'} records "
                      f"({prog['percentage']:.2f}%), {doc['batches_processed']} batches")
    out_console.print(f"  read {c['records_read']:,}, written {c['records_written']:,}, failed "
                      f"{c['records_failed']:,}, retries {c['retries']}")
    out_console.print(f"  started {doc['started_at'] or '-'}, ended {doc['ended_at'] or '-'}")
    if c["records_failed"]:
        out_console.print(f"  dead letters: {doc['dead_letter_file']}")
    if doc["last_validation"]:
        v = doc["last_validation"]
        out_console.print(f"  last validation: {'passed' if v.get('passed') else 'FAILED'} at {v.get('at')}")
    if doc["error"]:
        out_console.print(f"  [red]error:[/] {esc(doc['error'].get('message'))}", soft_wrap=True)
        if doc["error"].get("hint"):
            out_console.print(f"  [yellow]hint:[/] {esc(doc['error']['hint'])}", soft_wrap=True)
    if doc["status"] in ("interrupted", "failed", "stopped"):
        out_console.print(f"  continue with: vectormigrate resume {migration_id}")


@click.command(name="list")
@click.option("--status", "status_filter", default=None, help="Only migrations in this status (e.g. in_progress).")
@click.option("--limit", default=10, show_default=True)
@click.option("--offset", default=0, show_default=True)
@click.option("--sort-by", default="created_at", show_default=True,
              type=click.Choice(["created_at", "updated_at", "started_at", "ended_at", "migration_id", "status"]))
@click.option("--sort-order", default="desc", show_default=True, type=click.Choice(["asc", "desc"]))
@state_db_option
@json_option
@handle_errors()
def list_cmd(status_filter: str | None, limit: int, offset: int, sort_by: str, sort_order: str,
             state_db: str | None, as_json: bool) -> None:
    """Migrations in the state database, newest first."""
    doc = list_json(open_store(state_db), status=status_filter, limit=limit, offset=offset, sort_by=sort_by,
                    sort_order=sort_order)
    if as_json:
        emit_json(doc)
        return
    table = Table("migration", "status", "source -> target", "progress", "created")
    for m in doc["migrations"]:
        p = m["progress"]
        table.add_row(m["migration_id"], m["status"], f"{m['source_type']} -> {m['target_type']}",
                      f"{p['current']:,}/{p['total'] if p['total'] is not None else '?'} ({p['percent']:.1f}%)",
                      m["created_at"])
    out_console.print(table)
    out_console.print(f"{len(doc['migrations'])} of {doc['total']} shown (offset {offset})")
