"""``rollback``: undo a migration, restoring what the target held before it."""

from __future__ import annotations

import sys

import click

from vectormigrate.cli._app import emit_json, handle_errors, json_option, open_store, out_console, state_db_option
from vectormigrate.errors import StateError
from vectormigrate.service import rollback as run_rollback

__all__ = ["rollback"]


@click.command()
@click.argument("migration_id")
@click.option("--force", is_flag=True, help="Drop a target collection the migration created, without asking.")
@click.option("--workers", default=4, show_default=True, help="Concurrent delete/restore workers.")
@click.option("--source-api-key", default=None, help="Source API key (or $VECTORMIGRATE_SOURCE_API_KEY).")
@click.option("--target-api-key", default=None, help="Target API key (or $VECTORMIGRATE_TARGET_API_KEY).")
@state_db_option
@json_option
@handle_errors()
def rollback(migration_id: str, force: bool, workers: int, source_api_key: str | None, target_api_key: str | None,
             state_db: str | None, as_json: bool) -> None:
    """Undo a migration: drop the collection it created, or delete what it wrote and restore what it overwrote.

    Only records up to the last batch that may have been written are touched. Resumable: run it again after a
    crash or a stop.
    """
    store = open_store(state_db)
    try:
        result = run_rollback(migration_id, store, drop_confirmed=force, source_api_key=source_api_key,
                              target_api_key=target_api_key, workers=workers)
    except StateError as exc:
        if "drops it" not in exc.message or force or as_json or not sys.stdin.isatty():
            raise
        click.confirm(f"{exc.message}. Continue?", abort=True, err=True)
        result = run_rollback(migration_id, store, drop_confirmed=True, source_api_key=source_api_key,
                              target_api_key=target_api_key, workers=workers)
    if as_json:
        emit_json({"migration_id": migration_id} | result.to_json())
        return
    if result.dropped_collection:
        out_console.print(f"rolled back {migration_id}: dropped the target collection it had created")
    else:
        out_console.print(f"rolled back {migration_id}: {result.deleted:,} records deleted, {result.restored:,} "
                          f"restored to their pre-migration values, {result.untouched:,} never written and left "
                          f"as they were ({result.batches} batches)")
    if result.source_changed:
        out_console.print("[yellow]warning:[/] the source changed since the migration; ids it no longer has were "
                          "not rolled back")
    if result.status != "completed":
        out_console.print(f"rollback {result.status}; run `vectormigrate rollback {migration_id}` again to finish")
        sys.exit(130)
