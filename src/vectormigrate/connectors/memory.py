"""The in-memory connector: the executable reference of the contract.

Collections live in a process-wide store keyed by ``--*-url`` (default ``"default"``), so a source and a
target opened with the same URL see the same data. Everything is exact: it accepts every id kind, named and
sparse vectors, nested and null metadata, and namespaces, and scans in a stable order (namespace, then id).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from vectormigrate.connectors.base import Connector, Searchable
from vectormigrate.errors import CollectionNotFound, RecordError
from vectormigrate.model import (
    Batch,
    Capabilities,
    CollectionSchema,
    Cursor,
    Metric,
    RecordId,
    VectorRecord,
    id_kind_of,
)

__all__ = ["MemoryConnector", "reset_memory_store"]


@dataclass
class _Collection:
    schema: CollectionSchema
    records: dict[str, dict[RecordId, VectorRecord]] = field(default_factory=dict)
    """namespace ("" when none) -> id -> record"""


_STORES: dict[str, dict[str, _Collection]] = {}
_LOCK = threading.RLock()


def reset_memory_store(url: str | None = None) -> None:
    """Forget every in-memory collection (of one URL, or all): for tests."""
    with _LOCK:
        if url is None:
            _STORES.clear()
        else:
            _STORES.pop(url, None)


def _sort_key(rid: RecordId) -> tuple[int, int, str]:
    return (0, rid, "") if isinstance(rid, int) else (1, 0, rid)


class MemoryConnector(Connector, Searchable):
    """Reference connector over a Python dict."""

    name: ClassVar[str] = "memory"
    capabilities: ClassVar[Capabilities] = Capabilities(
        id_kinds=frozenset({"int", "uuid", "str"}),
        max_batch_records=10_000,
        max_batch_bytes=64 * 1024 * 1024,
        named_vectors=True,
        sparse_vectors=True,
        metrics=frozenset(Metric),
        metadata_types=frozenset({"string", "int", "float", "bool", "list", "object", "json", "datetime"}),
        namespace_model="namespace",
        stable_scan_order=True,
        idempotent_upsert=True,
    )

    @property
    def _store(self) -> dict[str, _Collection]:
        with _LOCK:
            return _STORES.setdefault(self.config.url or "default", {})

    def _get(self, collection: str) -> _Collection:
        try:
            return self._store[collection]
        except KeyError:
            msg = f"memory collection {collection!r} does not exist"
            raise CollectionNotFound(msg, hint="check --source-index / --target-index", collection=collection) from None

    def exists(self, collection: str) -> bool:
        return collection in self._store

    def describe(self, collection: str) -> CollectionSchema:
        col = self._get(collection)
        with _LOCK:
            namespaces = tuple(sorted(ns for ns, recs in col.records.items() if ns and recs))
            total = sum(len(r) for r in col.records.values())
        return replace(col.schema, name=collection, namespaces=namespaces or col.schema.namespaces, count=total)

    def count(self, collection: str, namespace: str | None = None) -> int:
        col = self._get(collection)
        with _LOCK:
            if namespace is not None:
                return len(col.records.get(namespace, {}))
            return sum(len(r) for r in col.records.values())

    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        col = self._get(collection)
        dims = {v.name: v.dim for v in col.schema.vectors}
        with _LOCK:
            namespaces = sorted(col.records)
        start_ns = (after or {}).get("namespace")
        last_key = (after or {}).get("after")
        for ns in namespaces:
            if start_ns is not None and ns < start_ns:
                continue
            with _LOCK:
                ids = sorted(col.records.get(ns, {}), key=_sort_key)
            if start_ns is not None and ns == start_ns and last_key is not None:
                bound = (int(last_key[0]), int(last_key[1]), str(last_key[2]))
                ids = [i for i in ids if _sort_key(i) > bound]
            for start in range(0, len(ids), batch_size):
                chunk = ids[start:start + batch_size]
                with _LOCK:
                    recs = [col.records[ns][i] for i in chunk if i in col.records.get(ns, {})]
                if not recs:
                    continue
                batch = Batch.from_records(recs, namespace=ns or None, dims=dims)
                # from_records copies only the top level: the caller must own nested values too (a transform
                # editing a nested dict in place would otherwise edit the store).
                batch.metadata = [_clone(m) for m in batch.metadata]
                batch.cursor = {"namespace": ns, "after": list(_sort_key(recs[-1].id))}
                yield batch

    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        col = self._get(collection)
        out: list[VectorRecord] = []
        with _LOCK:
            spaces = [namespace or ""] if namespace is not None else sorted(col.records)
            for rid in ids:
                for ns in spaces:
                    rec = col.records.get(ns, {}).get(rid)
                    if rec is not None:
                        out.append(_copy(rec))
                        break
        return out

    def create_collection(self, schema: CollectionSchema) -> None:
        with _LOCK:
            self._store[schema.name] = _Collection(schema=schema)

    def drop_collection(self, collection: str) -> None:
        with _LOCK:
            self._store.pop(collection, None)

    def write_batch(self, collection: str, batch: Batch) -> None:
        col = self._get(collection)
        kinds = self.capabilities.id_kinds
        for rid in batch.ids:
            if id_kind_of(rid) not in kinds:
                msg = f"record {rid!r}: id kind {id_kind_of(rid)} is not accepted"
                raise RecordError(msg, record_id=rid, field="id")
        with _LOCK:
            space = col.records.setdefault(batch.namespace or "", {})
            for rec in batch.records():
                space[rec.id] = _copy(rec)

    def delete(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        col = self._get(collection)
        with _LOCK:
            spaces = [namespace or ""] if namespace is not None else list(col.records)
            for ns in spaces:
                space = col.records.get(ns, {})
                for rid in ids:
                    space.pop(rid, None)

    def search(self, collection: str, vector_name: str, query: Sequence[float], top_k: int,
               namespace: str | None = None) -> list[tuple[RecordId, float]]:
        col = self._get(collection)
        metric = col.schema.vector(vector_name).metric
        with _LOCK:
            spaces = [namespace or ""] if namespace is not None else list(col.records)
            recs = [r for ns in spaces for r in col.records.get(ns, {}).values()]
        if not recs:
            return []
        mat = np.stack([r.vectors[vector_name] for r in recs]).astype(np.float32)
        q = np.asarray(query, dtype=np.float32)
        if metric is Metric.COSINE:
            scores = (mat @ q) / (np.linalg.norm(mat, axis=1) * np.linalg.norm(q) + 1e-12)
        elif metric is Metric.DOT:
            scores = mat @ q
        else:
            scores = -np.linalg.norm(mat - q, axis=1)
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [(recs[i].id, float(scores[i])) for i in order.tolist()]


def _copy(rec: VectorRecord) -> VectorRecord:
    return VectorRecord(
        id=rec.id,
        vectors={k: np.array(v, dtype=np.float32, copy=True) for k, v in rec.vectors.items()},
        sparse=dict(rec.sparse),
        metadata=_clone(rec.metadata),
        namespace=rec.namespace,
    )


def _clone(value: Any) -> Any:
    """Deep copy of JSON-like metadata: dicts and lists are copied, scalars shared (several times faster than
    ``copy.deepcopy``, which matters on the read path)."""
    if isinstance(value, dict):
        return {k: _clone(v) if isinstance(v, dict | list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) if isinstance(v, dict | list) else v for v in value]
    return value
