"""`cutover`: refuses to switch when validation fails; moves Qdrant and Milvus aliases (`point_alias` /
`resolve_alias` of their connectors); otherwise says exactly what to switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from vectormigrate.connectors.base import Aliasable, Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.errors import ConfigError, StateError, ValidationFailed
from vectormigrate.model import Batch
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.service import Endpoint, MigrationSpec, migrate
from vectormigrate.state.store import StateStore
from vectormigrate.zerodowntime.service import cutover_migration, start_dual_write, status_section

DIM = 8
SRC = Endpoint("memory", "docs", url="s")


def migrated(tmp: Path, tgt_ep: Endpoint, n: int = 60) -> tuple[StateStore, Connector, Connector, MigrationPlan]:
    src, tgt = open_connector("memory", SRC.config()), open_connector(tgt_ep.type, tgt_ep.config())
    src.create_collection(make_schema("docs", dim=DIM))
    for b in iter_batches(n, batch_size=50, dim=DIM):
        src.write_batch("docs", b)
    store = StateStore(tmp / "state.db")
    out = migrate(MigrationSpec("m", SRC, tgt_ep, batch_size=50), store, connectors=(src, tgt))
    assert out.result.status == "completed"
    return store, src, tgt, out.plan


@pytest.mark.parametrize("kind", ["qdrant", "milvus"])
def test_cutover_points_the_alias_and_repoints_it_atomically(tmp_path: Path, kind: str) -> None:
    url = ":memory:" if kind == "qdrant" else str(tmp_path / "m.db")
    store, src, tgt, plan = migrated(tmp_path, Endpoint(kind, "docs_v2", url=url))
    try:
        assert isinstance(tgt, Aliasable)
        assert tgt.resolve_alias("docs") is None
        old = make_schema("docs_v1", dim=DIM, id_kind=plan.target_schema.id_kind)
        tgt.create_collection(old)
        assert tgt.point_alias("docs", "docs_v1") is None and tgt.resolve_alias("docs") == "docs_v1"
        cut = cutover_migration("m", store, connectors=(src, tgt))
        assert cut["switch"] == {"method": "alias", "alias": "docs", "collection": "docs_v2", "previous": "docs_v1"}
        assert tgt.resolve_alias("docs") == "docs_v2"
        assert tgt.count("docs") == 60  # reads through the alias see the migrated collection
        assert cut["notes"] and "no journal" in cut["notes"][0]
        assert status_section(store, "m")["phase"] == "cut over"  # type: ignore[index]
        with pytest.raises(ConfigError, match="already has a collection named 'docs_v1'"):
            cutover_migration("m", store, connectors=(src, tgt), alias="docs_v1")
        assert tgt.resolve_alias("docs") == "docs_v2"
    finally:
        tgt.close()


def test_cutover_refuses_to_switch_when_validation_fails(tmp_path: Path) -> None:
    store, src, tgt, plan = migrated(tmp_path, Endpoint("qdrant", "docs_v2", url=":memory:"))
    try:
        tr = Transformer(plan)
        rec = tgt.fetch("docs_v2", [tr.target_id("doc-000007")])[0]
        rec.metadata["title"] = "tampered"
        tgt.write_batch("docs_v2", Batch.from_records([rec]))
        with pytest.raises(ValidationFailed, match="nothing was switched") as exc:
            cutover_migration("m", store, connectors=(src, tgt), attempts=2)
        assert exc.value.fields["mismatches"][0]["field"] == "metadata.title"
        assert isinstance(tgt, Aliasable) and tgt.resolve_alias("docs") is None
        assert store.get("m").phase != "cut_over"
        assert [e["kind"] for e in store.events("m")][-1] == "cutover_refused"
        # The repair for an application without a journal: a full sync, then the switch.
        cut = cutover_migration("m", store, connectors=(src, tgt), full_sync=True)
        assert cut["syncs"][0]["different"] == 1 and cut["switch"]["alias"] == "docs"
    finally:
        tgt.close()


def test_cutover_without_aliases_says_what_to_switch(tmp_path: Path) -> None:
    store, src, tgt, _ = migrated(tmp_path, Endpoint("parquet", "docs_v2", url=str(tmp_path / "pq")))
    cut = cutover_migration("m", store, connectors=(src, tgt))
    assert cut["switch"] == {"method": "manual", "collection": "docs_v2",
                             "reason": "parquet has no collection aliases"}
    assert cut["instructions"][0] == (f"point the application's reads at parquet {tmp_path / 'pq'}, collection "
                                      "'docs_v2'")
    with pytest.raises(ConfigError, match="no collection aliases"):
        cutover_migration("m", store, connectors=(src, tgt), alias="live")


def test_cutover_needs_a_finished_copy(tmp_path: Path) -> None:
    src = open_connector("memory", SRC.config())
    src.create_collection(make_schema("docs", dim=DIM))
    store = StateStore(tmp_path / "state.db")
    tgt_ep = Endpoint("memory", "docs_v2", url="t")
    start_dual_write(MigrationSpec("m", SRC, tgt_ep), store, journal=tmp_path / "j.db")
    with pytest.raises(StateError, match="cutover needs a finished copy") as exc:
        cutover_migration("m", store)
    assert "vectormigrate resume m" in (exc.value.hint or "")
