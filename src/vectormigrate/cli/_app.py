"""What every command shares: the state database option, output (rich for people, JSON for programs),
progress rendering, and turning errors into a message, a hint and an exit code."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.markup import escape as esc
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vectormigrate.errors import VectorMigrateError
from vectormigrate.pipeline.runner import Progress as RunProgress
from vectormigrate.state.store import StateStore

__all__ = [
    "emit_json",
    "err_console",
    "handle_errors",
    "open_store",
    "out_console",
    "progress_renderer",
    "state_db_option",
]

P = ParamSpec("P")
R = TypeVar("R")

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

state_db_option = click.option(
    "--state-db", type=click.Path(dir_okay=False), envvar="VECTORMIGRATE_STATE_DB", default=None,
    help="State database (default: $VECTORMIGRATE_STATE_DB, else ~/.local/state/vectormigrate/state.db).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def open_store(path: str | None) -> StateStore:
    """The state database named by ``--state-db`` / the environment / the default."""
    return StateStore(path)


def emit_json(doc: Any) -> None:
    """One JSON document (or JSON line) on stdout."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def handle_errors(as_json_param: str = "as_json") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn a VectorMigrateError into a readable message (or a JSON error) and its exit code."""

    def deco(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except VectorMigrateError as exc:
                if kwargs.get(as_json_param):
                    emit_json({"event": "error"} | exc.attrs())
                else:
                    err_console.print(f"[bold red]error:[/] {esc(exc.message)}", soft_wrap=True)
                    if exc.hint:
                        err_console.print(f"[yellow]hint:[/] {esc(exc.hint)}", soft_wrap=True)
                sys.exit(exc.exit_code)
            except KeyboardInterrupt:
                err_console.print("[yellow]interrupted[/]: the checkpoint is safe; `vectormigrate resume ID` continues")
                sys.exit(130)

        return wrapper

    return deco


@contextmanager
def progress_renderer(as_json: bool, label: str) -> Iterator[Callable[[RunProgress], None]]:
    """A rich progress bar on a terminal (stderr), JSON lines with ``--json``, quiet otherwise."""
    if as_json:
        def to_json(p: RunProgress) -> None:
            emit_json({"event": "progress", "migration_id": p.migration_id, **p.counters.as_dict(),
                       "total_records": p.total_records, "elapsed_s": round(p.elapsed_s, 3),
                       "records_per_s": round(p.rate, 1)})
        yield to_json
        return
    if not err_console.is_terminal:
        yield lambda p: None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]:>8.0f} rec/s"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=err_console, transient=False) as bar:
        task = bar.add_task(label, total=None, rate=0.0)

        def update(p: RunProgress) -> None:
            bar.update(task, completed=p.counters.records_read, total=p.total_records, rate=p.rate)

        yield update
