"""The procedure through the command line: `dual-write`, `resume`, `sync`, `cutover` (JSON and human output,
exit codes), with the application writing through DualWriter between the steps."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from vectormigrate.cli import cli
from vectormigrate.connectors.base import Aliasable, ConnectionConfig
from vectormigrate.connectors.registry import get_class, open_connector
from vectormigrate.datagen import iter_batches, make_id, make_records, make_schema
from vectormigrate.model import Batch
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.state.store import StateStore
from vectormigrate.zerodowntime import DualWriter


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_zero_downtime_procedure_on_the_command_line(tmp_path: Path) -> None:
    pq, qd, state = str(tmp_path / "pq"), str(tmp_path / "qdrant"), str(tmp_path / "state.db")
    with open_connector("parquet", ConnectionConfig(url=pq)) as src:
        src.create_collection(make_schema("docs", dim=8))
        for b in iter_batches(120, batch_size=60, dim=8):
            src.write_batch("docs", b)
    r = run("dual-write", "m", "--source-type", "parquet", "--source-url", pq, "--source-index", "docs",
            "--source-api-key", "s3cr3t-key",
            "--target-type", "qdrant", "--target-url", qd, "--target-index", "docs_v2",
            "--journal", str(tmp_path / "journal.db"), "--alias", "docs_live", "--state-db", state, "--json",
            "--app-config", str(tmp_path / "app.json"))
    assert r.exit_code == 0, r.output
    started = json.loads(r.output)
    assert started["coverage"] == "complete" and "vectormigrate resume m" in started["next_steps"][1]
    # The application host has no state database: it ships the config file (plan, endpoints, journal; no secret).
    assert "s3cr3t" not in (tmp_path / "app.json").read_text()
    with DualWriter.from_config(tmp_path / "app.json") as dw:
        dw.upsert(make_records(2, dim=8, start=500))
        dw.delete([make_id(1)])
    r = run("resume", "m", "--state-db", state, "--json")
    assert r.exit_code == 0, r.output
    r = run("sync", "m", "--state-db", state)
    assert r.exit_code == 0, r.output
    assert "sync completed: 3 journal entries replayed" in r.output and "lag: 0 entries" in r.output
    r = run("sync", "m", "--state-db", state, "--json")
    assert json.loads(r.output)["entries"] == 0

    # A record the application changed behind the dual-writer's back: validation catches it, nothing switches.
    store = StateStore(state)
    plan = MigrationPlan.from_json(store.get("m").plan or {}, get_class("qdrant").capabilities)
    tid = Transformer(plan).target_id(make_id(2))
    with open_connector("qdrant", ConnectionConfig(url=qd)) as tgt:
        rec = tgt.fetch("docs_v2", [tid])[0]
        rec.metadata["title"] = "changed behind our back"
        tgt.write_batch("docs_v2", Batch.from_records([rec]))
    r = run("cutover", "m", "--state-db", state, "--sample-size", "500", "--attempts", "1")
    assert r.exit_code == 4, r.output
    assert "nothing was switched" in r.output and "metadata.title" in r.output
    r = run("cutover", "m", "--state-db", state, "--full-sync")
    assert r.exit_code == 0, r.output
    assert "cut over: alias 'docs_live' now points to 'docs_v2'" in r.output
    with open_connector("qdrant", ConnectionConfig(url=qd)) as tgt:
        assert isinstance(tgt, Aliasable) and tgt.resolve_alias("docs_live") == "docs_v2"
        assert tgt.count("docs_live") == 120 + 2 - 1
    r = run("cutover", "m", "--state-db", state, "--json", "--alias", "docs_live")
    assert json.loads(r.output)["switch"]["previous"] == "docs_v2"  # re-running is harmless


def test_sync_of_an_unknown_migration_says_so(tmp_path: Path) -> None:
    r = run("sync", "nope", "--state-db", str(tmp_path / "s.db"), "--json")
    assert r.exit_code != 0 and json.loads(r.output)["message"].startswith("no migration 'nope'")
