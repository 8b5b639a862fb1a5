"""Helpers of the zero-downtime tests: exact source/target comparison, a flaky target and a race gate."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from vectormigrate.connectors.base import Connector
from vectormigrate.errors import TransientError
from vectormigrate.model import Batch, RecordId, VectorRecord
from vectormigrate.pipeline.compare import metadata_equal
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.testing.faulty import FaultyConnector


def snapshot(conn: Connector, collection: str) -> dict[tuple[str | None, RecordId], VectorRecord]:
    return {(b.namespace, r.id): r for b in conn.read_batches(collection, batch_size=500) for r in b.records()}


def assert_target_equals_source(src: Connector, src_coll: str, tgt: Connector, plan: MigrationPlan) -> int:
    """Every source record is in the target under its mapped id, with the same vectors and the planned metadata,
    and the target holds nothing else. Returns the number of records compared."""
    tr = Transformer(plan)
    source = snapshot(src, src_coll)
    target = snapshot(tgt, plan.target_schema.name)
    by_tid = {(tr.target_namespace(ns), tr.target_id(rid)): rec for (ns, rid), rec in source.items()}
    assert set(target) == set(by_tid), (
        f"ids differ: missing in target {sorted(map(str, set(by_tid) - set(target)))[:10]}, "
        f"extra in target {sorted(map(str, set(target) - set(by_tid)))[:10]}")
    normalised = plan.target_capabilities.normalizes_cosine
    for key, s in by_tid.items():
        t = target[key]
        for name, vec in s.vectors.items():
            got = t.vectors[plan.vector_map[name]]
            cos = float(vec @ got / (np.linalg.norm(vec) * np.linalg.norm(got)))
            assert cos > 0.9999, (key, name, cos)
            if not normalised:
                np.testing.assert_allclose(got, vec, rtol=1e-6, atol=1e-7)
        for name, sv in s.sparse.items():
            assert t.sparse[plan.sparse_map[name]] == sv, key
        want = tr.expected_metadata(s.metadata, s.id, key[1], s.namespace)
        assert metadata_equal(want, t.metadata), (key, want, t.metadata)
    return len(by_tid)


class FlakyTarget(FaultyConnector):
    """Every ``every``-th write or delete fails with a TransientError (the dual-writer must shrug it off).

    Batches holding a protected id never fail (so a test can rely on one particular dual-write landing).
    """

    def __init__(self, inner: Connector, *, every: int, protect: set[RecordId] | None = None) -> None:
        super().__init__(inner)
        self.every = every
        self.protect = protect or set()
        self.calls = 0
        self.failed = 0
        self._flaky_lock = threading.Lock()

    def _maybe_fail(self, ids: list[RecordId], what: str) -> None:
        with self._flaky_lock:
            self.calls += 1
            fail = self.calls % self.every == 0 and not (self.protect & set(ids))
            if fail:
                self.failed += 1
        if fail:
            raise TransientError(f"injected failure of a target {what}", hint="test")

    def write_batch(self, collection: str, batch: Batch) -> None:
        self._maybe_fail(list(batch.ids), "write")
        self.inner.write_batch(collection, batch)

    def delete(self, collection: str, ids: Any, namespace: str | None = None) -> None:
        self._maybe_fail(list(ids), "delete")
        self.inner.delete(collection, ids, namespace)


class RaceGate(FaultyConnector):
    """The bulk copy's target: the write of the batch holding ``victim`` waits until ``release`` is set.

    The batch was read from the source before the wait, so whatever the application writes meanwhile is
    overwritten by an older copy when the write goes on: the race a sync must repair.
    """

    def __init__(self, inner: Connector, victim: RecordId) -> None:
        super().__init__(inner)
        self.victim = victim
        self.reached = threading.Event()
        self.release = threading.Event()
        self.stale_batch: list[RecordId] = []

    def write_batch(self, collection: str, batch: Batch) -> None:
        if self.victim in batch.ids and not self.reached.is_set():
            self.stale_batch = list(batch.ids)
            self.reached.set()
            assert self.release.wait(60), "the test never released the gate"
        self.inner.write_batch(collection, batch)
