"""The ``--source-*`` / ``--target-*`` flags of VectorMigrate's Go README, and their parsing."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from vectormigrate.errors import ConfigError
from vectormigrate.pipeline.plan import PlanOptions
from vectormigrate.service import Endpoint

__all__ = ["endpoint_options", "make_endpoint", "plan_options", "plan_options_from"]

F = TypeVar("F", bound=Callable[..., Any])


def endpoint_options(side: str, *, required: bool = True) -> Callable[[F], F]:
    """Add ``--{side}-type/-url/-index/-api-key/-option`` to a command."""

    def deco(fn: F) -> F:
        opts = [
            click.option(f"--{side}-type", required=required, help=f"{side.title()} database type "
                         "(`vectormigrate connectors` lists them)."),
            click.option(f"--{side}-url", default=None, help="http(s)://host:port for a server; otherwise a local "
                         "path (milvus-lite .db file, Qdrant folder, Parquet folder)."),
            click.option(f"--{side}-index", required=required, help=f"{side.title()} collection / index / class."),
            click.option(f"--{side}-api-key", default=None, help=f"API key (or ${'VECTORMIGRATE_' + side.upper()}"
                         "_API_KEY). Never stored or printed."),
            click.option(f"--{side}-option", f"{side}_option", multiple=True, metavar="KEY=VALUE",
                         help="Connector-specific setting, repeatable (see `vectormigrate connectors`)."),
        ]
        for opt in reversed(opts):
            fn = opt(fn)
        return fn

    return deco


def make_endpoint(side: str, kw: dict[str, Any]) -> Endpoint:
    """Build an :class:`Endpoint` from the parsed flags (and the API-key environment variable)."""
    options: dict[str, str] = {}
    for raw in kw.get(f"{side}_option") or ():
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            msg = f"--{side}-option {raw!r} is not KEY=VALUE"
            raise ConfigError(msg, hint=f"write it as --{side}-option name=value")
        options[key.strip()] = value
    api_key = kw.get(f"{side}_api_key") or os.environ.get(f"VECTORMIGRATE_{side.upper()}_API_KEY") or None
    return Endpoint(type=kw[f"{side}_type"], index=kw[f"{side}_index"], url=kw.get(f"{side}_url"),
                    api_key=api_key, options=options)


def plan_options(fn: F) -> F:
    """Flags that shape the plan."""
    for opt in reversed([
        click.option("--id-field", default="_source_id", show_default=True,
                     help="Metadata field that keeps the original id when the target cannot hold it."),
        click.option("--namespace-field", default="_namespace", show_default=True,
                     help="Metadata field that keeps the namespace when the target has none."),
        click.option("--namespace-strategy", type=click.Choice(["native", "metadata_field", "drop"]), default=None,
                     help="Where source namespaces/partitions go (default: native when the target has them)."),
    ]):
        fn = opt(fn)
    return fn


def plan_options_from(kw: dict[str, Any]) -> PlanOptions:
    """The :class:`PlanOptions` of the parsed flags."""
    return PlanOptions(id_field=kw["id_field"], namespace_field=kw["namespace_field"],
                       namespace_strategy=kw["namespace_strategy"])
