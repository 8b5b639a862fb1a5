"""Compare records the way a user checks a migration: ids exactly, vectors by cosine, metadata by value.

The rules are tolerant only where databases legitimately differ and strict everywhere else:

* **Numbers** compare numerically (``3 == 3.0``; floats with ``rel_tol``, because some databases store
  ``float32``), but a ``bool`` only equals a ``bool`` (``True`` is not ``1``), and a number never equals a string.
* **Nulls**: a key holding ``None`` equals a missing key when ``null_equals_missing`` (columnar stores fill
  absent keys with null; others drop null keys). A ``None`` never equals ``""``, ``0``, ``[]`` or ``{}``.
* **Dense vectors** need cosine >= ``min_cosine`` (databases such as Qdrant normalise cosine vectors on write);
  with ``exact_vectors`` they must also be element-wise equal within ``1e-5``, which catches scaling bugs.
* **Sparse vectors**: identical indices, values within ``1e-5``.
* **Ids** compare exactly: an ``int`` id that comes back as ``"7"`` is a real difference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vectormigrate.model import JSONValue, RecordId, SparseVector, VectorRecord

__all__ = ["assert_records_match", "cosine", "metadata_diff", "record_diff"]

_MISSING = object()


def cosine(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cosine similarity of two vectors, computed in float64 (1.0 for two zero vectors).

    Args:
        a: first vector.
        b: second vector.

    Returns:
        The cosine, or ``-1.0`` when the shapes differ.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        return -1.0
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    if nx == 0.0 or ny == 0.0:
        return 1.0 if nx == ny else 0.0
    return float(x @ y) / (nx * ny)


def metadata_diff(expected: JSONValue, actual: JSONValue, *, rel_tol: float = 1e-6,
                  null_equals_missing: bool = True, path: str = "metadata") -> list[str]:
    """Every difference between two metadata values, each as ``"path: expected X, got Y"``.

    Args:
        expected: what was written.
        actual: what came back.
        rel_tol: relative tolerance for floats.
        null_equals_missing: treat a ``None`` value and an absent key as equal.
        path: where ``expected`` lives, for the messages.

    Returns:
        The differences; empty when the values match.
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        if type(expected) is not type(actual) or expected != actual:
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        return []
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        if math.isnan(expected) and math.isnan(actual):
            return []
        if math.isclose(expected, actual, rel_tol=rel_tol, abs_tol=1e-12):
            return []
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        diffs: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            exp = expected.get(key, _MISSING)
            got = actual.get(key, _MISSING)
            sub = f"{path}.{key}"
            if exp is _MISSING or got is _MISSING:
                present = got if exp is _MISSING else exp
                if null_equals_missing and present is None:
                    continue
                what = "missing" if got is _MISSING else f"unexpected key with {got!r}"
                diffs.append(f"{sub}: expected {exp!r}, got {what}" if got is _MISSING else f"{sub}: {what}")
                continue
            diffs.extend(metadata_diff(exp, got, rel_tol=rel_tol, null_equals_missing=null_equals_missing, path=sub))
        return diffs
    if _is_list(expected) and _is_list(actual):
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} items {expected!r}, got {len(actual)} items {actual!r}"]
        out: list[str] = []
        for i, (exp, got) in enumerate(zip(expected, actual, strict=True)):
            out.extend(metadata_diff(exp, got, rel_tol=rel_tol, null_equals_missing=null_equals_missing,
                                     path=f"{path}[{i}]"))
        return out
    if type(expected) is type(actual) and expected == actual:
        return []
    return [f"{path}: expected {expected!r} ({type(expected).__name__}), got {actual!r} ({type(actual).__name__})"]


def record_diff(expected: VectorRecord, actual: VectorRecord, *, min_cosine: float = 0.9999,
                exact_vectors: bool = True, rel_tol: float = 1e-6, null_equals_missing: bool = True) -> list[str]:
    """Every difference between a written record and the one read back.

    Args:
        expected: the record as written.
        actual: the record as read or fetched.
        min_cosine: lowest acceptable cosine between a written and a read dense vector.
        exact_vectors: also require element-wise equality (false for databases that normalise or quantise).
        rel_tol: relative tolerance for float metadata.
        null_equals_missing: see :func:`metadata_diff`.

    Returns:
        The differences, each prefixed with the record id; empty when the records match.
    """
    rid = f"record {expected.id!r}"
    diffs: list[str] = []
    if expected.id != actual.id or type(expected.id) is not type(actual.id):
        diffs.append(f"{rid}: id came back as {actual.id!r} ({type(actual.id).__name__})")
    if set(expected.vectors) != set(actual.vectors):
        diffs.append(f"{rid}: dense vectors {sorted(expected.vectors)} came back as {sorted(actual.vectors)}")
    for name in sorted(set(expected.vectors) & set(actual.vectors)):
        exp = np.asarray(expected.vectors[name], dtype=np.float32)
        got = np.asarray(actual.vectors[name])
        if got.shape != exp.shape:
            diffs.append(f"{rid}: vector {name!r} has shape {got.shape}, expected {exp.shape}")
            continue
        cos = cosine(exp, got)
        if cos < min_cosine:
            diffs.append(f"{rid}: vector {name!r} has cosine {cos:.6f} to the written one (need >= {min_cosine})")
        elif exact_vectors and not np.allclose(exp, got.astype(np.float32), rtol=1e-5, atol=1e-6):
            diffs.append(f"{rid}: vector {name!r} differs element-wise (max abs diff "
                         f"{float(np.max(np.abs(exp - got))):.3g}) although its direction is right")
    exp_sparse = {k: v for k, v in expected.sparse.items() if v is not None}
    got_sparse = {k: v for k, v in actual.sparse.items() if v is not None}
    if set(exp_sparse) != set(got_sparse):
        diffs.append(f"{rid}: sparse vectors {sorted(exp_sparse)} came back as {sorted(got_sparse)}")
    for name in sorted(set(exp_sparse) & set(got_sparse)):
        diffs.extend(f"{rid}: {d}" for d in _sparse_diff(name, exp_sparse[name], got_sparse[name]))
    diffs.extend(f"{rid}: {d}" for d in metadata_diff(expected.metadata, actual.metadata, rel_tol=rel_tol,
                                                      null_equals_missing=null_equals_missing))
    return diffs


def assert_records_match(expected: Iterable[VectorRecord], actual: Iterable[VectorRecord], *,
                         min_cosine: float = 0.9999, exact_vectors: bool = True, rel_tol: float = 1e-6,
                         null_equals_missing: bool = True, check_namespace: bool = False) -> None:
    """Assert that ``actual`` holds exactly the ``expected`` records (any order), listing what differs.

    Args:
        expected: the records as written.
        actual: the records as read or fetched.
        min_cosine: see :func:`record_diff`.
        exact_vectors: see :func:`record_diff`.
        rel_tol: see :func:`record_diff`.
        null_equals_missing: see :func:`metadata_diff`.
        check_namespace: also require the same ``namespace`` on each record.

    Raises:
        AssertionError: with up to 20 differences, when anything differs.
    """
    want = _by_id(list(expected))
    got_list = list(actual)
    got = _by_id(got_list)
    diffs: list[str] = []
    if len(got) != len(got_list):
        diffs.append(f"{len(got_list) - len(got)} duplicate id(s) in the records read back")
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing:
        diffs.append(f"{len(missing)} record(s) missing, e.g. {[want[k].id for k in missing[:5]]}")
    if extra:
        diffs.append(f"{len(extra)} unexpected record(s), e.g. {[got[k].id for k in extra[:5]]}")
    for key, rec in want.items():
        other = got.get(key)
        if other is None:
            continue
        diffs.extend(record_diff(rec, other, min_cosine=min_cosine, exact_vectors=exact_vectors, rel_tol=rel_tol,
                                 null_equals_missing=null_equals_missing))
        if check_namespace and rec.namespace != other.namespace:
            diffs.append(f"record {rec.id!r}: namespace {other.namespace!r}, expected {rec.namespace!r}")
    if diffs:
        more = f"\n  ... and {len(diffs) - 20} more" if len(diffs) > 20 else ""
        raise AssertionError("records differ:\n  " + "\n  ".join(diffs[:20]) + more)


def _by_id(records: Sequence[VectorRecord]) -> dict[tuple[str, RecordId], VectorRecord]:
    # Keyed by (type, id): an int id 7 and a str id "7" are different records.
    return {(type(r.id).__name__, r.id): r for r in records}


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _sparse_diff(name: str, exp: SparseVector, got: SparseVector) -> list[str]:
    ei, gi = np.asarray(exp.indices, dtype=np.int64), np.asarray(got.indices, dtype=np.int64)
    if not np.array_equal(ei, gi):
        return [f"sparse vector {name!r} has indices {gi[:8].tolist()}... ({gi.size}), expected "
                f"{ei[:8].tolist()}... ({ei.size})"]
    if not np.allclose(np.asarray(exp.values, dtype=np.float32), np.asarray(got.values, dtype=np.float32),
                       rtol=1e-5, atol=1e-7):
        return [f"sparse vector {name!r} values differ"]
    return []
