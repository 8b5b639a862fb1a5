"""Zero downtime end to end, on the embedded engines: an application keeps inserting, updating and deleting through
the dual-writer (its own API, or an SDK adapter around the application's client) while the bulk copy runs; some
target writes fail; the bulk copy is made to write an older copy of a record after the application wrote a newer
one (and to resurrect a record the application deleted). After ``sync`` and ``cutover`` the target equals the
source exactly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from zd_helpers import FlakyTarget, RaceGate, assert_target_equals_source, snapshot

from vectormigrate.connectors.base import Aliasable, ConnectionConfig, Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_id, make_records, make_schema
from vectormigrate.model import IdKind, RecordId, VectorRecord
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.pipeline.validate import ValidationOptions
from vectormigrate.service import Endpoint, MigrationSpec, migrate, resume
from vectormigrate.state.store import StateStore
from vectormigrate.zerodowntime import DualWriter
from vectormigrate.zerodowntime.service import cutover_migration, start_dual_write, status_section, sync_migration

N = 300
DIM = 16
VICTIM, VICTIM2 = 120, 121  # both in the bulk copy's 3rd batch (batch size 50)


@dataclass(frozen=True)
class Side:
    type: str
    url: Callable[[Path], str]
    id_kind: IdKind = "str"


SIDES = {
    "memory": Side("memory", lambda p: f"mem-{p.name}"),
    "parquet": Side("parquet", lambda p: str(p / "parquet")),
    "qdrant": Side("qdrant", lambda p: str(p / "qdrant"), "int"),
    "milvus": Side("milvus", lambda p: str(p / "milvus.db"), "int"),
}


class LockedClient:
    """qdrant-client's local mode is not thread-safe: the connector serialises its calls with the folder handle's
    lock, so the application's calls on the same (shared) client must take it too. A server needs none of this."""

    def __init__(self, client: Any, lock: Any) -> None:
        self._client, self._lock = client, lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)
        return call


class App:
    """The application: writes through the dual-writer's API or through an official SDK client, wrapped."""

    def __init__(self, kind: str, dw: DualWriter, src: Connector, src_url: str) -> None:
        self.kind, self.dw = kind, dw
        self.closers: list[Callable[[], None]] = []
        if kind == "qdrant-sdk":
            from vectormigrate.zerodowntime.adapters.qdrant import DualWriteQdrantClient

            handle = src._open()  # type: ignore[attr-defined]  # local mode: one client per folder per process
            self.client: Any = DualWriteQdrantClient(LockedClient(handle.client, handle.lock), dw)
        elif kind == "milvus-sdk":
            from pymilvus import MilvusClient

            from vectormigrate.zerodowntime.adapters.milvus import DualWriteMilvusClient

            real = MilvusClient(uri=src_url)
            self.closers.append(real.close)
            self.client = DualWriteMilvusClient(real, dw)

    def upsert(self, records: list[VectorRecord]) -> None:
        if self.kind == "qdrant-sdk":
            from qdrant_client import models

            self.client.upsert("docs", points=[models.PointStruct(id=r.id, vector=r.vectors[""].tolist(),
                                                                  payload=r.metadata) for r in records])
        elif self.kind == "milvus-sdk":
            self.client.upsert("docs", [{"id": r.id, "vector": r.vectors[""].tolist(), **r.metadata}
                                        for r in records])
        else:
            self.dw.upsert(records)

    def patch(self, rid: RecordId) -> None:
        """A partial update where the SDK has one (the adapter re-reads the record to mirror it)."""
        if self.kind == "qdrant-sdk":
            self.client.set_payload("docs", {"category": "patched"}, points=[rid])
        elif self.kind == "milvus-sdk":
            if self.client.get("docs", ids=[rid], output_fields=["id"]):
                self.client.upsert("docs", [{"id": rid, "category": "patched"}], partial_update=True)
        else:
            recs = self.dw.source_fetch([rid])
            if recs:
                recs[0].metadata["category"] = "patched"
                self.upsert(recs)

    def delete(self, ids: list[RecordId]) -> None:
        if self.kind == "qdrant-sdk":
            from qdrant_client import models

            self.client.delete("docs", points_selector=models.PointIdsList(points=list[Any](ids)))
        elif self.kind == "milvus-sdk":
            self.client.delete("docs", ids=ids)
        else:
            self.dw.delete(ids)

    def close(self) -> None:
        for close in self.closers:
            close()


def seed(conn: Connector, id_kind: IdKind) -> None:
    conn.create_collection(make_schema("docs", dim=DIM, id_kind=id_kind))
    for b in iter_batches(N, batch_size=100, dim=DIM, id_kind=id_kind, seed=1):
        conn.write_batch("docs", b)


def version(i: int, id_kind: IdKind, seed_: int) -> list[VectorRecord]:
    return make_records(1, dim=DIM, id_kind=id_kind, seed=seed_, start=i)


class AppThread(threading.Thread):
    """Random inserts, updates, partial updates and deletes until stopped (never touching the race victims)."""

    def __init__(self, app: App, id_kind: IdKind) -> None:
        super().__init__(name="app", daemon=True)
        self.app, self.id_kind = app, id_kind
        self.stop = threading.Event()
        self.ops = 0
        self.error: BaseException | None = None
        self.rng = np.random.default_rng(7)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                i = int(self.rng.integers(0, N + 60))
                if i in (VICTIM, VICTIM2):
                    continue
                roll = self.rng.random()
                if roll < 0.2:
                    self.app.delete([make_id(i, self.id_kind)])
                elif roll < 0.3:
                    self.app.patch(make_id(i, self.id_kind))
                else:
                    self.app.upsert(version(i, self.id_kind, 1000 + self.ops))
                self.ops += 1
                time.sleep(0.002)
        except BaseException as exc:
            self.error = exc
            raise


@contextmanager
def connectors(tmp: Path, src_side: Side, tgt_side: Side) -> Iterator[tuple[Connector, Connector]]:
    src = open_connector(src_side.type, ConnectionConfig(url=src_side.url(tmp / "src")))
    tgt = open_connector(tgt_side.type, ConnectionConfig(url=tgt_side.url(tmp / "tgt")))
    try:
        yield src, tgt
    finally:
        tgt.close()
        src.close()


def endpoints(tmp: Path, src_side: Side, tgt_side: Side) -> tuple[Endpoint, Endpoint]:
    return (Endpoint(src_side.type, "docs", url=src_side.url(tmp / "src")),
            Endpoint(tgt_side.type, "docs_v2", url=tgt_side.url(tmp / "tgt")))


SCENARIOS = [
    pytest.param("memory", "qdrant", "dualwriter-api", id="memory->qdrant-local/DualWriter"),
    pytest.param("qdrant", "milvus", "qdrant-sdk", id="qdrant-local->milvus-lite/QdrantClient-adapter"),
    pytest.param("milvus", "parquet", "milvus-sdk", id="milvus-lite->parquet/MilvusClient-adapter"),
    pytest.param("parquet", "memory", "dualwriter-api", id="parquet->memory/DualWriter"),
]


@pytest.mark.parametrize(("src_name", "tgt_name", "app_kind"), SCENARIOS)
def test_writes_during_the_copy_end_exactly_equal_after_sync_and_cutover(
        tmp_path: Path, src_name: str, tgt_name: str, app_kind: str) -> None:
    src_side, tgt_side = SIDES[src_name], SIDES[tgt_name]
    (tmp_path / "src").mkdir()
    (tmp_path / "tgt").mkdir()
    id_kind = src_side.id_kind
    store = StateStore(tmp_path / "state.db")
    with connectors(tmp_path, src_side, tgt_side) as (src, tgt):
        seed(src, id_kind)
        src_ep, tgt_ep = endpoints(tmp_path, src_side, tgt_side)
        spec = MigrationSpec("zd", src_ep, tgt_ep, batch_size=50, workers=2)
        victim, victim2 = make_id(VICTIM, id_kind), make_id(VICTIM2, id_kind)
        gate = RaceGate(tgt, victim=-1)
        holder: dict[str, Any] = {}
        started = threading.Event()

        def on_started(plan: MigrationPlan) -> None:
            # The bulk copy has planned and created the target and has not read a record yet: dual-write starts.
            holder["plan"] = plan
            holder["dual"] = start_dual_write(spec, store, journal=tmp_path / "journal.db")
            gate.victim = Transformer(plan).target_id(victim)
            started.set()

        def bulk_copy() -> None:
            holder["outcome"] = migrate(spec, store, connectors=(src, gate), on_started=on_started)

        copier = threading.Thread(target=bulk_copy, name="bulk-copy", daemon=True)
        copier.start()
        assert started.wait(60)
        plan: MigrationPlan = holder["plan"]
        tr = Transformer(plan)
        assert holder["dual"]["coverage"] == "complete"
        flaky = FlakyTarget(tgt, every=6, protect={tr.target_id(victim), tr.target_id(victim2)})
        dw = DualWriter.for_migration("zd", store=store, source=src, target=flaky)
        app = App(app_kind, dw, src, src_ep.url or "")
        worker = AppThread(app, id_kind)
        worker.start()

        # -- the race, on purpose: the bulk copy holds old copies of VICTIM and VICTIM2 and waits -----------------
        assert gate.reached.wait(60), "the bulk copy never reached the victim's batch"
        newer = version(VICTIM, id_kind, 4242)
        newer[0].metadata["title"] = "written by the application during the copy"
        app.upsert(newer)
        app.delete([victim2])
        got = {r.id: r for r in tgt.fetch("docs_v2", [tr.target_id(victim), tr.target_id(victim2)])}
        assert got[tr.target_id(victim)].metadata["title"] == "written by the application during the copy"
        assert tr.target_id(victim2) not in got
        # A sync while the copy runs replays, but must not move its checkpoint (the copy can still undo it).
        # sync and cutover open their own connectors, as the CLI does in its own process.
        during = sync_migration("zd", store)
        assert during["checkpoint_held"] and during["checkpoint_after"] == 0 and during["entries"] >= 2
        assert status_section(store, "zd")["phase"] == "copying"  # type: ignore[index]
        gate.release.set()
        copier.join(120)
        assert not copier.is_alive()
        assert holder["outcome"].result.status == "completed"

        # The stale copies landed: the target now has the OLD VICTIM and a resurrected VICTIM2.
        got = {r.id: r for r in tgt.fetch("docs_v2", [tr.target_id(victim), tr.target_id(victim2)])}
        assert got[tr.target_id(victim)].metadata["title"] != "written by the application during the copy"
        assert tr.target_id(victim2) in got
        assert status_section(store, "zd")["phase"] == "catching up"  # type: ignore[index]

        # The application keeps writing after the copy, then stops.
        ops_at_copy_end = worker.ops
        deadline = time.monotonic() + 30
        while worker.ops < ops_at_copy_end + 25 and time.monotonic() < deadline and worker.is_alive():
            time.sleep(0.01)
        worker.stop.set()
        worker.join(30)
        assert worker.error is None, worker.error
        assert worker.ops >= ops_at_copy_end + 25
        stats = dw.stats()
        assert flaky.failed > 0 and stats.target_failures == flaky.failed  # failed target writes never raised
        assert stats.journaled_ids >= worker.ops

        # -- catch up ------------------------------------------------------------------------------------------------
        first = sync_migration("zd", store)
        assert first["status"] == "completed" and first["checkpoint_held"] is None
        assert first["checkpoint_after"] == first["journal_head"] and first["lag"]["entries"] == 0
        assert first["entries"] >= stats.journaled_ids  # everything since dual-write started, replayed once more
        compared = assert_target_equals_source(src, "docs", tgt, plan)
        assert compared >= N - 60
        before = snapshot(tgt, "docs_v2")
        again = sync_migration("zd", store)  # idempotent: nothing left, nothing changes
        assert again["entries"] == 0 and again["upserted"] == 0 and again["deleted"] == 0
        assert snapshot(tgt, "docs_v2").keys() == before.keys()

        # -- cutover ------------------------------------------------------------------------------------------------
        cut = cutover_migration("zd", store, validation=ValidationOptions(full=True))
        assert cut["validation"]["passed"] and cut["validation"]["full_checked"] == compared
        if isinstance(tgt, Aliasable):
            assert cut["switch"] == {"method": "alias", "alias": "docs", "collection": "docs_v2", "previous": None}
            assert tgt.resolve_alias("docs") == "docs_v2"
        else:
            assert cut["switch"]["method"] == "manual"
            assert any("docs_v2" in step for step in cut["instructions"])
        section = status_section(store, "zd")
        assert section is not None and section["phase"] == "cut over" and section["lag"]["entries"] == 0
        assert_target_equals_source(src, "docs", tgt, plan)
        app.close()
        dw.close()


def test_documented_procedure_start_dual_write_then_resume(tmp_path: Path) -> None:
    """The procedure of docs/zero-downtime.md: `dual-write` (start_dual_write), the application writes, `resume`
    runs the bulk copy, `sync`, `cutover` (Qdrant alias), each step opening its own connectors."""
    store = StateStore(tmp_path / "state.db")
    src_ep = Endpoint("parquet", "docs", url=str(tmp_path / "pq"))
    tgt_ep = Endpoint("qdrant", "docs_v2", url=str(tmp_path / "qdrant"))
    with open_connector("parquet", src_ep.config()) as pq:
        seed(pq, "str")
    out = start_dual_write(MigrationSpec("p1", src_ep, tgt_ep, batch_size=100), store,
                           journal=str(tmp_path / "j.db"), alias="docs_live")
    assert out["coverage"] == "complete" and out["created_target"]
    assert status_section(store, "p1")["phase"] == "dual-write started (bulk copy not started)"  # type: ignore[index]
    with DualWriter.for_migration("p1", store=store) as dw:
        dw.upsert(version(5, "str", 77))                  # before the copy starts
        dw.upsert(make_records(3, dim=DIM, start=N + 1, seed=3))
        dw.delete([make_id(6)])
        assert resume("p1", store).result.status == "completed"
        dw.delete([make_id(7)])                           # after it
    result = sync_migration("p1", store)
    assert result["entries"] == 6 and result["lag"]["entries"] == 0 and result["phase"] == "in_sync"
    cut = cutover_migration("p1", store)
    assert cut["switch"]["alias"] == "docs_live" and cut["switch"]["method"] == "alias"
    with open_connector("parquet", src_ep.config()) as pq, open_connector("qdrant", tgt_ep.config()) as q:
        assert isinstance(q, Aliasable) and q.resolve_alias("docs_live") == "docs_v2"
        plan = MigrationPlan.from_json(store.get("p1").plan or {}, q.capabilities)
        assert assert_target_equals_source(pq, "docs", q, plan) == N + 3 - 2
