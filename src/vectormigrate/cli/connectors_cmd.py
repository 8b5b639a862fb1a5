"""``connectors``: which databases this install can talk to, their options and how to install the rest."""

from __future__ import annotations

import click
from rich.table import Table

from vectormigrate.cli._app import emit_json, json_option, out_console
from vectormigrate.connectors.registry import available

__all__ = ["connectors"]


@click.command()
@json_option
def connectors(as_json: bool) -> None:
    """List connectors, whether their SDK is installed, their capabilities and options."""
    rows = available()
    if as_json:
        emit_json({"connectors": rows})
        return
    table = Table("type", "installed", "ids", "named/sparse", "namespaces", "options", "about")
    for r in rows:
        if r["installed"]:
            opts = ", ".join(str(o["name"]) for o in r.get("options", []))  # type: ignore[attr-defined]
            table.add_row(str(r["type"]), "yes", ",".join(r["id_kinds"]),  # type: ignore[arg-type]
                          f"{'yes' if r['named_vectors'] else 'no'}/{'yes' if r['sparse_vectors'] else 'no'}",
                          str(r["namespace_model"]), opts or "-", str(r["summary"]))
        else:
            table.add_row(str(r["type"]), f"[red]no[/]: {r['install']}", "", "", "", "", str(r["summary"]))
    out_console.print(table)
