"""Record-level comparison of a source record with its target copy, after the plan's coercions.

Vectors compare by cosine (Qdrant normalises cosine collections, floats drift in JSON), and, where the target
keeps magnitudes (dot / euclidean, or a non-normalising target), by relative norm too, so a scaled vector is
caught. Metadata compares after applying the plan's own coercions to the source side; numbers compare by
value (``1 == 1.0``: several databases store every number as a float64).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vectormigrate.model import Metric, RecordId, SparseVector, VectorRecord
from vectormigrate.pipeline.transform import Transformer

__all__ = ["DEFAULT_MIN_COSINE", "Mismatch", "compare_record", "cosine", "metadata_equal"]

DEFAULT_MIN_COSINE = 0.999
_NORM_RTOL = 1e-3


@dataclass(frozen=True)
class Mismatch:
    """One difference: which record, which field, both values."""

    record_id: RecordId
    field: str
    source: Any
    target: Any
    detail: str

    def to_json(self) -> dict[str, Any]:
        """JSON row for reports."""
        return {"record_id": self.record_id, "field": self.field, "source": _short(self.source),
                "target": _short(self.target), "detail": self.detail}


def cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Cosine similarity in float64 (1.0 for two zero vectors)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na, nb = float(np.linalg.norm(a64)), float(np.linalg.norm(b64))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(a64 @ b64 / (na * nb))


def compare_record(src: VectorRecord, tgt: VectorRecord | None, transformer: Transformer, *,
                   min_cosine: float = DEFAULT_MIN_COSINE) -> list[Mismatch]:
    """Every difference between a source record and what the plan says its target copy must be."""
    if tgt is None:
        return [Mismatch(src.id, "record", "present", "missing", "the record is not in the target")]
    plan = transformer.plan
    out: list[Mismatch] = []
    metrics = {v.name: v.metric for v in plan.source_schema.vectors}
    for name, vec in src.vectors.items():
        tname = plan.vector_map.get(name)
        if tname is None:
            continue
        got = tgt.vectors.get(tname)
        label = f"vector {tname!r}" if tname else "vector"
        if got is None:
            out.append(Mismatch(src.id, label, "present", "missing", "the vector is missing in the target"))
            continue
        if got.shape != vec.shape:
            out.append(Mismatch(src.id, label, vec.shape, got.shape, "dimensions differ"))
            continue
        cos = cosine(vec, got)
        if cos < min_cosine:
            out.append(Mismatch(src.id, label, vec[:4].tolist(), got[:4].tolist(),
                                f"cosine similarity {cos:.6f} < {min_cosine}"))
            continue
        normalised = plan.target_capabilities.normalizes_cosine and metrics.get(name) is Metric.COSINE
        if not normalised:
            ns, nt = float(np.linalg.norm(vec)), float(np.linalg.norm(got))
            if not math.isclose(ns, nt, rel_tol=_NORM_RTOL, abs_tol=1e-6):
                out.append(Mismatch(src.id, label, round(ns, 6), round(nt, 6), "vector norms differ"))
    for name, sv in src.sparse.items():
        tname = plan.sparse_map.get(name)
        if tname is None:
            continue
        got_sparse = tgt.sparse.get(tname)
        if not _sparse_equal(sv, got_sparse):
            out.append(Mismatch(src.id, f"sparse {tname!r}", _sparse_json(sv), _sparse_json(got_sparse),
                                "sparse vectors differ"))
    expected = transformer.expected_metadata(src.metadata, src.id, transformer.target_id(src.id), src.namespace)
    for key in sorted(set(expected) | set(tgt.metadata), key=str):
        a, b = expected.get(key, _MISSING), tgt.metadata.get(key, _MISSING)
        if not metadata_equal(a, b):
            out.append(Mismatch(src.id, f"metadata.{key}", a if a is not _MISSING else "(absent)",
                                b if b is not _MISSING else "(absent)", "metadata differs"))
    return out


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


_MISSING: Any = _Missing()


def metadata_equal(a: Any, b: Any) -> bool:
    """Structural equality where numbers compare by value and floats within float32/float64 rounding."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(metadata_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(metadata_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def _sparse_equal(a: SparseVector | None, b: SparseVector | None) -> bool:
    if a is None or b is None:
        return a is b or (a is not None and a.indices.size == 0) or (b is not None and b.indices.size == 0)
    return bool(np.array_equal(a.indices, b.indices) and np.allclose(a.values, b.values, rtol=1e-5, atol=1e-7))


def _sparse_json(s: SparseVector | None) -> Any:
    return None if s is None else {"indices": s.indices[:8].tolist(), "values": s.values[:8].tolist()}


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "..."
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 8:
        return [*list(value[:8]), "..."]
    return value
