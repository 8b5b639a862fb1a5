"""validate --full: extra records in the target are found, also when a missing one makes the counts agree."""

from __future__ import annotations

import numpy as np

from vectormigrate.connectors.base import ConnectionConfig
from vectormigrate.connectors.memory import MemoryConnector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.model import Batch
from vectormigrate.pipeline.validate import ValidationOptions
from vectormigrate.service import Endpoint, MigrationSpec, migrate, validate
from vectormigrate.state.store import StateStore


def setup(store: StateStore) -> MemoryConnector:
    src = MemoryConnector(ConnectionConfig(url="src"))
    src.create_collection(make_schema("docs", dim=8))
    for b in iter_batches(300, batch_size=100, dim=8):
        src.write_batch("docs", b)
    migrate(MigrationSpec("m", Endpoint("memory", "docs", url="src"), Endpoint("memory", "docs", url="dst")), store)
    return MemoryConnector(ConnectionConfig(url="dst"))


def test_clean_target_skips_the_reverse_scan(store: StateStore) -> None:
    setup(store)
    report = validate("m", store, ValidationOptions(full=True))
    assert report.passed and report.full is not None and report.full["reverse_scan"].startswith("skipped")


def test_foreign_record_in_target_is_found(store: StateStore) -> None:
    dst = setup(store)
    dst.write_batch("docs", Batch(ids=["intruder"], vectors={"": np.ones((1, 8), np.float32)}))
    report = validate("m", store, ValidationOptions(full=True))
    assert not report.passed and report.full is not None and report.full["extra_in_target"] == 1
    assert any(m.record_id == "intruder" for m in report.mismatches)


def test_missing_plus_foreign_keeps_counts_equal_and_both_are_named(store: StateStore) -> None:
    dst = setup(store)
    dst.delete("docs", ["doc-000007"])
    dst.write_batch("docs", Batch(ids=["intruder"], vectors={"": np.ones((1, 8), np.float32)}))
    report = validate("m", store, ValidationOptions(full=True))
    assert report.counts[0]["match"]  # 300 == 300: counts alone cannot tell
    named = {(m.record_id, m.field) for m in report.mismatches}
    assert ("doc-000007", "record") in named and ("intruder", "record") in named
    assert not report.passed
