"""--validate-every: a target that silently corrupts writes is caught during the copy, the run stops with the
evidence, the bad batch is not checkpointed, and resume (once the cause is fixed) re-copies it."""

from __future__ import annotations

import pytest

from vectormigrate.connectors.base import ConnectionConfig
from vectormigrate.connectors.memory import MemoryConnector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.model import Batch
from vectormigrate.pipeline.validate import ValidationOptions
from vectormigrate.service import Endpoint, MigrationSpec, migrate, resume, validate
from vectormigrate.state.store import StateStore

CORRUPT = {"on": True}


class CorruptingMemory(MemoryConnector):
    """Flips the sign of every vector of the 5th write (a silently broken target), while CORRUPT is on."""

    name = "corrupting"
    writes = 0

    def write_batch(self, collection: str, batch: Batch) -> None:
        type(self).writes += 1
        if CORRUPT["on"] and type(self).writes == 5:
            batch = Batch(ids=batch.ids, vectors={k: -v for k, v in batch.vectors.items()}, sparse=batch.sparse,
                          metadata=batch.metadata, namespace=batch.namespace)
        super().write_batch(collection, batch)


def test_corruption_is_caught_while_copying_and_resume_repairs(store: StateStore,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORMIGRATE_CONNECTORS", f"corrupting={__name__}:CorruptingMemory")
    src = MemoryConnector(ConnectionConfig(url="src"))
    src.create_collection(make_schema("docs", dim=8))
    for b in iter_batches(500, batch_size=100, dim=8):
        src.write_batch("docs", b)
    spec = MigrationSpec("m", Endpoint("memory", "docs", url="src"), Endpoint("corrupting", "docs", url="dst"),
                         batch_size=50, workers=1, validate_every=1)
    out = migrate(spec, store)
    assert out.result.status == "failed" and out.result.error is not None
    assert out.result.error.kind == "validation"
    assert "batch 5" in out.result.error.message and "cosine" in out.result.error.message
    assert out.result.error.fields["mismatches"][0]["record_id"].startswith("doc-")
    ck = store.checkpoint("m")
    assert ck is not None and ck.batch_seq == 4  # the corrupted batch was not checkpointed
    CORRUPT["on"] = False
    assert resume("m", store).result.status == "completed"
    assert validate("m", store, ValidationOptions(full=True)).passed
