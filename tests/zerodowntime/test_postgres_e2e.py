"""Two application processes dual-write through a PostgreSQL journal while the bulk copy runs in this one; after
`sync` and `cutover` the target equals the source exactly (Parquet on both sides: several processes may write it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from zd_helpers import assert_target_equals_source

from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.service import Endpoint, MigrationSpec, resume
from vectormigrate.state.store import StateStore
from vectormigrate.zerodowntime.journal import PostgresJournal
from vectormigrate.zerodowntime.service import cutover_migration, start_dual_write, sync_migration

HERE = Path(__file__).parent


def test_two_processes_dual_write_through_postgres(tmp_path: Path, pg_url: str) -> None:
    src_ep = Endpoint("parquet", "docs", url=str(tmp_path / "src"))
    tgt_ep = Endpoint("parquet", "docs_v2", url=str(tmp_path / "tgt"))
    with open_connector("parquet", src_ep.config()) as src:
        src.create_collection(make_schema("docs", dim=16))
        for b in iter_batches(300, batch_size=100, dim=16, seed=1):
            src.write_batch("docs", b)
    store = StateStore(tmp_path / "state.db")
    mid = f"pg-{tmp_path.name}"
    started = start_dual_write(MigrationSpec(mid, src_ep, tgt_ep, batch_size=25, workers=2), store, journal=pg_url)
    assert started["journal"].startswith("postgresql://")
    stop = tmp_path / "stop"
    apps = [subprocess.Popen([sys.executable, str(HERE / "app_writer.py"), str(store.path), mid, str(seed), str(stop)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for p in apps:
        assert p.stdout is not None and p.stdout.readline().strip() == "started", p.stderr
    copy = resume(mid, store)  # the bulk copy, while both applications write
    stop.touch()
    stats = []
    for p in apps:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        stats.append(json.loads(out.strip().splitlines()[-1]))
    assert copy.result.status == "completed"
    assert all(s["journaled_ids"] >= 20 and s["target_failures"] > 0 for s in stats)
    total = sum(s["journaled_ids"] for s in stats)
    with PostgresJournal(pg_url) as j:
        entries = j.read(mid, after=0, limit=100_000)
        assert [e.seq for e in entries] == list(range(1, total + 1))  # gapless across both processes
    result = sync_migration(mid, store)
    assert result["entries"] == total and result["lag"]["entries"] == 0 and result["pruned"] == total
    cut = cutover_migration(mid, store)
    assert cut["validation"]["passed"] and cut["switch"]["method"] == "manual"
    with open_connector("parquet", src_ep.config()) as src, open_connector("parquet", tgt_ep.config()) as tgt:
        plan = MigrationPlan.from_json(store.get(mid).plan or {}, tgt.capabilities)
        assert assert_target_equals_source(src, "docs", tgt, plan) > 250
