"""The synthetic data generator: deterministic, realistic, streaming, and covering every metadata type."""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
import pytest

from vectormigrate import datagen
from vectormigrate.model import Batch, SparseVector


def _flatten(batches: list[Batch]) -> tuple[list[Any], dict[str, np.ndarray], list[dict[str, Any]], list[Any]]:
    ids = [i for b in batches for i in b.ids]
    names = list(batches[0].vectors) if batches else []
    vecs = {n: np.concatenate([b.vectors[n] for b in batches]) for n in names}
    meta = [m for b in batches for m in b.metadata]
    sparse = [s for b in batches for col in b.sparse.values() for s in col]
    return ids, vecs, meta, sparse


def test_same_seed_same_data_other_seed_other_data_same_ids() -> None:
    kw: dict[str, Any] = {"dim": 16, "sparse": ("kw",), "batch_size": 100}
    a = _flatten(list(datagen.iter_batches(300, seed=7, **kw)))
    b = _flatten(list(datagen.iter_batches(300, seed=7, **kw)))
    c = _flatten(list(datagen.iter_batches(300, seed=8, **kw)))
    assert a[0] == b[0] == c[0], "ids depend on the record number only"
    assert np.array_equal(a[1][""], b[1][""])
    assert a[2] == b[2]
    assert all(x == y for x, y in zip(a[3], b[3], strict=True))
    assert not np.allclose(a[1][""], c[1][""])
    assert a[2] != c[2]


def test_records_do_not_depend_on_batch_size() -> None:
    rows = datagen.make_records(1300, dim=8, sparse=("s",))   # crosses the 1024-record block boundary
    for size in (1, 333, 1024, 5000):
        batches = list(datagen.iter_batches(1300, batch_size=size, dim=8, sparse=("s",)))
        assert all(len(b) <= size for b in batches)
        ids, vecs, meta, sparse = _flatten(batches)
        assert ids == [r.id for r in rows]
        assert np.array_equal(vecs[""], np.stack([r.vectors[""] for r in rows]))
        assert meta == [r.metadata for r in rows]
        assert sparse == [r.sparse["s"] for r in rows]


def test_mutating_a_batch_does_not_change_later_batches() -> None:
    fresh = _flatten(list(datagen.iter_batches(1500, batch_size=100, dim=8)))
    seen = []
    for batch in datagen.iter_batches(1500, batch_size=100, dim=8):
        seen.append(batch.vectors[""].copy())
        batch.vectors[""] *= 0  # a consumer normalising in place must not poison the generator's block cache
        batch.metadata[0]["nested"]["lang"] = "xx"
    assert np.array_equal(np.concatenate(seen), fresh[1][""])


def test_shapes_dtypes_and_named_dims() -> None:
    batches = list(datagen.iter_batches(250, batch_size=100, dim={"text": 24, "image": 8}, vectors=("text", "image")))
    assert [len(b) for b in batches] == [100, 100, 50]
    for b in batches:
        assert b.vectors["text"].shape == (len(b), 24) and b.vectors["image"].shape == (len(b), 8)
        for mat in b.vectors.values():
            assert mat.dtype == np.float32 and mat.flags.c_contiguous
            assert np.isfinite(mat).all()
        assert b.cursor is None and b.namespace is None
    assert list(datagen.iter_batches(0)) == []
    assert datagen.make_records(0) == []


def test_no_dense_vector_at_all() -> None:
    (batch,) = datagen.iter_batches(5, vectors=(), sparse=("s",))
    assert batch.vectors == {} and len(batch.sparse["s"]) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n": -1}, "n >= 0"), ({"n": 1, "batch_size": 0}, "batch_size"), ({"n": 1, "dim": 0}, "dimensions"),
     ({"n": 1, "clusters": 0}, "clusters")],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        list(datagen.iter_batches(**kwargs))


def test_id_kinds() -> None:
    assert [r.id for r in datagen.make_records(3, dim=4)] == ["doc-000000", "doc-000001", "doc-000002"]
    assert [r.id for r in datagen.make_records(3, dim=4, id_kind="int", start=10)] == [10, 11, 12]
    uuids = [r.id for r in datagen.make_records(2000, dim=4, id_kind="uuid", metadata="none")]
    assert len(set(uuids)) == 2000
    for u in uuids[:50]:
        assert isinstance(u, str)
        parsed = uuid.UUID(u)
        assert parsed.version == 4 and str(parsed) == u
    assert datagen.make_id(5, "uuid") == uuids[5]
    assert datagen.make_id(123_456_7, "str") == "doc-1234567"


def test_vectors_cluster_around_centres() -> None:
    dim = 64
    (batch,) = datagen.iter_batches(1000, batch_size=1000, dim=dim, seed=3, metadata="none")
    cen = datagen.centres(dim, seed=3)
    assert cen.shape == (32, dim)

    def nearest_centre_cosine(mat: np.ndarray) -> float:
        unit = mat / np.linalg.norm(mat, axis=1, keepdims=True)
        return float((unit @ cen.T).max(axis=1).mean())

    random = np.random.default_rng(0).standard_normal((1000, dim)).astype(np.float32)
    clustered, baseline = nearest_centre_cosine(batch.vectors[""]), nearest_centre_cosine(random)
    assert clustered > 0.9, clustered
    assert baseline < 0.5, baseline
    # Neighbours are meaningful: a point's nearest other point is far closer than a random pair.
    unit = batch.vectors[""] / np.linalg.norm(batch.vectors[""], axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -1)
    assert float(sims.max(axis=1).mean()) > float(sims[sims > -1].mean()) + 0.4
    # Every centre is used.
    assert len(set((unit @ cen.T).argmax(axis=1).tolist())) == 32


def test_sparse_vectors_look_like_term_weights() -> None:
    records = datagen.make_records(500, dim=4, sparse=("kw",), metadata="none")
    nnz = [r.sparse["kw"].indices.size for r in records]
    assert min(nnz) >= 10 and max(nnz) <= 50 and len(set(nnz)) > 20
    for r in records:
        sv = r.sparse["kw"]
        assert isinstance(sv, SparseVector)
        assert sv.indices.dtype == np.uint32 and sv.values.dtype == np.float32
        assert np.all(np.diff(sv.indices.astype(np.int64)) > 0), "indices strictly increasing"
        assert int(sv.indices.max()) <= 30_000 and float(sv.values.min()) > 0
        assert SparseVector.of(sv.indices, sv.values) == sv


def _types(value: Any, out: set[str]) -> None:
    out.add(type(value).__name__)
    if isinstance(value, dict):
        for v in value.values():
            _types(v, out)
    if isinstance(value, list):
        out.add("list[" + ",".join(sorted({type(v).__name__ for v in value})) + "]")
        for v in value:
            _types(v, out)


def test_rich_metadata_has_every_type_nulls_and_unicode() -> None:
    meta = [r.metadata for r in datagen.make_records(2000, dim=4)]
    seen: set[str] = set()
    for m in meta:
        _types(m, seen)
    assert {"str", "int", "float", "bool", "list[str]", "list[float]", "dict", "NoneType"} <= seen
    assert not any(t.startswith(("int64", "float64", "bool_", "str_")) for t in seen), f"numpy scalars leaked: {seen}"
    assert any(isinstance(m["nested"]["author"], dict) for m in meta), "nested objects two levels deep"
    assert {m["flag"] for m in meta} == {True, False}
    assert min(m["n"] for m in meta) < 0 < max(m["n"] for m in meta)
    for key in ("note", "rating"):
        nulls = sum(m[key] is None for m in meta)
        assert 0.05 * len(meta) < nulls < 0.5 * len(meta), f"{key} null in {nulls} records"
    text = json.dumps(meta, ensure_ascii=False)
    assert json.loads(text) == meta
    chars = set(text)
    assert {"é", "☕", "東", "京"} <= chars
    assert any(ord(c) > 0xFFFF for c in chars), "astral-plane emoji present"
    assert set(meta[0]) == {f.name for f in datagen.metadata_fields("rich")}
    nullable = {f.name for f in datagen.metadata_fields("rich") if f.nullable}
    assert nullable == {k for m in meta for k, v in m.items() if v is None}


def test_simple_and_no_metadata() -> None:
    simple = datagen.make_records(5, dim=4, metadata="simple")
    assert all(set(r.metadata) == {"title", "n", "category"} for r in simple)
    assert all(r.metadata == {} for r in datagen.make_records(5, dim=4, metadata="none"))
    assert datagen.metadata_fields("none") == ()


def test_namespaces_split_contiguously_one_per_batch() -> None:
    batches = list(datagen.iter_batches(10, batch_size=3, dim=4, namespaces=("a", "b", "c")))
    assert [(b.namespace, len(b)) for b in batches] == [("a", 3), ("a", 1), ("b", 3), ("c", 3)]
    assert [i for b in batches for i in b.ids] == [datagen.make_id(i) for i in range(10)]
    rows = datagen.make_records(10, dim=4, namespaces=("a", "b", "c"))
    assert [r.namespace for r in rows] == ["a"] * 4 + ["b"] * 3 + ["c"] * 3


def test_schema_matches_the_batches() -> None:
    schema = datagen.make_schema("docs", dim={"": 12, "img": 6}, vectors=("", "img"), sparse=("kw",), id_kind="int",
                                 namespaces=("x",))
    assert [(v.name, v.dim, v.metric.value) for v in schema.vectors] == [("", 12, "cosine"), ("img", 6, "cosine")]
    assert [s.name for s in schema.sparse_vectors] == ["kw"]
    assert schema.id_kind == "int" and schema.namespaces == ("x",)
    (batch,) = datagen.iter_batches(4, dim={"": 12, "img": 6}, vectors=("", "img"), sparse=("kw",), id_kind="int",
                                    namespaces=("x",))
    assert {k: v.shape[1] for k, v in batch.vectors.items()} == {v.name: v.dim for v in schema.vectors}
    assert {f.name for f in schema.fields} == set(batch.metadata[0])
    assert datagen.make_schema("s", metadata="simple").fields == datagen.metadata_fields("simple")
