"""``demo``: the whole job on embedded engines, no servers and no keys.

Builds a realistic collection in milvus-lite (a local file), migrates it into Qdrant's local mode (a folder)
through the same service the ``migrate`` command uses, and checks the result: counts per partition, and a
random sample of records compared vector by vector (cosine) and field by field.
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from pathlib import Path

import click
from rich.markup import escape as esc
from rich.table import Table

from vectormigrate.cli._app import emit_json, err_console, handle_errors, json_option, out_console, progress_renderer
from vectormigrate.connectors.base import Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.errors import ConfigError
from vectormigrate.model import RecordId
from vectormigrate.pipeline.compare import compare_record
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.service import Endpoint, MigrationSpec, migrate
from vectormigrate.state.store import StateStore

__all__ = ["demo"]

_COLLECTION = "docs"


@click.command()
@click.option("--workdir", default="./vectormigrate-demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the demo's databases and state (emptied first).")
@click.option("--records", default=3000, show_default=True, help="Records to create in Milvus.")
@click.option("--dim", default=384, show_default=True, help="Dense vector dimensions.")
@click.option("--sample", default=100, show_default=True, help="Records compared one by one after the copy.")
@click.option("--batch-size", default=500, show_default=True)
@json_option
@handle_errors()
def demo(workdir: str, records: int, dim: int, sample: int, batch_size: int, as_json: bool) -> None:
    """Milvus (milvus-lite file) -> Qdrant (local folder): create, migrate, check. No servers, no keys."""
    root = Path(workdir).resolve()
    if root.exists() and any(root.iterdir()) and not (root / ".vectormigrate-demo").exists():
        msg = f"{root} exists and was not made by `vectormigrate demo`"
        raise ConfigError(msg, hint="pass --workdir to an empty or new folder")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / ".vectormigrate-demo").write_text("made by vectormigrate demo; safe to delete\n")
    milvus_path, qdrant_path = root / "milvus.db", root / "qdrant"
    say = err_console.print if as_json else out_console.print

    say(f"[bold]1.[/] creating {records:,} records ({dim}-d dense + sparse vectors, rich metadata, partitions "
        f"'en' and 'fr') in milvus-lite at {milvus_path}")
    t0 = time.monotonic()
    schema = make_schema(_COLLECTION, dim=dim, id_kind="str", sparse=("keywords",), namespaces=("en", "fr"))
    with open_connector("milvus", Endpoint("milvus", _COLLECTION, url=str(milvus_path)).config()) as mil:
        mil.create_collection(schema)
        for batch in iter_batches(records, batch_size=1000, dim=dim, sparse=("keywords",), namespaces=("en", "fr"),
                                  seed=7):
            mil.write_batch(_COLLECTION, batch)
    seed_s = time.monotonic() - t0

    say(f"[bold]2.[/] migrating Milvus {_COLLECTION!r} -> Qdrant {_COLLECTION!r} at {qdrant_path}")
    store = StateStore(root / "state.db")
    spec = MigrationSpec(
        migration_id="demo", source=Endpoint("milvus", _COLLECTION, url=str(milvus_path)),
        target=Endpoint("qdrant", _COLLECTION, url=str(qdrant_path)), batch_size=batch_size,
    )
    with progress_renderer(as_json, "migrating") as on_progress:
        outcome = migrate(spec, store, on_progress=on_progress)
    result = outcome.result

    say(f"[bold]3.[/] checking: counts per partition, and {sample} random records field by field")
    transformer = Transformer(outcome.plan)
    # Qdrant has no partitions: the plan kept each record's partition in the `_namespace` payload field, and the
    # connector's namespace_field option counts by it.
    check_target = Endpoint("qdrant", _COLLECTION, url=str(qdrant_path),
                            options={"namespace_field": outcome.plan.namespace_field})
    with open_connector("milvus", spec.source.config()) as src, open_connector("qdrant", check_target.config()) as tgt:
        counts = {ns: (src.count(_COLLECTION, ns), tgt.count(_COLLECTION, ns)) for ns in ("en", "fr")}
        picked = _sample_ids(src, sample)
        mismatches = []
        for ns, ids in picked.items():
            wanted = {transformer.target_id(r.id): r for r in src.fetch(_COLLECTION, ids, ns)}
            got = {r.id: r for r in tgt.fetch(_COLLECTION, list(wanted))}
            for tid, rec in wanted.items():
                mismatches.extend(compare_record(rec, got.get(tid), transformer))
    checked = sum(len(v) for v in picked.values())
    counts_ok = all(a == b for a, b in counts.values())
    passed = counts_ok and not mismatches and result.status == "completed" and not result.counters.records_failed

    summary = {
        "status": result.status, "records_created": records, "seed_seconds": round(seed_s, 2),
        "records_read": result.counters.records_read, "records_written": result.counters.records_written,
        "records_failed": result.counters.records_failed, "seconds": round(result.elapsed_s, 2),
        "records_per_s": round(result.rate, 1), "counts": {k: {"milvus": a, "qdrant": b} for k, (a, b) in counts.items()},
        "sampled": checked, "mismatches": [m.to_json() for m in mismatches[:20]], "check_passed": passed,
        "plan_warnings": outcome.plan.warnings, "workdir": str(root),
        "state_db": str(store.path),
    }
    if as_json:
        emit_json(summary)
    else:
        table = Table("partition / namespace", "milvus", "qdrant", "match")
        for ns, (a, b) in counts.items():
            table.add_row(ns, f"{a:,}", f"{b:,}", "[green]yes[/]" if a == b else "[red]NO[/]")
        out_console.print(table)
        out_console.print(f"moved {result.counters.records_written:,} records in {result.elapsed_s:.1f}s "
                          f"({result.rate:,.0f} records/s, {result.counters.batches} batches, "
                          f"{result.counters.retries} retries)")
        for w in outcome.plan.warnings:
            out_console.print(f"[yellow]plan:[/] {esc(w)}", soft_wrap=True)
        out_console.print(f"sample: {checked} records compared (vectors by cosine >= 0.999, sparse vectors and "
                          f"metadata exactly): {len(mismatches)} difference(s)")
        for m in mismatches[:10]:
            out_console.print(f"  [red]{m.record_id}[/] {m.field}: {m.detail} ({m.source!r} vs {m.target!r})")
        out_console.print("[bold green]check passed[/]" if passed else "[bold red]check FAILED[/]")
        out_console.print(f"try: vectormigrate status demo --state-db {store.path}")
    if not passed:
        sys.exit(4)


def _sample_ids(src: Connector, k: int) -> dict[str, list[RecordId]]:
    """A uniform random sample of ids per partition (reservoir sampling over one scan)."""
    rng = random.Random(42)  # noqa: S311 - sampling, not crypto
    reservoir: list[tuple[str, RecordId]] = []
    seen = 0
    for batch in src.read_batches(_COLLECTION, batch_size=1000):
        for rid in batch.ids:
            seen += 1
            if len(reservoir) < k:
                reservoir.append((batch.namespace or "", rid))
            else:
                j = rng.randrange(seen)
                if j < k:
                    reservoir[j] = (batch.namespace or "", rid)
    out: dict[str, list[RecordId]] = {}
    for ns, rid in reservoir:
        out.setdefault(ns, []).append(rid)
    return out
