"""Validation proves a migration and names every difference; rollback undoes one without losing data that was
in the target before it. Parquet source; targets on real engines (Qdrant local, milvus-lite) and the exact ones."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from forms import FORMS

from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.errors import StateError
from vectormigrate.model import RecordId, VectorRecord
from vectormigrate.pipeline.validate import ValidationOptions
from vectormigrate.service import Endpoint, MigrationSpec, migrate, rollback, status_json, validate
from vectormigrate.state.store import StateStore

N = 600
TARGETS = ["memory", "parquet", "qdrant-local", "milvus-lite"]
EXACT = {"memory", "parquet"}  # brute-force search: recall@k must be exactly 1.0


def seed_parquet(path: Path, name: str, n: int, seed: int, start: int = 0) -> None:
    with open_connector("parquet", ConnectionConfig(url=str(path))) as pq:
        if not pq.exists(name):
            pq.create_collection(make_schema(name, dim=16))
        for b in iter_batches(n, batch_size=100, dim=16, seed=seed, start=start):
            pq.write_batch(name, b)


def endpoints(tmp: Path, form: str, source: str = "docs") -> tuple[Endpoint, Endpoint]:
    f = FORMS[form]
    return Endpoint("parquet", source, url=str(tmp / "pq")), Endpoint(f.type, "dst", url=f.url(tmp, None))  # type: ignore[arg-type]


def snapshot(ep: Endpoint) -> dict[RecordId, VectorRecord]:
    with open_connector(ep.type, ep.config()) as conn:
        return {r.id: r for b in conn.read_batches(ep.index, batch_size=500) for r in b.records()}


def same(a: dict[RecordId, VectorRecord], b: dict[RecordId, VectorRecord]) -> None:
    assert a.keys() == b.keys()
    for rid, rec in a.items():
        other = b[rid]
        for name, vec in rec.vectors.items():
            cos = float(vec @ other.vectors[name] / (np.linalg.norm(vec) * np.linalg.norm(other.vectors[name])))
            assert cos > 0.9999, rid
        assert rec.metadata == other.metadata, rid


@pytest.mark.parametrize("form", TARGETS)
def test_clean_migration_validates_and_recall_is_reported(tmp_path: Path, form: str) -> None:
    seed_parquet(tmp_path / "pq", "docs", N, seed=1)
    store = StateStore(tmp_path / "s.db")
    src, dst = endpoints(tmp_path, form)
    migrate(MigrationSpec("m", src, dst, batch_size=100), store)
    report = validate("m", store, ValidationOptions(sample_size=50, queries=10, top_k=5, seed=1))
    assert report.passed, report.to_json()
    assert report.sample is not None and report.sample["checked"] == 50
    assert report.counts[0] == {"namespace": None, "source": N, "target": N, "match": True}
    assert report.ann is not None and report.ann["queries"] == 10
    if form in EXACT:
        assert report.ann["recall_mean"] == 1.0
    full = validate("m", store, ValidationOptions(full=True))
    assert full.passed and full.full == {"checked": N, "mismatched_records": 0, "extra_in_target": 0}
    assert status_json(store, "m")["last_validation"]["passed"] is True


@pytest.mark.parametrize("form", TARGETS)
def test_corruption_is_caught_and_named(tmp_path: Path, form: str) -> None:
    seed_parquet(tmp_path / "pq", "docs", N, seed=1)
    store = StateStore(tmp_path / "s.db")
    src, dst = endpoints(tmp_path, form)
    out = migrate(MigrationSpec("m", src, dst, batch_size=100), store)
    tr_ids = {}
    from vectormigrate.pipeline.transform import Transformer

    tr = Transformer(out.plan)
    for sid in ("doc-000010", "doc-000020", "doc-000030"):
        tr_ids[sid] = tr.target_id(sid)
    with open_connector(dst.type, dst.config()) as conn:
        bad_vec, bad_meta = conn.fetch("dst", [tr_ids["doc-000010"], tr_ids["doc-000020"]])
        bad_vec.vectors[next(iter(bad_vec.vectors))] = -bad_vec.vectors[next(iter(bad_vec.vectors))]
        bad_meta.metadata["title"] = "tampered"
        from vectormigrate.model import Batch

        conn.write_batch("dst", Batch.from_records([bad_vec, bad_meta]))
        conn.delete("dst", [tr_ids["doc-000030"]])
    report = validate("m", store, ValidationOptions(full=True))
    assert not report.passed
    named = {(m.record_id, m.field.split(" ")[0].split(".")[0]) for m in report.mismatches}
    assert (tr_ids["doc-000010"], "vector") in named or ("doc-000010", "vector") in named
    meta_rows = [m for m in report.mismatches if m.field == "metadata.title"]
    assert len(meta_rows) == 1 and meta_rows[0].target == "tampered" and meta_rows[0].source != "tampered"
    missing = [m for m in report.mismatches if m.field == "record"]
    assert len(missing) == 1 and missing[0].detail == "the record is not in the target"
    assert report.counts[0]["target"] == N - 1 and not report.counts[0]["match"]
    assert status_json(store, "m")["last_validation"]["passed"] is False
    sample = validate("m", store, ValidationOptions(sample_size=N))  # a sample of everything finds them too
    assert not sample.passed and sample.mismatch_count >= 3


def stop_after(batches: int) -> tuple[threading.Event, Any]:
    stop = threading.Event()

    def on_progress(p: Any) -> None:
        if p.counters.batches >= batches:
            stop.set()

    return stop, on_progress


@pytest.mark.parametrize("form", TARGETS)
def test_rollback_after_partial_migration_restores_the_target_exactly(tmp_path: Path, form: str) -> None:
    # The target already holds data before the migration: docs 0-49 and 550-599 (same ids as the source, other
    # values), and 100 records of another range. That data is what must survive a rollback.
    seed_parquet(tmp_path / "pq", "pre", 50, seed=9)
    seed_parquet(tmp_path / "pq", "pre", 50, seed=9, start=550)
    seed_parquet(tmp_path / "pq", "pre", 100, seed=9, start=5000)
    seed_parquet(tmp_path / "pq", "docs", N, seed=1)
    store = StateStore(tmp_path / "s.db")
    pre_src, dst = endpoints(tmp_path, form, source="pre")
    migrate(MigrationSpec("m0", pre_src, dst, batch_size=100), store)
    before = snapshot(dst)
    assert len(before) == 200
    src, _ = endpoints(tmp_path, form)
    stop, on_progress = stop_after(2)
    out = migrate(MigrationSpec("m1", src, dst, batch_size=50, workers=3), store, stop=stop,
                  on_progress=on_progress)
    assert out.result.status == "stopped" and out.plan.overlapping_ids == 100
    during = snapshot(dst)
    assert during != before and len(during) > len(before)  # the migration really wrote and overwrote
    result = rollback("m1", store, workers=6)
    assert result.status == "completed" and result.restored > 0 and result.deleted > 0
    same(before, snapshot(dst))
    assert status_json(store, "m1")["status"] == "rolled_back"
    with pytest.raises(StateError, match="rolled back"):
        from vectormigrate.service import resume

        resume("m1", store)


def test_rollback_of_created_collection_needs_confirmation(tmp_path: Path) -> None:
    seed_parquet(tmp_path / "pq", "docs", 100, seed=1)
    store = StateStore(tmp_path / "s.db")
    src, dst = endpoints(tmp_path, "qdrant-local")
    migrate(MigrationSpec("m", src, dst, batch_size=50), store)
    with pytest.raises(StateError, match="drops it") as exc:
        rollback("m", store)
    assert "--force" in (exc.value.hint or "")
    assert rollback("m", store, drop_confirmed=True).dropped_collection
    with open_connector(dst.type, dst.config()) as conn:
        assert not conn.exists("dst")


def test_rollback_under_concurrency_loses_no_id(tmp_path: Path) -> None:
    """Thousands of ids, tiny batches, eight workers: every id the migration wrote is deleted, none past it."""
    n = 3000
    seed_parquet(tmp_path / "pq", "docs", n, seed=1)
    store = StateStore(tmp_path / "s.db")
    src = Endpoint("parquet", "docs", url=str(tmp_path / "pq"))
    dst = Endpoint("memory", "dst", url="rb")
    target: Connector = open_connector("memory", dst.config())
    target.create_collection(make_schema("dst", dim=16))  # exists, empty: rollback deletes instead of dropping
    stop, on_progress = stop_after(150)
    out = migrate(MigrationSpec("m", src, dst, batch_size=10, workers=4), store, stop=stop,
                  on_progress=on_progress)
    assert out.result.status == "stopped"
    written = target.count("dst")
    assert 1500 <= written < n
    result = rollback("m", store, workers=8)
    assert target.count("dst") == 0
    assert result.deleted >= written
