"""The ``vectormigrate`` command: thin adapters over :mod:`vectormigrate.service`."""

from __future__ import annotations

import click

from vectormigrate import __version__
from vectormigrate.cli.connectors_cmd import connectors
from vectormigrate.cli.demo_cmd import demo
from vectormigrate.cli.migrate_cmd import migrate, plan, resume
from vectormigrate.cli.rollback_cmd import rollback
from vectormigrate.cli.serve_cmd import mcp_cmd, serve
from vectormigrate.cli.status_cmd import list_cmd, status
from vectormigrate.cli.sync_cmd import cutover, dual_write, sync
from vectormigrate.cli.validate_cmd import validate

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="vectormigrate")
def cli() -> None:
    """Move vector data between vector databases, resumably, and prove it.

    Start with `vectormigrate demo`, then `vectormigrate plan ...` and `vectormigrate migrate ID ...`.
    """


for command in (migrate, resume, status, list_cmd, plan, validate, rollback, connectors, demo, serve, mcp_cmd,
                dual_write, sync, cutover):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli()
