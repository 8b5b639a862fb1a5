"""Schema translation: ids, vectors, namespaces, metadata coercions, blocking problems."""

from __future__ import annotations

import uuid
from dataclasses import replace

import numpy as np

from vectormigrate.connectors.memory import MemoryConnector
from vectormigrate.model import Batch, CollectionSchema, FieldSpec, Metric, SparseSpec, VectorSpec
from vectormigrate.pipeline.plan import build_plan
from vectormigrate.pipeline.transform import Transformer, split_batch, uuid5_for

MEM = MemoryConnector.capabilities
QDRANT_LIKE = replace(MEM, id_kinds=frozenset({"int", "uuid"}), namespace_model="none", normalizes_cosine=True)
FLAT = replace(MEM, nested_metadata=False, null_metadata=False, sparse_vectors=False, named_vectors=False,
               max_metadata_bytes=200, max_id_length=10)


def schema(**kw: object) -> CollectionSchema:
    base = CollectionSchema("src", vectors=(VectorSpec("", 4),), id_kind="str",
                            fields=(FieldSpec("meta", "object"), FieldSpec("n", "int", nullable=True)), count=10)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_string_ids_into_uuid_only_target_become_uuid5_with_original_kept() -> None:
    plan = build_plan("memory", schema(), MEM, "qdrant", QDRANT_LIKE, "dst")
    assert plan.id_strategy == "uuid5" and plan.target_schema.id_kind == "uuid"
    assert any("UUIDv5" in w for w in plan.warnings)
    t = Transformer(plan)
    b = Batch(ids=["doc-1", "doc-2"], vectors={"": np.ones((2, 4), np.float32)}, metadata=[{"n": 1}, {"n": 2}])
    out, dead = t.apply(b)
    assert not dead
    assert out.ids == [uuid5_for("doc-1"), uuid5_for("doc-2")]
    assert uuid.UUID(str(out.ids[0])).version == 5
    assert out.metadata[0] == {"n": 1, "_source_id": "doc-1"}
    assert t.target_id("doc-1") == out.ids[0]  # rollback/validation recompute the same id


def test_int_and_uuid_ids_kept_where_accepted() -> None:
    assert build_plan("memory", schema(id_kind="int"), MEM, "q", QDRANT_LIKE, "d").id_strategy == "keep"
    p = build_plan("memory", schema(id_kind="uuid"), MEM, "q", QDRANT_LIKE, "d")
    t = Transformer(p)
    upper = "6F1C3A52-9D0E-5B7A-8C43-5E2F7A1B9D30"
    assert t.target_id(upper) == upper.lower()


def test_namespaces_native_or_metadata_field() -> None:
    src = schema(namespaces=("en", "fr"))
    native = build_plan("memory", src, MEM, "memory", MEM, "d")
    assert native.namespace_strategy == "native" and native.target_schema.namespaces == ("en", "fr")
    flat = build_plan("memory", src, MEM, "qdrant", QDRANT_LIKE, "d")
    assert flat.namespace_strategy == "metadata_field"
    out, _ = Transformer(flat).apply(Batch(ids=[1], vectors={"": np.ones((1, 4), np.float32)}, namespace="fr"))
    assert out.namespace is None and out.metadata[0]["_namespace"] == "fr"


def test_coercions_for_flat_targets_and_dead_letters() -> None:
    plan = build_plan("memory", schema(), MEM, "flat", FLAT, "d")
    assert plan.flatten_nested and plan.drop_nulls
    assert any("dot notation" in w for w in plan.warnings)
    t = Transformer(plan)
    vecs = np.ones((4, 4), np.float32)
    vecs[1, 2] = np.nan
    b = Batch(ids=["a", "b", "waytoolongid", "d"], vectors={"": vecs},
              metadata=[{"meta": {"x": {"y": 1}}, "n": None}, {}, {}, {"text": "x" * 500}])
    out, dead = t.apply(b)
    assert out.ids == ["a"] and out.metadata == [{"meta.x.y": 1}]
    reasons = {d.record_id: (d.field, d.reason) for d in dead}
    assert reasons["b"] == ("vector", "contains NaN or infinite values")
    assert reasons["waytoolongid"][0] == "id"
    assert reasons["d"][0] == "metadata" and "bytes" in reasons["d"][1]


def test_blocking_problems_are_all_collected() -> None:
    src = schema(vectors=(VectorSpec("a", 4), VectorSpec("b", 8, Metric.DOT)), sparse_vectors=(SparseSpec("s"),),
                 fields=(FieldSpec("_source_id", "string"),))
    target_caps = replace(FLAT, metrics=frozenset({Metric.COSINE}), id_kinds=frozenset({"uuid"}))
    plan = build_plan("memory", src, MEM, "flat", target_caps, "d")
    text = " | ".join(plan.errors)
    assert "one dense vector" in text and "sparse vector 's'" in text and "_source_id" in text


def test_existing_target_vector_name_is_used_and_mismatch_reported() -> None:
    existing = CollectionSchema("d", vectors=(VectorSpec("emb", 4),), id_kind="str", count=5)
    plan = build_plan("memory", schema(), MEM, "memory", MEM, "d", existing_target=existing)
    assert plan.vector_map == {"": "emb"} and plan.target_exists
    assert any("already holds 5" in w for w in plan.warnings)


def test_split_batch_respects_records_and_bytes() -> None:
    b = Batch(ids=list(range(100)), vectors={"": np.zeros((100, 256), np.float32)})
    parts = split_batch(b, max_records=30, max_bytes=10**9)
    assert [len(p) for p in parts] == [30, 30, 30, 10]
    parts = split_batch(b, max_records=1000, max_bytes=256 * 4 * 10 + 200)
    assert all(p.nbytes <= 256 * 4 * 10 + 200 for p in parts) and sum(len(p) for p in parts) == 100
    assert [i for p in parts for i in p.ids] == list(range(100))


PINECONE_LIKE = replace(MEM, id_kinds=frozenset({"str"}), named_vectors=False, nested_metadata=False,
                        null_metadata=False, list_element_types=frozenset({"string"}), ascii_ids=True,
                        max_id_length=512)


def test_int_ids_into_string_only_target_are_stringified_with_original_kept() -> None:
    plan = build_plan("milvus", schema(id_kind="int"), MEM, "pinecone", PINECONE_LIKE, "d")
    assert plan.id_strategy == "stringify" and not plan.errors
    out, dead = Transformer(plan).apply(Batch(ids=[7, -3], vectors={"": np.ones((2, 4), np.float32)}))
    assert not dead and out.ids == ["7", "-3"]
    assert out.metadata[0]["_source_id"] == 7 and out.metadata[1]["_source_id"] == -3


def test_non_ascii_ids_become_uuid5_only_where_needed() -> None:
    plan = build_plan("memory", schema(), MEM, "pinecone", PINECONE_LIKE, "d")
    assert plan.id_strategy == "keep" and any("ASCII" in w for w in plan.warnings)
    t = Transformer(plan)
    out, dead = t.apply(Batch(ids=["plain", "café-☕"], vectors={"": np.ones((2, 4), np.float32)}))
    assert not dead and out.ids == ["plain", uuid5_for("café-☕")]
    assert "_source_id" not in out.metadata[0] and out.metadata[1]["_source_id"] == "café-☕"


def test_lists_the_target_cannot_hold_become_json_text() -> None:
    plan = build_plan("memory", schema(), MEM, "pinecone", PINECONE_LIKE, "d")
    out, _ = Transformer(plan).apply(Batch(ids=["a"], vectors={"": np.ones((1, 4), np.float32)},
                                           metadata=[{"tags": ["x", "y"], "weights": [0.5, 1], "mixed": ["a", 1]}]))
    assert out.metadata[0] == {"tags": ["x", "y"], "weights": "[0.5, 1]", "mixed": '["a", 1]'}


def test_field_renames_are_planned_visibly_and_applied_to_unseen_keys_too() -> None:
    src = schema(fields=(FieldSpec("id", "string"), FieldSpec("ok", "int")))
    plan = build_plan("memory", src, MEM, "weaviate", MEM, "D", field_renames={"id": "id_"},
                      collection_problem=None)
    assert any(m.source_field == "id" and m.target_field == "id_" for m in plan.field_mappings)
    assert any("renamed" in w for w in plan.warnings)
    out, _ = Transformer(plan).apply(Batch(ids=["a"], vectors={"": np.ones((1, 4), np.float32)},
                                           metadata=[{"id": 1, "ok": 2}]))
    assert out.metadata[0] == {"id_": 1, "ok": 2}
    blocked = build_plan("memory", src, MEM, "weaviate", MEM, "docs", collection_problem="bad name; use Docs")
    assert blocked.errors == ["bad name; use Docs"]


def test_records_without_a_required_vector_are_dead_lettered() -> None:
    plan = build_plan("memory", schema(), MEM, "memory", MEM, "d")
    out, dead = Transformer(plan).apply(Batch(ids=["a", "b"], metadata=[{}, {}]))
    assert len(out) == 0 and [d.record_id for d in dead] == ["a", "b"]
    assert dead[0].field == "vector" and "no dense vector" in dead[0].reason
