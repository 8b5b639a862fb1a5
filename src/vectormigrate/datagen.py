"""Deterministic synthetic collections that look like real embedding data, generated as streaming batches.

Used by ``vectormigrate demo``, the benchmarks and the conformance suite, so it is fast (vectors are made per
block in numpy, never element by element in Python) and streams: memory stays bounded by one block plus one
batch, whatever ``n`` is.

What the data looks like:

* **Dense vectors** are points around a few dozen cluster centres (centre + Gaussian noise, ``float32``). The
  centres share a common direction, as real embedding spaces are anisotropic: neighbours are meaningful, so
  ANN-parity checks have something to find.
* **Ids** are a function of the record's number only (``seed`` changes the data, not the ids): ``doc-000123``,
  ``123``, or a UUID4-shaped string hashed from the number. Two calls with different seeds therefore upsert the
  same records, and ``start`` shifts the id range.
* **Sparse vectors** have 10-50 non-zeros with strictly increasing indices below ~30,000 (a BERT-sized vocabulary).
* **Metadata** ``"rich"`` has every common JSON type: unicode strings, ints (negative too), floats, bools, lists of
  strings, lists of floats, a nested object, and two keys that are ``null`` in some records (the key is present
  with the value ``None``). ``"simple"`` is ``{title, n, category}``; ``"none"`` is ``{}``.
* **Namespaces** split the records into contiguous, near-equal ranges; every batch lives in one namespace.

Everything is generated in fixed blocks of 1024 records seeded by ``(seed, stream, block)``, so the records do
not depend on ``batch_size``: ``make_records(n)`` equals the concatenation of ``iter_batches(n, batch_size=b)`` for
any ``b``.
"""

from __future__ import annotations

import hashlib
import math
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from vectormigrate.model import (
    Batch,
    CollectionSchema,
    FieldSpec,
    IdKind,
    JSONValue,
    Metric,
    RecordId,
    SparseSpec,
    SparseVector,
    VectorRecord,
    VectorSpec,
)

__all__ = [
    "DEFAULT_DIM",
    "MetadataMode",
    "centres",
    "iter_batches",
    "make_id",
    "make_records",
    "make_schema",
    "metadata_fields",
]

MetadataMode = Literal["rich", "simple", "none"]
Dims: TypeAlias = int | Mapping[str, int]

DEFAULT_DIM = 64
_BLOCK = 1024
_SPARSE_MAX_NNZ = 50
_SPARSE_MIN_NNZ = 10
_SPARSE_MAX_GAP = 600  # 50 gaps of at most 600 keep indices below 30,000

_TITLES = (
    "Café ☕", "東京タワー", "naïve résumé", "Ünïcödé ✓", "Москва", "🚀 launch day 🎉", "plain ascii title",
    "Zürich → Genève", "مرحبا بالعالم", "emoji 👍🏽 with skin tone", "Ελληνικά", "한국어 문서", "São Paulo",
    "quarterly report", "naïve café in 東京",
)
_CATEGORIES = ("news", "science", "sports", "finance", "travel", "food", "tech", "art")
_TAGS = ("red", "green", "blue", "urgent", "draft", "reviewed", "日本", "façade", "ü-tag", "🔥")
_AUTHORS = ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Émilie du Châtelet", "李白", "Сергей", "Zoë")
_LANGS = ("en", "fr", "de", "ja", "ru", "ar", "ko")
_NOTES = ("see appendix", "à revoir", "要確認", "ok 👌")


def metadata_fields(metadata: MetadataMode = "rich") -> tuple[FieldSpec, ...]:
    """The metadata fields a ``metadata`` mode generates, as a schema declares them.

    Args:
        metadata: ``"rich"``, ``"simple"`` or ``"none"``.

    Returns:
        One :class:`FieldSpec` per key; ``nullable`` is true exactly for the keys that can be ``None``.
    """
    if metadata == "none":
        return ()
    simple = (
        FieldSpec("title", "string", nullable=False, max_length=256),
        FieldSpec("n", "int", nullable=False),
        FieldSpec("category", "string", nullable=False, max_length=64),
    )
    if metadata == "simple":
        return simple
    return (
        *simple,
        FieldSpec("score", "float", nullable=False),
        FieldSpec("flag", "bool", nullable=False),
        FieldSpec("tags", "list", nullable=False, element_type="string"),
        FieldSpec("weights", "list", nullable=False, element_type="float"),
        FieldSpec("nested", "object", nullable=False),
        FieldSpec("note", "string", nullable=True, max_length=256),
        FieldSpec("rating", "float", nullable=True),
    )


def make_schema(
    name: str,
    *,
    dim: Dims = DEFAULT_DIM,
    id_kind: IdKind = "str",
    vectors: Sequence[str] = ("",),
    sparse: Sequence[str] = (),
    metric: Metric = Metric.COSINE,
    namespaces: Sequence[str] = (),
    metadata: MetadataMode = "rich",
    fields: Sequence[FieldSpec] | None = None,
) -> CollectionSchema:
    """The schema of a collection that :func:`iter_batches` with the same arguments fills.

    Args:
        name: collection name.
        dim: one dimension for every dense vector, or ``{vector name: dim}``.
        id_kind: ``"str"``, ``"int"`` or ``"uuid"``.
        vectors: dense vector names (``""`` is the single unnamed vector).
        sparse: sparse vector names.
        metric: the metric of every dense vector.
        namespaces: namespaces the records are spread across.
        metadata: the metadata mode, used for ``fields`` when they are not given.
        fields: metadata fields; defaults to :func:`metadata_fields` of ``metadata``.

    Returns:
        The schema (``count`` is left unset).
    """
    dims = _dims(dim, vectors)
    return CollectionSchema(
        name=name,
        vectors=tuple(VectorSpec(v, dims[v], metric) for v in vectors),
        sparse_vectors=tuple(SparseSpec(s) for s in sparse),
        fields=tuple(fields) if fields is not None else metadata_fields(metadata),
        id_kind=id_kind,
        namespaces=tuple(namespaces),
    )


def make_id(index: int, id_kind: IdKind = "str") -> RecordId:
    """The id of record number ``index`` (independent of the seed).

    Args:
        index: the record's number (``start`` + position).
        id_kind: ``"str"`` gives ``doc-000123``, ``"int"`` gives ``123``, ``"uuid"`` gives a UUID4-shaped string
            hashed from the number.

    Returns:
        The id.
    """
    if id_kind == "int":
        return index
    if id_kind == "str":
        return f"doc-{index:06d}"
    digest = hashlib.blake2b(index.to_bytes(8, "little", signed=True), digest_size=16, person=b"vm-datagen").digest()
    return str(uuid.UUID(bytes=digest, version=4))


def centres(dim: int, *, seed: int = 0, clusters: int = 32, vector: str = "") -> npt.NDArray[np.float32]:
    """The unit-norm cluster centres the dense vector ``vector`` is generated around.

    Args:
        dim: vector dimension.
        seed: the data seed.
        clusters: number of centres.
        vector: the dense vector's name (each name has its own centres).

    Returns:
        A ``(clusters, dim)`` float32 matrix of unit rows.
    """
    rng = np.random.default_rng([seed, _stream(f"dense:{vector}"), 1, dim])
    common = rng.standard_normal(dim)
    common /= np.linalg.norm(common)
    # A shared direction makes the space anisotropic like real embeddings (unrelated texts still have cosine > 0).
    raw = rng.standard_normal((clusters, dim)) / math.sqrt(dim) + 0.4 * common
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    return raw.astype(np.float32)


def iter_batches(
    n: int,
    *,
    batch_size: int = 1000,
    dim: Dims = DEFAULT_DIM,
    id_kind: IdKind = "str",
    vectors: Sequence[str] = ("",),
    sparse: Sequence[str] = (),
    namespaces: Sequence[str] = (),
    seed: int = 0,
    metadata: MetadataMode = "rich",
    start: int = 0,
    clusters: int = 32,
    noise: float = 0.35,
) -> Iterator[Batch]:
    """Stream ``n`` synthetic records as :class:`Batch` es, deterministically for a seed.

    Args:
        n: number of records.
        batch_size: records per batch (at most).
        dim: one dimension for every dense vector, or ``{vector name: dim}``.
        id_kind: ``"str"``, ``"int"`` or ``"uuid"`` (see :func:`make_id`).
        vectors: dense vector names (``""`` is the single unnamed vector); may be empty.
        sparse: sparse vector names.
        namespaces: spread the records over these namespaces (contiguous ranges, one namespace per batch).
        seed: data seed; the ids do not depend on it.
        metadata: ``"rich"`` (every JSON type, unicode, nulls), ``"simple"`` or ``"none"``.
        start: number of the first record (shifts the ids).
        clusters: number of cluster centres per dense vector.
        noise: norm of the noise added to a unit centre (0.35 gives a mean cosine to the centre near 0.94).

    Yields:
        Batches with ``cursor`` unset.

    Raises:
        ValueError: for a negative ``n``, ``batch_size`` below 1, a dim below 1 or fewer than one cluster.
    """
    if n < 0 or batch_size < 1 or clusters < 1:
        msg = f"need n >= 0, batch_size >= 1, clusters >= 1; got n={n}, batch_size={batch_size}, clusters={clusters}"
        raise ValueError(msg)
    gen = _Generator(_dims(dim, vectors), tuple(sparse), metadata, seed, clusters, noise)
    for ns, lo, hi in _spans(n, tuple(namespaces)):
        for a in range(lo, hi, batch_size):
            yield gen.batch(start + a, start + min(a + batch_size, hi), id_kind, ns)


def make_records(
    n: int,
    *,
    dim: Dims = DEFAULT_DIM,
    id_kind: IdKind = "str",
    vectors: Sequence[str] = ("",),
    sparse: Sequence[str] = (),
    namespaces: Sequence[str] = (),
    seed: int = 0,
    metadata: MetadataMode = "rich",
    start: int = 0,
    clusters: int = 32,
    noise: float = 0.35,
) -> list[VectorRecord]:
    """The records :func:`iter_batches` yields with the same arguments, as a list of rows.

    Args:
        n: number of records.
        dim: see :func:`iter_batches`.
        id_kind: see :func:`iter_batches`.
        vectors: see :func:`iter_batches`.
        sparse: see :func:`iter_batches`.
        namespaces: see :func:`iter_batches`.
        seed: see :func:`iter_batches`.
        metadata: see :func:`iter_batches`.
        start: see :func:`iter_batches`.
        clusters: see :func:`iter_batches`.
        noise: see :func:`iter_batches`.

    Returns:
        ``n`` records with their namespace set.
    """
    out: list[VectorRecord] = []
    for batch in iter_batches(n, batch_size=_BLOCK, dim=dim, id_kind=id_kind, vectors=vectors, sparse=sparse,
                              namespaces=namespaces, seed=seed, metadata=metadata, start=start, clusters=clusters,
                              noise=noise):
        out.extend(batch.records())
    return out


# --- internals -----------------------------------------------------------------------------------------------


def _dims(dim: Dims, vectors: Sequence[str]) -> dict[str, int]:
    dims = dict.fromkeys(vectors, dim) if isinstance(dim, int) else {v: int(dim[v]) for v in vectors}
    bad = {k: d for k, d in dims.items() if d < 1}
    if bad:
        msg = f"vector dimensions must be >= 1, got {bad}"
        raise ValueError(msg)
    return dims


def _stream(label: str) -> int:
    """A stable integer per data stream, so adding a vector or field leaves the other streams unchanged."""
    return zlib.crc32(label.encode())


def _spans(n: int, namespaces: tuple[str, ...]) -> list[tuple[str | None, int, int]]:
    if not namespaces:
        return [(None, 0, n)]
    k = len(namespaces)
    spans: list[tuple[str | None, int, int]] = []
    lo = 0
    for j, ns in enumerate(namespaces):
        hi = lo + n // k + (1 if j < n % k else 0)
        spans.append((ns, lo, hi))
        lo = hi
    return spans


@dataclass(slots=True)
class _Block:
    """Records ``[k * _BLOCK, (k + 1) * _BLOCK)``: vectors as matrices, metadata as pre-drawn columns."""

    dense: dict[str, npt.NDArray[np.float32]]
    sparse: dict[str, tuple[list[int], npt.NDArray[np.uint32], npt.NDArray[np.float32]]]
    columns: dict[str, list[JSONValue]]


class _Generator:
    def __init__(self, dims: dict[str, int], sparse: tuple[str, ...], metadata: MetadataMode, seed: int,
                 clusters: int, noise: float) -> None:
        self.dims = dims
        self.sparse = sparse
        self.metadata = metadata
        self.seed = seed
        self.noise = noise
        self.centres = {v: centres(d, seed=seed, clusters=clusters, vector=v) for v, d in dims.items()}
        self._cache: dict[int, _Block] = {}

    def _block(self, k: int) -> _Block:
        blk = self._cache.get(k)
        if blk is None:
            if len(self._cache) >= 2:  # batches walk forward: the two latest blocks are all we ever need
                self._cache.pop(min(self._cache))
            blk = self._cache[k] = self._make_block(k)
        return blk

    def _make_block(self, k: int) -> _Block:
        dense: dict[str, npt.NDArray[np.float32]] = {}
        for name, dim in self.dims.items():
            rng = np.random.default_rng([self.seed, _stream(f"dense:{name}"), 2, k])
            cen = self.centres[name]
            assign = rng.integers(0, cen.shape[0], _BLOCK)
            mat = rng.standard_normal((_BLOCK, dim), dtype=np.float32)
            mat *= np.float32(self.noise / math.sqrt(dim))
            mat += cen[assign]
            dense[name] = mat
        sparse: dict[str, tuple[list[int], npt.NDArray[np.uint32], npt.NDArray[np.float32]]] = {}
        for name in self.sparse:
            rng = np.random.default_rng([self.seed, _stream(f"sparse:{name}"), 2, k])
            nnz = rng.integers(_SPARSE_MIN_NNZ, _SPARSE_MAX_NNZ + 1, _BLOCK).tolist()
            # Positive gaps, cumulated: strictly increasing (sorted, distinct) indices without a per-row unique().
            gaps = rng.integers(1, _SPARSE_MAX_GAP + 1, (_BLOCK, _SPARSE_MAX_NNZ))
            idx = np.cumsum(gaps, axis=1).astype(np.uint32)
            val = rng.exponential(0.5, (_BLOCK, _SPARSE_MAX_NNZ)).astype(np.float32) + np.float32(0.01)
            sparse[name] = (nnz, idx, val)
        return _Block(dense, sparse, self._columns(k))

    def _columns(self, k: int) -> dict[str, list[JSONValue]]:
        if self.metadata == "none":
            return {}
        rng = np.random.default_rng([self.seed, _stream("metadata"), 2, k])
        b = _BLOCK
        cols: dict[str, list[JSONValue]] = {
            "title": rng.integers(0, len(_TITLES), b).tolist(),
            "n": rng.integers(-1000, 1_000_000, b).tolist(),
            "category": rng.integers(0, len(_CATEGORIES), b).tolist(),
        }
        if self.metadata == "rich":
            cols |= {
                "score": rng.random(b).round(6).tolist(),
                "flag": (rng.random(b) < 0.5).tolist(),
                "tag_start": rng.integers(0, len(_TAGS), b).tolist(),
                "tag_count": rng.integers(1, 4, b).tolist(),
                "weights": (rng.random((b, 3)) * 2 - 1).round(4).tolist(),
                "author": rng.integers(0, len(_AUTHORS), b).tolist(),
                "author_id": rng.integers(1, 10_000, b).tolist(),
                "lang": rng.integers(0, len(_LANGS), b).tolist(),
                "verified": (rng.random(b) < 0.7).tolist(),
                "note": np.where(rng.random(b) < 0.25, -1, rng.integers(0, len(_NOTES), b)).tolist(),
                "rating": np.where(rng.random(b) < 0.15, np.nan, rng.integers(0, 51, b) / 10).tolist(),
            }
        return cols

    def batch(self, lo: int, hi: int, id_kind: IdKind, namespace: str | None) -> Batch:
        parts: list[tuple[_Block, int, int, int]] = []  # (block, first offset, last offset, first record number)
        i = lo
        while i < hi:
            k = i // _BLOCK
            a = i - k * _BLOCK
            b = min(hi - k * _BLOCK, _BLOCK)
            parts.append((self._block(k), a, b, i))
            i = k * _BLOCK + b
        vectors = {
            name: (np.concatenate([p[0].dense[name][p[1]:p[2]] for p in parts]) if parts
                   else np.zeros((0, dim), dtype=np.float32))
            for name, dim in self.dims.items()
        }
        sparse: dict[str, list[SparseVector | None]] = {name: [] for name in self.sparse}
        metadata: list[dict[str, JSONValue]] = []
        for blk, a, b, first in parts:
            for name, (nnz, idx, val) in blk.sparse.items():
                col = sparse[name]
                for r in range(a, b):
                    c = nnz[r]
                    # Already sorted and in range: skip SparseVector.of's argsort (hot path).
                    col.append(SparseVector(idx[r, :c].copy(), val[r, :c].copy()))
            metadata.extend(self._metadata(blk.columns, a, b, first))
        return Batch(ids=[make_id(j, id_kind) for j in range(lo, hi)], vectors=vectors, sparse=sparse,
                     metadata=metadata, namespace=namespace)

    def _metadata(self, cols: dict[str, list[JSONValue]], a: int, b: int, first: int) -> list[dict[str, JSONValue]]:
        if self.metadata == "none":
            return [{} for _ in range(a, b)]
        title, num, cat = cols["title"], cols["n"], cols["category"]
        if self.metadata == "simple":
            return [{"title": f"{_TITLES[title[r]]} #{first + r - a}", "n": num[r], "category": _CATEGORIES[cat[r]]}
                    for r in range(a, b)]
        out: list[dict[str, JSONValue]] = []
        score, flag, weights = cols["score"], cols["flag"], cols["weights"]
        tag_start, tag_count = cols["tag_start"], cols["tag_count"]
        author, author_id, lang, verified = cols["author"], cols["author_id"], cols["lang"], cols["verified"]
        note, rating = cols["note"], cols["rating"]
        tags2 = _TAGS + _TAGS  # slicing a doubled pool gives wrap-around tag lists without modulo per element
        for r in range(a, b):
            rt = rating[r]
            out.append({
                "title": f"{_TITLES[title[r]]} #{first + r - a}",
                "n": num[r],
                "category": _CATEGORIES[cat[r]],
                "score": score[r],
                "flag": flag[r],
                "tags": list(tags2[tag_start[r]:tag_start[r] + tag_count[r]]),
                "weights": list(weights[r]),
                "nested": {"author": {"name": _AUTHORS[author[r]], "id": author_id[r]}, "lang": _LANGS[lang[r]],
                           "verified": verified[r]},
                "note": _NOTES[note[r]] if note[r] >= 0 else None,
                "rating": None if math.isnan(rt) else rt,  # NaN marks the null draws
            })
        return out
