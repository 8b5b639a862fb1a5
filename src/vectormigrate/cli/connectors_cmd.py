"""``connectors``: which databases this install can talk to, their options and how to install the rest."""

from __future__ import annotations

import click
from rich.markup import escape as esc

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
    for r in rows:
        if not r["installed"]:
            out_console.print(f"[bold]{r['type']}[/] - {esc(str(r['summary']))}")
            out_console.print(f"  [red]not installed[/]: {esc(str(r['install']))}\n")
            continue
        out_console.print(f"[bold]{r['type']}[/] - {esc(str(r['summary']))}")
        ids = ", ".join(r["id_kinds"])  # type: ignore[arg-type]
        out_console.print(f"  ids: {ids}; named vectors: {'yes' if r['named_vectors'] else 'no'}; "
                          f"sparse: {'yes' if r['sparse_vectors'] else 'no'}; namespaces: {r['namespace_model']}; "
                          f"max batch: {r['max_batch_records']} records", soft_wrap=True)
        for o in r.get("options", []):  # type: ignore[attr-defined]
            default = f" (default {o['default']})" if o["default"] is not None else ""
            out_console.print(f"  --*-option {o['name']}=...  {esc(o['help'])}{default}", soft_wrap=True)
        out_console.print("")
