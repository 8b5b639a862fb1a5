"""Every ordered pair of engine forms: migrate a collection through the service and check the target record by
record: count, ids (or their UUIDv5 mapping), vectors (cosine >= 0.9999, norms where kept), sparse vectors and
metadata equal after the plan's stated coercions, and per-namespace counts where namespaces survive."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import pytest
from forms import FORMS, Form

from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.pipeline.compare import compare_record
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.service import Endpoint, MigrationSpec, migrate
from vectormigrate.state.store import StateStore

N = 240
PAIRS = [
    pytest.param(a, b, id=f"{a}->{b}", marks=[*FORMS[a].marks, *FORMS[b].marks])
    for a, b in itertools.product(FORMS, FORMS) if a != b
]


def seed(conn: Connector, form: Form, name: str, sparse: bool) -> None:
    caps = conn.capabilities
    id_kind = "str" if "str" in caps.id_kinds else "uuid"
    namespaces = ("en", "fr") if caps.namespace_model != "none" else ()
    sp = ("kw",) if sparse else ()
    conn.create_collection(make_schema(name, dim=32, id_kind=id_kind, sparse=sp, namespaces=namespaces))
    for b in iter_batches(N, batch_size=100, dim=32, id_kind=id_kind, sparse=sp, namespaces=namespaces, seed=11):
        conn.write_batch(name, b)


@pytest.mark.parametrize(("src_name", "dst_name"), PAIRS)
def test_migration_preserves_everything(tmp_path: Path, src_name: str, dst_name: str) -> None:
    src_form, dst_form = FORMS[src_name], FORMS[dst_name]
    (tmp_path / "s").mkdir()
    (tmp_path / "t").mkdir()
    src_url, dst_url = src_form.url(tmp_path / "s"), dst_form.url(tmp_path / "t")
    suffix = uuid.uuid4().hex[:8]
    src_coll, dst_coll = f"src_{suffix}", f"dst_{suffix}"
    sparse = src_form.sparse and dst_form.sparse
    src = open_connector(src_form.type, ConnectionConfig(url=src_url))
    dst = open_connector(dst_form.type, ConnectionConfig(url=dst_url))
    try:
        seed(src, src_form, src_coll, sparse)
        spec = MigrationSpec("rt", Endpoint(src_form.type, src_coll, url=src_url),
                             Endpoint(dst_form.type, dst_coll, url=dst_url), batch_size=64)
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
