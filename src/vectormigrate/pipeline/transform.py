"""Executes a plan on one batch: ids, vector names, namespaces, metadata coercions, and record checks.

Vectors stay numpy matrices throughout: the only per-record Python work is on ids and metadata. A record that
cannot be represented (NaN/inf vector, wrong dimension, id too long, metadata too large) is taken out of the
batch and returned as a :class:`DeadRecord` naming the record, the field and the fix; the rest moves on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vectormigrate.errors import VectorMigrateError
from vectormigrate.model import Batch, RecordId, SparseVector, id_kind_of, json_type
from vectormigrate.pipeline.plan import MigrationPlan

__all__ = ["ID_NAMESPACE", "DeadRecord", "Transformer", "split_batch", "split_sized", "uuid5_for"]

ID_NAMESPACE = uuid.UUID("6f1c3a52-9d0e-5b7a-8c43-5e2f7a1b9d30")
"""Fixed namespace for UUIDv5 ids: the same source id always maps to the same target id, in every run."""


def uuid5_for(source_id: RecordId) -> str:
    """The deterministic UUIDv5 a non-representable source id becomes (type-tagged: 1 and "1" differ)."""
    tag = "i" if isinstance(source_id, int) else "s"
    return str(uuid.uuid5(ID_NAMESPACE, f"{tag}:{source_id}"))


@dataclass(frozen=True)
class DeadRecord:
    """A record that was not written, and why."""

    record_id: RecordId
    namespace: str | None
    field: str
    reason: str
    hint: str

    def to_json(self) -> dict[str, Any]:
        """One dead-letter JSONL line (without the batch sequence, which the runner adds)."""
        return {"record_id": self.record_id, "namespace": self.namespace, "field": self.field,
                "reason": self.reason, "hint": self.hint}


class Transformer:
    """Turns source batches into target batches according to a plan."""

    def __init__(self, plan: MigrationPlan) -> None:
        self.plan = plan
        self.caps = plan.target_capabilities
        self._dims = {v.name: v.dim for v in plan.source_schema.vectors}
        self._renames = dict(plan.field_renames)
        self._renamer: Callable[[Sequence[str]], dict[str, str]] | None = None
        self._checked_keys: set[str] = set(plan.field_renames)

    def target_id(self, source_id: RecordId) -> RecordId:
        """The id a source record has in the target (rollback and validation recompute it)."""
        strategy = self.plan.id_strategy
        if strategy == "stringify" and isinstance(source_id, int):
            return str(source_id)
        if strategy in ("keep", "stringify"):
            if self.caps.ascii_ids and isinstance(source_id, str) and not source_id.isascii():
                return uuid5_for(source_id)
            return source_id
        if strategy == "canonical_uuid" and id_kind_of(source_id) == "uuid":
            return str(uuid.UUID(str(source_id)))
        if strategy == "canonical_uuid" and isinstance(source_id, int) and source_id >= 0:
            return source_id
        return uuid5_for(source_id)

    def target_namespace(self, source_namespace: str | None) -> str | None:
        """Where a source namespace lands in the target (``None``: no namespace)."""
        return source_namespace if self.plan.namespace_strategy == "native" else None

    def apply(self, batch: Batch) -> tuple[Batch, list[DeadRecord]]:
        """The target batch, and the records that had to be left out."""
        dead: list[DeadRecord] = []
        bad: set[int] = set()
        if len(batch) and batch.vectors.keys() < self.plan.vector_map.keys():
            # A record without a vector the collection requires (e.g. an object inserted without one).
            missing = ", ".join(repr(v) for v in sorted(self.plan.vector_map.keys() - batch.vectors.keys()))
            dead = [DeadRecord(rid, batch.namespace, "vector", f"has no dense vector {missing}",
                               "give the record its vector in the source, then `sync` or `resume`")
                    for rid in batch.ids]
            empty = Batch(ids=[], vectors={}, namespace=self.target_namespace(batch.namespace), cursor=batch.cursor)
            return empty, dead
        for name, mat in batch.vectors.items():
            if name not in self.plan.vector_map:
                continue
            want = self._dims.get(name)
            if want is not None and mat.shape[1] != want:
                for i, rid in enumerate(batch.ids):
                    bad.add(i)
                    dead.append(DeadRecord(rid, batch.namespace, _vector_field(name),
                                           f"has {mat.shape[1]} dimensions, the collection has {want}",
                                           "fix the source record's vector"))
                continue
            finite = np.isfinite(mat).all(axis=1)
            if not finite.all():
                for i in np.flatnonzero(~finite).tolist():
                    if i not in bad:
                        bad.add(i)
                        dead.append(DeadRecord(batch.ids[i], batch.namespace, _vector_field(name),
                                               "contains NaN or infinite values",
                                               "re-embed the record or fix its vector in the source, then `resume`"))
        new_ids: list[RecordId] = []
        new_meta: list[dict[str, Any]] = []
        keep: list[int] = []
        for i, rid in enumerate(batch.ids):
            if i in bad:
                continue
            tid = self.target_id(rid)
            problem = self._check_id(rid, tid)
            if problem:
                dead.append(DeadRecord(rid, batch.namespace, "id", problem[0], problem[1]))
                continue
            meta = self.expected_metadata(batch.metadata[i], rid, tid, batch.namespace)
            if self.caps.max_metadata_bytes is not None:
                size = len(json.dumps(meta, ensure_ascii=False, default=str).encode())
                if size > self.caps.max_metadata_bytes:
                    dead.append(DeadRecord(rid, batch.namespace, "metadata",
                                           f"metadata is {size} bytes; {self.plan.target_type} allows "
                                           f"{self.caps.max_metadata_bytes} per record",
                                           "shorten large text fields in the source record"))
                    continue
            keep.append(i)
            new_ids.append(tid)
            new_meta.append(meta)
        pos = np.asarray(keep, dtype=np.intp)
        whole = len(keep) == len(batch)
        vectors = {self.plan.vector_map[k]: (v if whole else v[pos])
                   for k, v in batch.vectors.items() if k in self.plan.vector_map}
        sparse: dict[str, list[SparseVector | None]] = {
            self.plan.sparse_map[k]: [col[i] for i in keep] for k, col in batch.sparse.items() if k in self.plan.sparse_map
        }
        out = Batch(ids=new_ids, vectors=vectors, sparse=sparse, metadata=new_meta,
                    namespace=self.target_namespace(batch.namespace), cursor=batch.cursor)
        return out, dead

    def _list_ok(self, value: list[Any]) -> bool:
        """Whether the target stores this list as a list (else it becomes JSON text)."""
        allowed = self.caps.list_element_types
        if allowed is None:
            return "list" in self.caps.metadata_types
        return all(json_type(v) in allowed for v in value)

    def _rename_keys(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Apply the plan's renames; a key the plan never saw (schemaless payloads) gets the target's same rule."""
        unseen = [k for k in meta if k not in self._checked_keys]
        if unseen:
            if self._renamer is None:
                from vectormigrate.connectors.registry import get_class

                try:
                    self._renamer = get_class(self.plan.target_type).field_renames
                except VectorMigrateError:
                    self._renamer = _noop
            self._renames.update(self._renamer(unseen))
            self._checked_keys.update(unseen)
        if not self._renames:
            return meta
        return {self._renames.get(k, k): v for k, v in meta.items()}

    def _check_id(self, rid: RecordId, tid: RecordId) -> tuple[str, str] | None:
        """Why the target id of ``rid`` cannot be written (None: it can)."""
        if self.plan.id_strategy == "keep":
            kind = id_kind_of(tid)
            if kind not in self.caps.id_kinds and not (kind == "uuid" and "str" in self.caps.id_kinds):
                return (f"{self.plan.target_type} cannot hold {kind} id {rid!r}",
                        f"write into a collection whose ids are strings, or use a target that accepts {kind} ids")
        max_len = self.caps.max_id_length
        if max_len and isinstance(tid, str) and len(tid.encode()) > max_len:
            return (f"id is {len(tid.encode())} bytes; {self.plan.target_type} allows {max_len}",
                    "shorten the id in the source")
        return None

    def expected_metadata(self, meta: dict[str, Any], rid: RecordId, tid: RecordId,
                          namespace: str | None) -> dict[str, Any]:
        """The metadata a source record has in the target: the plan's coercions plus the id/namespace fields."""
        out = dict(meta)
        if self.plan.flatten_nested:
            out = dict(_flatten(out))
        if self.plan.drop_nulls:
            out = {k: v for k, v in out.items() if v is not None}
        if self.plan.stringify_lists:
            out = {k: (json.dumps(v, ensure_ascii=False) if isinstance(v, list) and not self._list_ok(v) else v)
                   for k, v in out.items()}
        out = self._rename_keys(out)
        if self.plan.id_strategy in ("uuid5", "stringify") or (tid != rid and self.plan.id_field not in out):
            out[self.plan.id_field] = rid
        if self.plan.namespace_strategy == "metadata_field" and namespace is not None:
            out[self.plan.namespace_field] = namespace
        return out


def _noop(names: Sequence[str]) -> dict[str, str]:
    return {}


def _vector_field(name: str) -> str:
    return f"vector {name!r}" if name else "vector"


def _flatten(value: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            yield from _flatten(item, f"{name}.")
        else:
            yield name, item


def split_sized(batch: Batch, *, max_records: int, max_bytes: int) -> list[tuple[Batch, int]]:
    """Cut a batch into pieces under a record cap AND a byte cap (counting records alone breaks request limits).

    Greedy in read order over per-record sizes computed once; returns each piece with its size. A record larger
    than the cap goes alone (the target then names it if it refuses it).
    """
    n = len(batch)
    if n == 0:
        return []
    sizes = batch.record_sizes().tolist()
    cuts: list[tuple[int, int, int]] = []
    start = acc = 0
    for i, size in enumerate(sizes):
        if i > start and (i - start >= max_records or acc + size > max_bytes):
            cuts.append((start, i, acc))
            start, acc = i, 0
        acc += size
    cuts.append((start, n, acc))
    if len(cuts) == 1:
        return [(batch, acc)]
    return [(batch.slice(a, b), size) for a, b, size in cuts]


def split_batch(batch: Batch, *, max_records: int, max_bytes: int) -> list[Batch]:
    """:func:`split_sized` without the sizes."""
    return [piece for piece, _ in split_sized(batch, max_records=max_records, max_bytes=max_bytes)]
