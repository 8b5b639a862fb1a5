"""Every ordered pair of engine forms (42 directions, the twelve among Pinecone, Qdrant, Weaviate and Milvus
included): migrate a collection through the service and check the target record by record: count, ids (or
their mapping: UUIDv5 into Qdrant/Weaviate, strings into Pinecone), dense vectors (cosine >= 0.9999, norms where
kept), named vectors where both sides have them, sparse vectors where both have them, metadata equal after the
plan's stated coercions (flattened, nulls dropped, lists as text), and per-namespace counts where namespaces,
partitions or tenants survive."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import pytest
from forms import FORMS

from vectormigrate.connectors.base import Connector
from vectormigrate.connectors.memory import MemoryConnector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.pipeline.compare import compare_record
from vectormigrate.pipeline.plan import build_plan
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.service import MigrationSpec, migrate
from vectormigrate.state.store import StateStore

N = 240
PAIRS = [
    pytest.param(a, b, id=f"{a}->{b}", marks=[*FORMS[a].marks, *FORMS[b].marks])
    for a, b in itertools.product(FORMS, FORMS) if a != b
]


def seed(conn: Connector, name: str, sparse: bool, named: bool) -> None:
    caps = conn.capabilities
    id_kind = "str" if "str" in caps.id_kinds else "uuid"
    namespaces = ("en", "fr") if caps.namespace_model != "none" else ()
    sp = ("kw",) if sparse else ()
    vectors = ("text", "image") if named else ("",)
    schema = make_schema(name, dim=32, id_kind=id_kind, vectors=vectors, sparse=sp, namespaces=namespaces)
    # Seed through the plan's own transform, so the data is what this database holds (Pinecone: flat metadata).
    plan = build_plan("memory", schema, MemoryConnector.capabilities, conn.name, caps, name)
    assert not plan.errors, plan.errors
    conn.create_collection(plan.target_schema)
    tr = Transformer(plan)
    for b in iter_batches(N, batch_size=100, dim=32, id_kind=id_kind, vectors=vectors, sparse=sp,
                          namespaces=namespaces, seed=11):
        out, dead = tr.apply(b)
        assert not dead
        conn.write_batch(name, out)


@pytest.mark.parametrize(("src_name", "dst_name"), PAIRS)
def test_migration_preserves_everything(tmp_path: Path, request: pytest.FixtureRequest, src_name: str,
                                        dst_name: str) -> None:
    src_form, dst_form = FORMS[src_name], FORMS[dst_name]
    (tmp_path / "s").mkdir()
    (tmp_path / "t").mkdir()
    suffix = uuid.uuid4().hex[:8]
    src_ep = src_form.endpoint(tmp_path / "s", request, src_form.collection("src", suffix))
    dst_ep = dst_form.endpoint(tmp_path / "t", request, dst_form.collection("dst", suffix))
    src_coll, dst_coll = src_ep.index, dst_ep.index
    src = open_connector(src_ep.type, src_ep.config())
    dst = open_connector(dst_ep.type, dst_ep.config())
    sparse = src_form.sparse and dst_form.sparse and src.capabilities.sparse_vectors and dst.capabilities.sparse_vectors
    named = src.capabilities.named_vectors and dst.capabilities.named_vectors
    try:
        seed(src, src_coll, sparse, named)
        spec = MigrationSpec("rt", src_ep, dst_ep, batch_size=64)
        # In-process forms (memory, local folders) must be shared with the service: hand it our connectors.
        out = migrate(spec, StateStore(tmp_path / "state.db"), connectors=(src, dst))
        assert out.result.status == "completed", out.result.error
        assert out.result.counters.records_written == N and out.result.counters.records_failed == 0
        assert dst.count(dst_coll) == N
        tr = Transformer(out.plan)
        checked = 0
        for batch in src.read_batches(src_coll, batch_size=100):
            wanted = [tr.target_id(i) for i in batch.ids]
            got = {r.id: r for r in dst.fetch(dst_coll, wanted, tr.target_namespace(batch.namespace))}
            assert len(got) == len(wanted)
            for rec in batch.records():
                assert compare_record(rec, got.get(tr.target_id(rec.id)), tr, min_cosine=0.9999) == []
                checked += 1
        assert checked == N
        if out.plan.namespace_strategy == "native":
            for ns in out.plan.source_schema.namespaces:
                assert dst.count(dst_coll, ns) == src.count(src_coll, ns)
    finally:
        for conn, coll in ((src, src_coll), (dst, dst_coll)):
            try:
                conn.drop_collection(coll)
            finally:
                conn.close()
