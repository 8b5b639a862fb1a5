"""The dual-writer's order of operations and failure rules, and the SDK adapters (qdrant-client, pymilvus)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from zd_helpers import FlakyTarget, assert_target_equals_source

from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_id, make_records, make_schema
from vectormigrate.errors import ConfigError, StateError, TerminalError
from vectormigrate.model import IdKind
from vectormigrate.pipeline.plan import MigrationPlan, PlanOptions
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.service import Endpoint, MigrationSpec
from vectormigrate.state.store import StateStore
from vectormigrate.testing.faulty import FaultyConnector
from vectormigrate.zerodowntime import DualWriter, TargetWriteFailure
from vectormigrate.zerodowntime.journal import SQLiteJournal
from vectormigrate.zerodowntime.service import start_dual_write, sync_migration

DIM = 8


def prepare(tmp: Path, src: Connector, src_ep: Endpoint, tgt: Connector, tgt_ep: Endpoint, *, n: int = 20,
            id_kind: IdKind = "str") -> tuple[StateStore, MigrationPlan]:
    src.create_collection(make_schema("docs", dim=DIM, id_kind=id_kind))
    for b in iter_batches(n, batch_size=50, dim=DIM, id_kind=id_kind):
        src.write_batch("docs", b)
    store = StateStore(tmp / "state.db")
    start_dual_write(MigrationSpec("m", src_ep, tgt_ep), store, journal=tmp / "j.db", connectors=(src, tgt))
    row = store.get("m")
    assert row.plan is not None
    return store, MigrationPlan.from_json(row.plan, tgt.capabilities)


@pytest.fixture
def memory_pair(tmp_path: Path) -> Iterator[tuple[StateStore, MigrationPlan, Connector, Connector]]:
    src_ep, tgt_ep = Endpoint("memory", "docs", url="s"), Endpoint("memory", "docs2", url="t")
    src, tgt = open_connector("memory", src_ep.config()), open_connector("memory", tgt_ep.config())
    store, plan = prepare(tmp_path, src, src_ep, tgt, tgt_ep)
    yield store, plan, src, tgt


def journal_ids(tmp: Path) -> list[tuple[int, Any, str]]:
    with SQLiteJournal(tmp / "j.db") as j:
        return [(e.seq, e.record_id, e.op) for e in j.read("m", after=0, limit=1000)]


def test_source_failure_fails_the_write_and_touches_nothing_else(tmp_path: Path, memory_pair: Any) -> None:
    store, _, src, tgt = memory_pair
    broken = FaultyConnector(src, terminal_at_write=1)
    with DualWriter.for_migration("m", store=store, source=broken, target=tgt) as dw, pytest.raises(TerminalError):
        dw.upsert(make_records(1, dim=DIM, start=500))
    assert journal_ids(tmp_path) == []
    assert tgt.count("docs2") == 0 and src.count("docs") == 20


def test_target_failure_never_fails_the_write_and_sync_repairs_it(tmp_path: Path, memory_pair: Any) -> None:
    store, plan, src, tgt = memory_pair
    failures: list[TargetWriteFailure] = []
    flaky = FlakyTarget(tgt, every=1)  # every target call fails
    with DualWriter.for_migration("m", store=store, source=src, target=flaky, on_target_error=failures.append) as dw:
        dw.upsert(make_records(2, dim=DIM, start=100))
        dw.delete([make_id(3)])
        stats = dw.stats()
    assert src.count("docs") == 20 + 2 - 1 and tgt.count("docs2") == 0
    assert [(i, op) for _, i, op in journal_ids(tmp_path)] == [
        (make_id(100), "upsert"), (make_id(101), "upsert"), (make_id(3), "delete")]
    assert stats.target_failures == 2 and stats.target_failed_ids == 3 and stats.journaled_ids == 3
    assert [f.op for f in failures] == ["upsert", "delete"] and "injected" in (stats.last_target_error or "")
    store.set_status("m", "completed")  # as if the bulk copy were done (it would have copied the rest)
    result = sync_migration("m", store, connectors=(src, tgt))
    assert result["upserted"] == 2 and result["deleted"] == 1 and result["lag"]["entries"] == 0
    got = {r.id for r in tgt.fetch("docs2", [make_id(100), make_id(101)])}
    assert got == {make_id(100), make_id(101)}
    assert plan.id_strategy == "keep"


class BrokenJournal(SQLiteJournal):
    def append(self, *args: Any, **kwargs: Any) -> tuple[int, int]:
        raise StateError("disk full", hint="test")


def test_journal_failure_is_raised_after_the_target_was_written(tmp_path: Path, memory_pair: Any) -> None:
    _, plan, src, tgt = memory_pair
    journal = BrokenJournal(tmp_path / "broken.db")
    dw = DualWriter(migration_id="m", plan=plan, journal=journal, target=tgt, source=src, source_collection="docs")
    with pytest.raises(StateError, match="reached the source but could not be journaled") as exc:
        dw.upsert(make_records(1, dim=DIM, start=300))
    assert "sync m --full" in (exc.value.hint or "")
    assert src.fetch("docs", [make_id(300)]) and tgt.fetch("docs2", [make_id(300)])


def test_target_gets_the_plans_ids_and_metadata(tmp_path: Path) -> None:
    """memory (string ids) -> Qdrant (UUID ids): the dual-writer maps ids and keeps the original in metadata."""
    src_ep, tgt_ep = Endpoint("memory", "docs", url="s"), Endpoint("qdrant", "docs2", url=":memory:")
    src, tgt = open_connector("memory", src_ep.config()), open_connector("qdrant", tgt_ep.config())
    store, plan = prepare(tmp_path, src, src_ep, tgt, tgt_ep, n=0)
    tr = Transformer(plan)
    with DualWriter.for_migration("m", store=store, source=src, target=tgt) as dw:
        dw.upsert(make_records(5, dim=DIM))
        dw.delete([make_id(1)])
    assert plan.id_strategy == "uuid5"
    assert tgt.count("docs2") == 4
    rec = tgt.fetch("docs2", [tr.target_id(make_id(2))])[0]
    assert rec.metadata["_source_id"] == make_id(2)
    assert_target_equals_source(src, "docs", tgt, plan)
    tgt.close()


def test_for_migration_refuses_what_it_cannot_dual_write(tmp_path: Path, memory_pair: Any) -> None:
    store, _, src, tgt = memory_pair
    with pytest.raises(StateError, match="not the one registered"):
        DualWriter.for_migration("m", store=store, journal=str(tmp_path / "another.db"), source=src, target=tgt)
    with pytest.raises(StateError, match="no migration"):
        DualWriter.for_migration("nope", store=store)
    store.set_status("m", "rolled_back")
    with pytest.raises(StateError, match="rolled back"):
        DualWriter.for_migration("m", store=store)
    dw = DualWriter(migration_id="m", plan=MigrationPlan.from_json(store.get("m").plan or {}, tgt.capabilities),
                    journal=SQLiteJournal(tmp_path / "j.db"), target=tgt)
    with pytest.raises(ConfigError, match="no source connector"):
        dw.upsert(make_records(1, dim=DIM))


# -- SDK adapters ------------------------------------------------------------------------------------------------
def test_qdrant_client_adapter_mirrors_every_write_kind(tmp_path: Path) -> None:
    from qdrant_client import models

    from vectormigrate.zerodowntime.adapters.qdrant import DualWriteQdrantClient

    src_ep, tgt_ep = Endpoint("qdrant", "docs", url=":memory:"), Endpoint("memory", "docs2", url="t")
    src, tgt = open_connector("qdrant", src_ep.config()), open_connector("memory", tgt_ep.config())
    store, _ = prepare(tmp_path, src, src_ep, tgt, tgt_ep, n=10, id_kind="int")
    raw = src._open().client  # type: ignore[attr-defined]  # :memory: is private to its connector
    raw.create_collection("unrelated", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    with DualWriter.for_migration("m", store=store, source=src, target=tgt) as dw:
        client = DualWriteQdrantClient(raw, dw)
        vec = np.ones(DIM, dtype=np.float32)
        client.upsert("docs", points=[models.PointStruct(id=i, vector=(vec * i).tolist(),
                                                         payload={"title": f"t{i}", "n": i, "category": "a"})
                                      for i in (100, 101, 102)])
        client.upload_collection("docs", vectors=np.stack([vec, -vec]), payload=[{"n": 1}, {"n": 2}])
        client.set_payload("docs", {"category": "patched"}, points=models.Filter(must=[
            models.FieldCondition(key="n", match=models.MatchValue(value=101))]))
        client.delete("docs", points_selector=models.FilterSelector(filter=models.Filter(must=[
            models.FieldCondition(key="n", match=models.MatchValue(value=102))])))
        client.delete("docs", points_selector=[0, 1])
        client.upsert("unrelated", points=[models.PointStruct(id=1, vector=vec.tolist())])  # not ours: passed through
        with pytest.raises(ConfigError, match="batch_update_points"):
            client.batch_update_points("docs", update_operations=[])
        assert client.count("docs").count == 10 + 3 + 2 - 1 - 2  # reads go to the real client
    entries = journal_ids(tmp_path)
    assert len(entries) == 3 + 2 + 1 + 1 + 2
    assert tgt.fetch("docs2", [101])[0].metadata["category"] == "patched"
    assert not tgt.fetch("docs2", [102])
    mirrored = {r.id for b in tgt.read_batches("docs2", batch_size=100) for r in b.records()}
    assert mirrored == {100, 101} | {e[1] for e in entries if isinstance(e[1], str)}
    src.close()


def test_milvus_client_adapter_mirrors_insert_partial_upsert_and_delete_by_filter(tmp_path: Path) -> None:
    from pymilvus import MilvusClient

    from vectormigrate.zerodowntime.adapters.milvus import DualWriteMilvusClient

    url = str(tmp_path / "m.db")
    src_ep, tgt_ep = Endpoint("milvus", "docs", url=url), Endpoint("memory", "docs2", url="t")
    src, tgt = open_connector("milvus", src_ep.config()), open_connector("memory", tgt_ep.config())
    store, plan = prepare(tmp_path, src, src_ep, tgt, tgt_ep, n=10, id_kind="int")
    real = MilvusClient(uri=url)
    try:
        with DualWriter.for_migration("m", store=store, source=src, target=tgt) as dw:
            client = DualWriteMilvusClient(real, dw)
            rows = [{"id": i, "vector": [float(i)] * DIM, "title": f"t{i}", "n": i, "category": "a", "score": 0.5,
                     "flag": True} for i in (100, 101, 102)]
            assert client.insert("docs", rows)["insert_count"] == 3
            client.upsert("docs", [{"id": 101, "category": "patched"}], partial_update=True)
            client.delete("docs", filter="id in [102, 0]")
            client.delete("docs", ids=[1])
        assert [e[2] for e in journal_ids(tmp_path)] == ["upsert"] * 4 + ["delete"] * 3
        got = {r.id: r for r in tgt.fetch("docs2", [100, 101, 102])}
        assert set(got) == {100, 101} and got[101].metadata["category"] == "patched"
        assert got[101].metadata["title"] == "t101"  # the partial update was re-read whole from the source
    finally:
        real.close()
        src.close()
    assert plan.id_strategy == "keep"


def test_flaky_helper_really_fails(tmp_path: Path) -> None:
    inner = open_connector("memory", ConnectionConfig(url="x"))
    inner.create_collection(make_schema("c", dim=DIM))
    flaky = FlakyTarget(inner, every=2)
    batches = list(iter_batches(4, batch_size=1, dim=DIM))
    outcomes = []
    for b in batches:
        try:
            flaky.write_batch("c", b)
            outcomes.append("ok")
        except Exception:
            outcomes.append("fail")
    assert outcomes == ["ok", "fail", "ok", "fail"] and inner.count("c") == 2


def test_pinecone_index_adapter_against_the_emulator(tmp_path: Path) -> None:
    """Through the real pinecone SDK, against tests/emulators/pinecone_server.py (Pinecone cannot run here)."""
    from pinecone import Pinecone

    from emulators.pinecone_server import PineconeEmulator
    from vectormigrate.zerodowntime.adapters.pinecone import DualWritePineconeIndex

    key = "pc-test-key-0123456789"
    with PineconeEmulator(api_key=key) as emu:
        src_ep = Endpoint("pinecone", "docs", url=emu.url, api_key=key)
        tgt_ep = Endpoint("memory", "docs2", url="t")
        src, tgt = open_connector("pinecone", src_ep.config()), open_connector("memory", tgt_ep.config())
        src.create_collection(make_schema("docs", dim=DIM, metadata="simple"))
        store = StateStore(tmp_path / "state.db")
        # The source has no namespace yet; the application will write one: ask for native namespaces up front
        # (a plan made on a source without namespaces would otherwise merge them all into one).
        spec = MigrationSpec("m", src_ep, tgt_ep, plan_options=PlanOptions(namespace_strategy="native"))
        start_dual_write(spec, store, journal=tmp_path / "j.db", connectors=(src, tgt))
        with DualWriter.for_migration("m", store=store, source=src, target=tgt) as dw:
            index = DualWritePineconeIndex(Pinecone(api_key=key, host=emu.url).Index(host=emu.host("docs")), dw)
            index.upsert(vectors=[("a", [0.1] * DIM, {"title": "A", "n": 1, "category": "x"}),
                                  {"id": "b", "values": [0.2] * DIM, "metadata": {"title": "B", "n": 2,
                                                                                  "category": "x"}}],
                         show_progress=False)
            index.upsert(vectors=[("c", [0.3] * DIM, {"title": "C", "n": 3, "category": "y"})], namespace="tenant",
                         show_progress=False)
            # (Index.update is wrapped too, but the emulator does not serve /vectors/update.)
            index.upsert(vectors=[("a", [0.1] * DIM, {"title": "A", "n": 1, "category": "patched"})],
                         show_progress=False)
            with pytest.raises(ConfigError, match="filter"):
                index.update(filter={"n": 1}, set_metadata={"x": 1})
            index.delete(ids=["b"])
            with pytest.raises(ConfigError, match="delete_all"):
                index.delete(delete_all=True, namespace="tenant")
            assert index.describe_index_stats().total_vector_count == 2  # reads pass through
        a = tgt.fetch("docs2", ["a"])[0]
        assert a.metadata == {"title": "A", "n": 1, "category": "patched"} and a.namespace is None
        assert [r.namespace for r in tgt.fetch("docs2", ["c"])] == ["tenant"] and not tgt.fetch("docs2", ["b"])
        assert [(i, op) for _, i, op in journal_ids(tmp_path)] == [("a", "upsert"), ("b", "upsert"), ("c", "upsert"),
                                                                   ("a", "upsert"), ("b", "delete")]
        src.close()
