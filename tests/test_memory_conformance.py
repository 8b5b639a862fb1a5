"""The conformance suite against the in-memory reference connector."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.memory import MemoryConnector, reset_memory_store
from vectormigrate.model import Batch, CollectionSchema, Cursor, RecordId, SparseVector, VectorRecord
from vectormigrate.testing.compare import cosine, metadata_diff, record_diff
from vectormigrate.testing.conformance import ConnectorConformance


class TestMemoryConformance(ConnectorConformance):
    connector_name = "memory"

    @pytest.fixture
    def connector(self) -> Iterator[MemoryConnector]:
        url = f"conformance-{uuid.uuid4().hex}"
        with MemoryConnector(ConnectionConfig(url=url)) as conn:
            yield conn
        reset_memory_store(url)

    @pytest.fixture
    def collection_name(self) -> str:
        return "conformance"

    def reopen(self, connector: Connector) -> Connector:
        return type(connector)(connector.config)


# --- the suite has teeth: connectors with one classic bug each must fail the matching case ---------------


class _StringifiesNumbers(MemoryConnector):
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        for b in super().read_batches(collection, batch_size=batch_size, after=after):
            b.metadata = [{k: str(v) if isinstance(v, int | float) else v for k, v in m.items()} for m in b.metadata]
            yield b


class _BoolsAsInts(MemoryConnector):
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        for b in super().read_batches(collection, batch_size=batch_size, after=after):
            b.metadata = [{k: int(v) if isinstance(v, bool) else v for k, v in m.items()} for m in b.metadata]
            yield b


class _DropsNested(MemoryConnector):
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        for b in super().read_batches(collection, batch_size=batch_size, after=after):
            b.metadata = [{k: v for k, v in m.items() if not isinstance(v, dict)} for m in b.metadata]
            yield b


class _ScalesVectors(MemoryConnector):
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        for b in super().read_batches(collection, batch_size=batch_size, after=after):
            b.vectors = {k: v * 2 for k, v in b.vectors.items()}
            yield b


class _Float16Vectors(MemoryConnector):
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        for b in super().read_batches(collection, batch_size=batch_size, after=after):
            noise = np.random.default_rng(0).standard_normal(b.vectors[""].shape).astype(np.float32) * 0.02
            b.vectors = {"": b.vectors[""] + noise}
            yield b


class _IntIdsAsStrings(MemoryConnector):
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        for b in super().read_batches(collection, batch_size=batch_size, after=after):
            b.ids = [str(i) for i in b.ids]
            yield b


class _ResumeSkipsOne(MemoryConnector):
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        it = super().read_batches(collection, batch_size=batch_size, after=after)
        if after is not None:
            first = next(it, None)
            if first is not None:
                yield first.slice(1, len(first))
        yield from it


class _ResumeRestarts(MemoryConnector):
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        yield from super().read_batches(collection, batch_size=batch_size, after=None)


class _AppendsOnWrite(MemoryConnector):
    """Upsert that keeps the old record under a new key (duplicates)."""

    def write_batch(self, collection: str, batch: Batch) -> None:
        existing = {r.id for r in self.fetch(collection, batch.ids, batch.namespace)}
        if existing:
            batch = Batch(ids=[f"{i}#dup" if i in existing else i for i in batch.ids], vectors=batch.vectors,
                          sparse=batch.sparse, metadata=batch.metadata, namespace=batch.namespace)
        super().write_batch(collection, batch)


class _IgnoresNamespaceOnFetch(MemoryConnector):
    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        return super().fetch(collection, ids, None)


class _FetchReturnsMissingAsEmpty(MemoryConnector):
    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        found = {r.id: r for r in super().fetch(collection, ids, namespace)}
        return [found.get(i, VectorRecord(id=i)) for i in ids]


class _WrongErrorForMissing(MemoryConnector):
    def describe(self, collection: str) -> CollectionSchema:
        if not self.exists(collection):
            raise KeyError(collection)
        return super().describe(collection)


class _NfcNormalises(MemoryConnector):
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        for b in super().read_batches(collection, batch_size=batch_size, after=after):
            b.metadata = [{k: unicodedata.normalize("NFC", v) if isinstance(v, str) else v for k, v in m.items()}
                          for m in b.metadata]
            yield b


class _LosesSparseOrder(MemoryConnector):
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        for b in super().read_batches(collection, batch_size=batch_size, after=after):
            b.sparse = {k: [SparseVector(s.indices, s.values[::-1].copy()) if s is not None else None for s in col]
                        for k, col in b.sparse.items()}
            yield b


class _SharesStoredMetadata(MemoryConnector):
    """Hands out the stored metadata dicts themselves (the aliasing bug memory.py had)."""

    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        store = self._store[collection].records
        for b in super().read_batches(collection, batch_size=batch_size, after=after):
            b.metadata = [store[b.namespace or ""][i].metadata for i in b.ids]
            yield b


MUTANTS = [
    (_SharesStoredMetadata, "test_results_are_owned_by_the_caller"),
    (_StringifiesNumbers, "test_write_then_read_everything"),
    (_BoolsAsInts, "test_write_then_read_everything"),
    (_DropsNested, "test_write_then_read_everything"),
    (_ScalesVectors, "test_write_then_read_everything"),
    (_Float16Vectors, "test_write_then_read_everything"),
    (_IntIdsAsStrings, "test_id_kinds[int]"),
    (_ResumeSkipsOne, "test_resume_same_connector"),
    (_ResumeRestarts, "test_resume_new_connector"),
    (_AppendsOnWrite, "test_upsert_overwrites"),
    (_IgnoresNamespaceOnFetch, "test_namespaces"),
    (_FetchReturnsMissingAsEmpty, "test_fetch_by_ids"),
    (_WrongErrorForMissing, "test_missing_collection"),
    (_NfcNormalises, "test_unicode_metadata"),
    (_LosesSparseOrder, "test_sparse_vectors"),
]


@pytest.mark.parametrize(("mutant", "case"), MUTANTS, ids=[m.__name__.strip("_") for m, _ in MUTANTS])
def test_the_suite_catches_a_broken_connector(mutant: type[MemoryConnector], case: str) -> None:
    suite = TestMemoryConformance()
    name, _, param = case.partition("[")
    kwargs = {"id_kind": param.rstrip("]")} if param else {}
    url = f"mutant-{uuid.uuid4().hex}"
    conn = mutant(ConnectionConfig(url=url))
    try:
        with pytest.raises((AssertionError, KeyError)):
            getattr(suite, name)(conn, "conformance", **kwargs)
    finally:
        reset_memory_store(url)


def test_the_real_memory_connector_passes_those_same_cases_directly() -> None:
    """Guards the mutant test above: the cases fail because of the mutation, not because of the call."""
    suite = TestMemoryConformance()
    for _, case in MUTANTS:
        name, _, param = case.partition("[")
        kwargs = {"id_kind": param.rstrip("]")} if param else {}
        url = f"direct-{uuid.uuid4().hex}"
        try:
            getattr(suite, name)(MemoryConnector(ConnectionConfig(url=url)), "conformance", **kwargs)
        finally:
            reset_memory_store(url)


# --- the comparison rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual", "equal"),
    [
        (3, 3.0, True),
        (0.1, 0.1 + 1e-9, True),
        (0.1, 0.1001, False),
        (True, 1, False),
        (False, 0.0, False),
        (1, "1", False),
        ({"a": None}, {}, True),
        ({}, {"a": None}, True),
        ({"a": None}, {"a": ""}, False),
        ({"a": None}, {"a": 0}, False),
        ({"a": []}, {}, False),
        ({"a": [1, 2]}, {"a": (1, 2)}, True),
        ({"a": [1, 2]}, {"a": [2, 1]}, False),
        ({"a": {"b": {"c": "東京"}}}, {"a": {"b": {"c": "東京"}}}, True),
        ({"a": {"b": {"c": "東京"}}}, {"a": {"b": {"c": "東"}}}, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": "e\u0301"}, {"a": "\u00e9"}, False),
        ({"x": {"y": None}}, {"x": {}}, True),
    ],
)
def test_metadata_diff(expected: Any, actual: Any, equal: bool) -> None:
    assert (metadata_diff(expected, actual) == []) is equal


def test_metadata_diff_strict_nulls_and_paths() -> None:
    assert metadata_diff({"a": None}, {}, null_equals_missing=False) != []
    (diff,) = metadata_diff({"a": {"b": [1, 2.5]}}, {"a": {"b": [1, 2.6]}})
    assert diff.startswith("metadata.a.b[1]:")


def test_record_diff_vectors() -> None:
    v = np.arange(1, 9, dtype=np.float32)
    rec = VectorRecord(id=1, vectors={"": v})
    assert record_diff(rec, VectorRecord(id=1, vectors={"": v.copy()})) == []
    scaled = VectorRecord(id=1, vectors={"": v * 3})
    assert record_diff(rec, scaled) != []
    assert record_diff(rec, scaled, exact_vectors=False) == [], "normalising databases compare by direction"
    assert record_diff(rec, VectorRecord(id="1", vectors={"": v})) != []
    assert record_diff(rec, VectorRecord(id=1, vectors={"": v[:4]})) != []
    assert cosine(v, v[:4]) == -1.0


# --- the pytest plugin (loaded through the pytest11 entry point) --------------------------------------------


@pytest.mark.slow
def test_plugin_marks_conformance_cases_and_honours_active_connectors(tmp_path: Path) -> None:
    (tmp_path / "test_mini.py").write_text(textwrap.dedent("""
        import pytest
        from vectormigrate.connectors.base import ConnectionConfig
        from vectormigrate.connectors.memory import MemoryConnector
        from vectormigrate.testing.conformance import ConnectorConformance

        class TestMini(ConnectorConformance):
            connector_name = "memory"

            @pytest.fixture
            def connector(self):
                import uuid
                yield MemoryConnector(ConnectionConfig(url=uuid.uuid4().hex))

            @pytest.fixture
            def collection_name(self):
                return "c"

        def test_not_conformance():
            pass
    """))

    def run(*args: str, active: str | None = None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "VM_ACTIVE_CONNECTORS"}
        if active is not None:
            env["VM_ACTIVE_CONNECTORS"] = active
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
                               "-k", "missing_collection or not_conformance", *args, str(tmp_path)],
                              capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, check=False)
        summary = proc.stdout.strip().splitlines()[-1]
        # "1 passed, 1 skipped, 19 deselected in 0.2s" -> "1 passed, 1 skipped"
        return ", ".join(p for p in summary.split(" in ")[0].split(", ") if "deselected" not in p)

    assert run("-m", "conformance") == "1 passed"
    assert run(active="qdrant, milvus") == "1 passed, 1 skipped"
    assert run(active="memory,qdrant") == "2 passed"
