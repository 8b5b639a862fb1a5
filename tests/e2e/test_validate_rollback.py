"""Validation proves a migration and names every difference; rollback undoes one without losing data that was
in the target before it. Parquet source; targets on real engines (Qdrant local, milvus-lite) and the exact ones."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from forms import FORMS

from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.memory import MemoryConnector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.errors import StateError
from vectormigrate.model import RecordId, VectorRecord
from vectormigrate.pipeline.validate import ValidationOptions
from vectormigrate.service import Endpoint, MigrationSpec, migrate, rollback, status_json, validate
from vectormigrate.state.store import StateStore

N = 600
TARGETS = ["memory", "parquet", "qdrant-local", "milvus-lite", "pinecone-emulator", "weaviate-emulator"]
EXACT = {"memory", "parquet"}  # brute-force search: recall@k must be exactly 1.0


def seed_parquet(path: Path, name: str, n: int, seed: int, start: int = 0) -> None:
    with open_connector("parquet", ConnectionConfig(url=str(path))) as pq:
        if not pq.exists(name):
            pq.create_collection(make_schema(name, dim=16))
        for b in iter_batches(n, batch_size=100, dim=16, seed=seed, start=start):
            pq.write_batch(name, b)


def endpoints(tmp: Path, form: str, request: pytest.FixtureRequest, source: str = "docs") -> tuple[Endpoint, Endpoint]:
    """Parquet source, and a target of the given form with a collection name unique to this test."""
    f = FORMS[form]
    dst = f.endpoint(tmp, request, f.collection("dst", uuid.uuid4().hex[:8]))
    if dst.api_key:
        # Keys are never stored: validate / rollback get them the way a user gives them, from the environment.
        request.getfixturevalue("monkeypatch").setenv("VECTORMIGRATE_TARGET_API_KEY", dst.api_key)
    return Endpoint("parquet", source, url=str(tmp / "pq")), dst


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
def test_clean_migration_validates_and_recall_is_reported(tmp_path: Path, form: str,
                                                          request: pytest.FixtureRequest) -> None:
    seed_parquet(tmp_path / "pq", "docs", N, seed=1)
    store = StateStore(tmp_path / "s.db")
    src, dst = endpoints(tmp_path, form, request)
    migrate(MigrationSpec("m", src, dst, batch_size=100), store)
    report = validate("m", store, ValidationOptions(sample_size=50, queries=10, top_k=5, seed=1))
    assert report.passed, report.to_json()
    assert report.sample is not None and report.sample["checked"] == 50
    assert report.counts[0] == {"namespace": None, "source": N, "target": N, "match": True}
    assert report.ann is not None and report.ann["queries"] == 10
    if form in EXACT:
        assert report.ann["recall_mean"] == 1.0
    full = validate("m", store, ValidationOptions(full=True))
    assert full.passed and full.full is not None
    assert (full.full["checked"], full.full["mismatched_records"], full.full["extra_in_target"]) == (N, 0, 0)
    assert status_json(store, "m")["last_validation"]["passed"] is True


@pytest.mark.parametrize("form", TARGETS)
def test_corruption_is_caught_and_named(tmp_path: Path, form: str, request: pytest.FixtureRequest) -> None:
    seed_parquet(tmp_path / "pq", "docs", N, seed=1)
    store = StateStore(tmp_path / "s.db")
    src, dst = endpoints(tmp_path, form, request)
    out = migrate(MigrationSpec("m", src, dst, batch_size=100), store)
    tr_ids = {}
    from vectormigrate.pipeline.transform import Transformer

    tr = Transformer(out.plan)
    for sid in ("doc-000010", "doc-000020", "doc-000030"):
        tr_ids[sid] = tr.target_id(sid)
    with open_connector(dst.type, dst.config()) as conn:
        bad_vec, bad_meta = conn.fetch(dst.index, [tr_ids["doc-000010"], tr_ids["doc-000020"]])
        bad_vec.vectors[next(iter(bad_vec.vectors))] = -bad_vec.vectors[next(iter(bad_vec.vectors))]
        bad_meta.metadata["title"] = "tampered"
        from vectormigrate.model import Batch

        conn.write_batch(dst.index, Batch.from_records([bad_vec, bad_meta]))
        conn.delete(dst.index, [tr_ids["doc-000030"]])
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
def test_rollback_after_partial_migration_restores_the_target_exactly(tmp_path: Path, form: str,
                                                                     request: pytest.FixtureRequest) -> None:
    # The target already holds data before the migration: docs 0-49 and 550-599 (same ids as the source, other
    # values), and 100 records of another range. That data is what must survive a rollback.
    seed_parquet(tmp_path / "pq", "pre", 50, seed=9)
    seed_parquet(tmp_path / "pq", "pre", 50, seed=9, start=550)
    seed_parquet(tmp_path / "pq", "pre", 100, seed=9, start=5000)
    seed_parquet(tmp_path / "pq", "docs", N, seed=1)
    store = StateStore(tmp_path / "s.db")
    pre_src, dst = endpoints(tmp_path, form, request, source="pre")
    migrate(MigrationSpec("m0", pre_src, dst, batch_size=100), store)
    before = snapshot(dst)
    assert len(before) == 200
    src = Endpoint("parquet", "docs", url=str(tmp_path / "pq"))
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


def test_rollback_of_created_collection_needs_confirmation(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    seed_parquet(tmp_path / "pq", "docs", 100, seed=1)
    store = StateStore(tmp_path / "s.db")
    src, dst = endpoints(tmp_path, "qdrant-local", request)
    migrate(MigrationSpec("m", src, dst, batch_size=50), store)
    with pytest.raises(StateError, match="drops it") as exc:
        rollback("m", store)
    assert "--force" in (exc.value.hint or "")
    assert rollback("m", store, drop_confirmed=True).dropped_collection
    with open_connector(dst.type, dst.config()) as conn:
        assert not conn.exists(dst.index)


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


STOP_ROLLBACK = threading.Event()


class StoppingMemory(MemoryConnector):
    """A memory target whose 3rd delete call asks the running rollback to stop (like Ctrl-C / SIGTERM)."""

    name = "stopping-memory"
    deletes = 0

    def delete(self, collection: str, ids: Any, namespace: str | None = None) -> None:
        super().delete(collection, ids, namespace)
        type(self).deletes += 1
        if type(self).deletes == 3:
            STOP_ROLLBACK.set()


def test_rollback_is_resumable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORMIGRATE_CONNECTORS", f"stopping-memory={__name__}:StoppingMemory")
    seed_parquet(tmp_path / "pq", "docs", 1000, seed=1)
    store = StateStore(tmp_path / "s.db")
    src = Endpoint("parquet", "docs", url=str(tmp_path / "pq"))
    dst = Endpoint("stopping-memory", "dst", url="resumable")
    target = open_connector("stopping-memory", dst.config())
    target.create_collection(make_schema("dst", dim=16))
    migrate(MigrationSpec("m", src, dst, batch_size=20), store)
    assert target.count("dst") == 1000
    first = rollback("m", store, workers=1, stop=STOP_ROLLBACK)
    assert first.status == "stopped" and 0 < target.count("dst") < 1000
    assert store.get("m").status == "rolling_back"
    with pytest.raises(StateError, match="rolled back"):
        from vectormigrate.service import resume

        resume("m", store)  # a half-undone target is never copied over again
    STOP_ROLLBACK.clear()
    second = rollback("m", store, workers=4)
    assert second.status == "completed" and target.count("dst") == 0
    assert first.deleted + second.deleted >= 1000
    assert status_json(store, "m")["status"] == "rolled_back"
