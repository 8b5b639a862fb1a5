"""``validate``: prove a migration (counts, sample or full scan, ANN parity) and store the report."""

from __future__ import annotations

import sys

import click
from rich.markup import escape as esc
from rich.table import Table

from vectormigrate.cli._app import emit_json, handle_errors, json_option, open_store, out_console, state_db_option
from vectormigrate.pipeline.validate import ValidationOptions, ValidationReport
from vectormigrate.service import validate as run_validate

__all__ = ["print_report", "validate"]


@click.command()
@click.argument("migration_id")
@click.option("--sample-size", default=100, show_default=True, help="Random records compared field by field.")
@click.option("--full", is_flag=True, help="Compare every record (streaming, bounded memory) instead of a sample, "
              "and look for target records the source does not have.")
@click.option("--queries", default=0, show_default=True, help="ANN parity: this many query vectors sampled from "
              "the data, searched on both sides.")
@click.option("--top-k", default=10, show_default=True, help="k of recall@k for --queries.")
@click.option("--min-cosine", default=0.999, show_default=True, help="Lowest cosine similarity a vector copy may have.")
@click.option("--min-recall", type=float, default=None,
              help="Fail when mean recall@k is below this (default: report recall without judging it).")
@click.option("--seed", type=int, default=None, help="Random seed for the sample (repeatable checks).")
@click.option("--source-api-key", default=None, help="Source API key (or $VECTORMIGRATE_SOURCE_API_KEY).")
@click.option("--target-api-key", default=None, help="Target API key (or $VECTORMIGRATE_TARGET_API_KEY).")
@state_db_option
@json_option
@handle_errors()
def validate(migration_id: str, sample_size: int, full: bool, queries: int, top_k: int, min_cosine: float,
             min_recall: float | None, seed: int | None, source_api_key: str | None, target_api_key: str | None,
             state_db: str | None, as_json: bool) -> None:
    """Check the target against the source; exit 0 only when everything passed."""
    options = ValidationOptions(sample_size=sample_size, full=full, queries=queries, top_k=top_k,
                                min_cosine=min_cosine, min_recall=min_recall, seed=seed)
    report = run_validate(migration_id, open_store(state_db), options, source_api_key=source_api_key,
                          target_api_key=target_api_key)
    if as_json:
        emit_json({"migration_id": migration_id} | report.to_json())
    else:
        print_report(migration_id, report)
    if not report.passed:
        sys.exit(4)


def print_report(migration_id: str, report: ValidationReport) -> None:
    """Counts table, sample/full summary, the worst offenders, ANN recall, verdict."""
    table = Table("namespace", "source", "target", "match", title=f"validation of {migration_id}")
    for c in report.counts:
        target = "n/a" if c["target"] is None else f"{c['target']:,}"
        table.add_row(c["namespace"] or "(all)", f"{c['source']:,}", target,
                      "[green]yes[/]" if c["match"] else "[red]NO[/]")
    out_console.print(table)
    if report.sample is not None:
        s = report.sample
        out_console.print(f"sample: {s['checked']} records compared, {s['mismatched_records']} differ "
                          f"(vectors by cosine >= {s['min_cosine']}, metadata after the plan's coercions)")
    if report.full is not None:
        f = report.full
        out_console.print(f"full scan: {f['checked']:,} records compared, {f['mismatched_records']:,} differ, "
                          f"{f['extra_in_target']:,} extra in the target")
    if report.ann is not None:
        a = report.ann
        if "skipped" in a:
            out_console.print(f"ANN parity: skipped ({esc(a['skipped'])})")
        else:
            verdict = "" if "passed" not in a else (" [green]ok[/]" if a["passed"] else " [red]below minimum[/]")
            out_console.print(f"ANN parity: recall@{a['k']} mean {a['recall_mean']:.4f}, min {a['recall_min']:.4f} "
                              f"over {a['queries']} queries{verdict}")
    if report.mismatches:
        shown = len(report.mismatches)
        first = f", first {shown}" if report.mismatch_count > shown else ""
        worst = Table("record", "field", "source", "target", "detail",
                      title=f"differences ({report.mismatch_count}{first})")
        for m in report.mismatches[:20]:
            worst.add_row(esc(str(m.record_id)), esc(m.field), esc(repr(m.source))[:60], esc(repr(m.target))[:60],
                          esc(m.detail))
        out_console.print(worst)
    out_console.print("[bold green]validation passed[/]" if report.passed else "[bold red]validation FAILED[/]")
