"""The connector conformance suite: one set of cases every connector must pass.

Subclass :class:`ConnectorConformance` in a test module (plain subclassing, as in fsspec's abstract tests) and
provide two fixtures::

    import pytest
    from vectormigrate.connectors.base import ConnectionConfig
    from vectormigrate.testing.conformance import ConnectorConformance

    class TestQdrantConformance(ConnectorConformance):
        @pytest.fixture
        def connector(self, tmp_path):
            with QdrantConnector(ConnectionConfig(url=str(tmp_path / "q"))) as conn:
                yield conn                   # a fresh connector on an EMPTY store

        @pytest.fixture
        def collection_name(self):
            return "conformance"

        def reopen(self, connector):        # optional: resume with a brand-new connector
            connector.close()
            return QdrantConnector(connector.config)

Every case reads ``connector.capabilities`` and skips (with the reason) what does not apply: id kinds, named and
sparse vectors, the namespace model, null and nested metadata, metadata types, stable scan order, search. Data
comes from :mod:`vectormigrate.datagen`, adapted to what the connector accepts exactly as the migration plan
would (ids of an accepted kind, the connector's name for the single dense vector, metadata types it holds), and
is small (at most a few hundred records, dim 32) so the suite runs fast even on slow local engines.

Class attributes tune the tolerances for databases that legitimately differ (``min_cosine``, ``float_rel_tol``,
``exact_vectors``, ``null_equals_missing``); overriding a test method to skip it is the last resort, and should
say why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any, ClassVar

import numpy as np
import pytest

from vectormigrate import datagen
from vectormigrate.connectors.base import Connector, Searchable
from vectormigrate.errors import CollectionNotFound, ConfigError, SchemaMismatchError
from vectormigrate.model import (
    Batch,
    Capabilities,
    CollectionSchema,
    Cursor,
    FieldSpec,
    FieldType,
    IdKind,
    JSONValue,
    Metric,
    VectorRecord,
    json_type,
)
from vectormigrate.testing.compare import assert_records_match

__all__ = ["ConnectorConformance", "adapt_metadata", "load_case", "pick_id_kind"]


def pick_id_kind(caps: Capabilities, preferred: IdKind = "str") -> IdKind:
    """The id kind to write into a connector: ``preferred`` when accepted, else uuid, then str, then int.

    Args:
        caps: the connector's capabilities.
        preferred: the kind to use when the connector accepts it.

    Returns:
        An id kind the connector accepts.
    """
    for kind in (preferred, "uuid", "str", "int"):
        if kind in caps.id_kinds:
            return kind
    msg = f"connector accepts no id kind at all: {sorted(caps.id_kinds)}"
    raise ValueError(msg)


def _holds(caps: Capabilities, typ: FieldType | None) -> bool:
    if typ is None:
        return caps.null_metadata
    if typ == "object":
        return caps.nested_metadata and bool({"object", "json"} & caps.metadata_types)
    return typ in caps.metadata_types


def adapt_metadata(metadata: dict[str, JSONValue], caps: Capabilities) -> dict[str, JSONValue]:
    """Drop the keys a connector cannot hold, as the migration plan would have (nulls, nested objects...).

    Args:
        metadata: one record's metadata.
        caps: the target connector's capabilities.

    Returns:
        A new dict with only the values the connector can hold.
    """
    return {k: v for k, v in metadata.items() if _holds(caps, json_type(v))}


def load_case(name: str) -> list[dict[str, Any]]:
    """Rows of a shipped data file ``vectormigrate/testing/data/<name>.jsonl``.

    Args:
        name: the file's stem, e.g. ``"unicode_metadata"``.

    Returns:
        One dict per line.
    """
    text = resources.files("vectormigrate.testing").joinpath(f"data/{name}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class ConnectorConformance:
    """Cases every connector passes; subclass it and provide the ``connector`` and ``collection_name`` fixtures.

    Fixtures a subclass must define:
        connector: yields a fresh :class:`~vectormigrate.connectors.base.Connector` on an empty store, and closes
            it afterwards.
        collection_name: the name to create collections under (the suite also uses ``<name>_missing``).

    Hooks a subclass may override:
        reopen: a new connector on the same store, for resume-with-a-new-process cases.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.conformance]

    connector_name: ClassVar[str | None] = None
    """The connector's registry name; with ``VM_ACTIVE_CONNECTORS`` set, only listed connectors run."""

    dim: ClassVar[int] = 32
    """Dimension of the dense vector in every case (named-vector cases use ``dim`` and ``dim // 2``)."""
    n_records: ClassVar[int] = 120
    """Records in the read / resume cases."""
    write_batch_size: ClassVar[int] = 50
    read_batch_size: ClassVar[int] = 25
    min_cosine: ClassVar[float] = 0.9999
    """Lowest cosine between a written and a read vector."""
    exact_vectors: ClassVar[bool | None] = None
    """Require element-wise equal vectors; ``None``: unless ``capabilities.normalizes_cosine``."""
    float_rel_tol: ClassVar[float] = 1e-6
    """Relative tolerance on float metadata (float32 storage passes)."""
    null_equals_missing: ClassVar[bool] = True
    """A ``None`` metadata value may come back as an absent key (and vice versa)."""
    namespace_names: ClassVar[tuple[str, str]] = ("tenant_a", "tenant_b")
    """Names valid as a Milvus partition, a Weaviate tenant and a Pinecone namespace."""

    # --- hooks -------------------------------------------------------------------------------------------

    def reopen(self, connector: Connector) -> Connector:
        """A connector on the same store as ``connector``, as a resumed process would open it.

        The default returns ``connector`` itself. Override it to open a new instance (it may close
        ``connector`` first, e.g. to release a file lock); the suite closes the returned connector when it is a
        different object.

        Args:
            connector: the connector the case wrote with.

        Returns:
            The connector to resume with.
        """
        return connector

    # --- helpers (usable from subclasses) ----------------------------------------------------------------

    def vector_name(self, connector: Connector) -> str:
        """The connector's name for a collection's single dense vector."""
        return connector.capabilities.unnamed_vector

    def schema(self, connector: Connector, name: str, *, id_kind: IdKind | None = None, dim: int | None = None,
               vectors: Sequence[str] | None = None, dims: dict[str, int] | None = None,
               sparse: Sequence[str] = (), namespaces: Sequence[str] = (),
               metadata: datagen.MetadataMode = "rich") -> CollectionSchema:
        """A datagen schema restricted to what ``connector`` holds (metric, id kind, metadata fields).

        Args:
            connector: the connector under test.
            name: collection name.
            id_kind: the id kind (default: :func:`pick_id_kind`).
            dim: dense dimension (default: ``self.dim``).
            vectors: dense vector names (default: the connector's single unnamed vector).
            dims: per-name dims, overriding ``dim``.
            sparse: sparse vector names.
            namespaces: namespaces the collection holds.
            metadata: datagen metadata mode.

        Returns:
            The schema.
        """
        caps = connector.capabilities
        metric = Metric.COSINE if Metric.COSINE in caps.metrics else sorted(caps.metrics, key=lambda m: m.value)[0]
        fields = tuple(f for f in datagen.metadata_fields(metadata) if _holds(caps, f.type))
        return datagen.make_schema(
            name, dim=dims or (dim or self.dim), id_kind=id_kind or pick_id_kind(caps),
            vectors=tuple(vectors) if vectors is not None else (self.vector_name(connector),), sparse=sparse,
            metric=metric, namespaces=namespaces, fields=fields)

    def batches(self, connector: Connector, schema: CollectionSchema, n: int, *, seed: int = 0, start: int = 0,
                metadata: datagen.MetadataMode = "rich") -> list[Batch]:
        """``n`` datagen records for ``schema``, in write-sized batches, metadata adapted to the connector.

        Args:
            connector: the connector under test.
            schema: what the records must fit (vector names, dims, sparse names, id kind, namespaces).
            n: number of records.
            seed: data seed (ids do not depend on it).
            start: number of the first record.
            metadata: datagen metadata mode.

        Returns:
            The batches, namespaces spread as in ``schema.namespaces``.
        """
        caps = connector.capabilities
        size = max(1, min(self.write_batch_size, caps.max_batch_records))
        out = list(datagen.iter_batches(
            n, batch_size=size, dim={v.name: v.dim for v in schema.vectors}, id_kind=schema.id_kind,
            vectors=[v.name for v in schema.vectors], sparse=[s.name for s in schema.sparse_vectors],
            namespaces=schema.namespaces, seed=seed, metadata=metadata, start=start))
        for batch in out:
            batch.metadata = [adapt_metadata(m, caps) for m in batch.metadata]
        return out

    def populate(self, connector: Connector, schema: CollectionSchema, n: int, *, seed: int = 0,
                 start: int = 0) -> list[VectorRecord]:
        """Create the collection for ``schema`` (through ``prepare``) and write ``n`` records into it.

        Returns:
            The records written, as rows.
        """
        connector.prepare(schema, if_exists="append")
        return self.write(connector, schema.name, self.batches(connector, schema, n, seed=seed, start=start))

    def write(self, connector: Connector, collection: str, batches: Iterable[Batch]) -> list[VectorRecord]:
        """Write ``batches`` and return their records as rows."""
        rows: list[VectorRecord] = []
        for batch in batches:
            connector.write_batch(collection, batch)
            rows.extend(batch.records())
        return rows

    def read_all(self, connector: Connector, collection: str, *, batch_size: int | None = None,
                 after: Cursor | None = None) -> list[Batch]:
        """Every batch ``read_batches`` yields, checking the batch-level contract on the way.

        Checks: no batch larger than ``batch_size``; every non-empty batch has a JSON-serialisable cursor.
        """
        size = batch_size or self.read_batch_size
        out: list[Batch] = []
        for batch in connector.read_batches(collection, batch_size=size, after=after):
            assert len(batch) <= size, f"read_batches(batch_size={size}) yielded a batch of {len(batch)}"
            if len(batch):
                assert batch.cursor is not None, "a non-empty batch has no cursor"
                assert json.loads(json.dumps(batch.cursor)) == batch.cursor, (
                    f"cursor {batch.cursor!r} does not survive a JSON round trip (the checkpoint stores JSON)")
            out.append(batch)
        return out

    def check_records(self, connector: Connector, expected: Iterable[VectorRecord],
                      actual: Iterable[VectorRecord], *, check_namespace: bool = False) -> None:
        """Assert ``actual`` holds exactly ``expected``, with this class's tolerances."""
        exact = self.exact_vectors
        if exact is None:
            exact = not connector.capabilities.normalizes_cosine
        assert_records_match(expected, actual, min_cosine=self.min_cosine, exact_vectors=exact,
                             rel_tol=self.float_rel_tol, null_equals_missing=self.null_equals_missing,
                             check_namespace=check_namespace)

    # --- cases -------------------------------------------------------------------------------------------

    def test_create_exists_describe(self, connector: Connector, collection_name: str) -> None:
        """prepare() creates the collection; exists() and describe() report its vectors, metric and id kind."""
        schema = self.schema(connector, collection_name)
        assert not connector.exists(collection_name)
        assert connector.prepare(schema, if_exists="fail") is True
        assert connector.exists(collection_name)
        desc = connector.describe(collection_name)
        assert desc.name == collection_name
        assert {v.name: v.dim for v in desc.vectors} == {self.vector_name(connector): self.dim}
        assert desc.vectors[0].metric == schema.vectors[0].metric
        assert desc.count in (0, None)
        self.write(connector, collection_name, self.batches(connector, schema, 10))
        desc = connector.describe(collection_name)
        # A uuid is also a str: a store of strings may honestly report "str" for uuid ids.
        allowed = {"uuid", "str"} if schema.id_kind == "uuid" else {schema.id_kind}
        assert desc.id_kind in allowed, f"wrote {schema.id_kind} ids, describe() says {desc.id_kind}"
        assert desc.count in (10, None)

    def test_missing_collection(self, connector: Connector, collection_name: str) -> None:
        """A collection that does not exist: exists() is false and describe/count/read raise CollectionNotFound."""
        missing = f"{collection_name}_missing"
        assert connector.exists(missing) is False
        with pytest.raises(CollectionNotFound) as info:
            connector.describe(missing)
        assert missing in str(info.value), f"the error should name the collection: {info.value}"
        with pytest.raises(CollectionNotFound):
            connector.count(missing)
        with pytest.raises(CollectionNotFound):
            list(connector.read_batches(missing, batch_size=10))

    def test_write_then_count(self, connector: Connector, collection_name: str) -> None:
        """count() is exact right after write_batch returns (writes are durable on return)."""
        schema = self.schema(connector, collection_name)
        connector.prepare(schema)
        assert connector.count(collection_name) == 0
        written = self.populate(connector, schema, 75)
        assert connector.count(collection_name) == len(written) == 75

    def test_write_then_read_everything(self, connector: Connector, collection_name: str) -> None:
        """read_batches returns every id once, with its vectors and metadata (nulls, nested, lists, unicode)."""
        schema = self.schema(connector, collection_name)
        written = self.populate(connector, schema, self.n_records)
        batches = self.read_all(connector, collection_name)
        ids = [i for b in batches for i in b.ids]
        assert len(ids) == len(set(ids)), "read_batches yielded some ids more than once"
        for batch in batches:
            assert batch.namespace is None, f"records written without a namespace came back in {batch.namespace!r}"
            for name, mat in batch.vectors.items():
                assert mat.dtype == np.float32 and mat.shape == (len(batch), schema.vector(name).dim)
        self.check_records(connector, written, [r for b in batches for r in b.records()])

    def test_upsert_overwrites(self, connector: Connector, collection_name: str) -> None:
        """Writing ids again replaces them (no duplicates; the newest vectors and metadata win)."""
        schema = self.schema(connector, collection_name)
        old = self.populate(connector, schema, 60, seed=1)             # records 0..59
        new = self.write(connector, collection_name, self.batches(connector, schema, 60, seed=2, start=30))  # 30..89
        assert connector.count(collection_name) == 90
        expected = {r.id: r for r in old} | {r.id: r for r in new}
        self.check_records(connector, expected.values(),
                           [r for b in self.read_all(connector, collection_name) for r in b.records()])
        # Writing the very same batch twice (a retry after a crash) is harmless too.
        again = self.batches(connector, schema, 20, seed=3, start=80)
        self.write(connector, collection_name, again)
        self.write(connector, collection_name, again)
        assert connector.count(collection_name) == 100

    def _resume(self, connector: Connector, collection_name: str, *, new_connector: bool) -> None:
        if not connector.capabilities.stable_scan_order:
            pytest.skip(f"{connector.name} has no stable scan order: resume re-reads and relies on idempotent upserts")
        schema = self.schema(connector, collection_name)
        self.populate(connector, schema, self.n_records)
        first = self.read_all(connector, collection_name)
        assert len(first) >= 3, f"need at least 3 batches to resume mid-scan, got {len(first)}"
        mid = len(first) // 2 - 1
        cursor = json.loads(json.dumps(first[mid].cursor))   # as the checkpoint stores it
        remaining = [i for b in first[mid + 1:] for i in b.ids]
        last_cursor = json.loads(json.dumps(next(b.cursor for b in reversed(first) if len(b))))
        reader = self.reopen(connector) if new_connector else connector
        try:
            resumed = [i for b in self.read_all(reader, collection_name, after=cursor) for i in b.ids]
            assert resumed == remaining, (
                f"resuming after batch {mid} yielded {len(resumed)} ids, expected the {len(remaining)} not yet read")
            tail = [i for b in self.read_all(reader, collection_name, after=last_cursor) for i in b.ids]
            assert tail == [], f"resuming after the last batch yielded {len(tail)} ids"
        finally:
            if reader is not connector:
                reader.close()

    def test_resume_same_connector(self, connector: Connector, collection_name: str) -> None:
        """read_batches(after=cursor of a mid-scan batch) yields exactly the records not yet read."""
        self._resume(connector, collection_name, new_connector=False)

    def test_resume_new_connector(self, connector: Connector, collection_name: str) -> None:
        """A cursor (JSON round-tripped) resumes the scan in a new connector, as after a crash."""
        self._resume(connector, collection_name, new_connector=True)

    def test_results_are_owned_by_the_caller(self, connector: Connector, collection_name: str) -> None:
        """Mutating a written batch, a read batch or a fetched record in place never changes the store.

        The runner transforms batches in place and may reuse buffers; a connector that caches must copy.
        """
        schema = self.schema(connector, collection_name)
        connector.prepare(schema)
        (batch,) = self.batches(connector, schema, 10)
        expected = [_clone_record(r) for r in batch.records()]
        connector.write_batch(collection_name, batch)
        _scribble(batch.vectors, batch.metadata)
        for read in self.read_all(connector, collection_name):
            _scribble(read.vectors, read.metadata)
        for rec in connector.fetch(collection_name, [r.id for r in expected]):
            _scribble(rec.vectors, [rec.metadata])
        self.check_records(connector, expected, connector.fetch(collection_name, [r.id for r in expected]))
        self.check_records(connector, expected,
                           [r for b in self.read_all(connector, collection_name) for r in b.records()])

    def test_fetch_by_ids(self, connector: Connector, collection_name: str) -> None:
        """fetch() returns the records asked for, with vectors and metadata; missing ids are left out."""
        schema = self.schema(connector, collection_name)
        written = self.populate(connector, schema, 40)
        wanted = written[::7]
        missing = [datagen.make_id(i, schema.id_kind) for i in (10_000, 10_001)]
        got = connector.fetch(collection_name, [missing[0], *(r.id for r in wanted), missing[1]])
        self.check_records(connector, wanted, got)
        assert connector.fetch(collection_name, missing) == []
        assert connector.fetch(collection_name, []) == []

    def test_delete_by_ids(self, connector: Connector, collection_name: str) -> None:
        """delete() removes exactly those ids; ids that do not exist are ignored."""
        schema = self.schema(connector, collection_name)
        written = self.populate(connector, schema, 40)
        gone = [r.id for r in written[:10]]
        connector.delete(collection_name, [*gone, datagen.make_id(10_000, schema.id_kind)])
        assert connector.count(collection_name) == 30
        assert connector.fetch(collection_name, gone) == []
        left = [i for b in self.read_all(connector, collection_name) for i in b.ids]
        assert sorted(map(str, left)) == sorted(str(r.id) for r in written[10:])

    def test_namespaces(self, connector: Connector, collection_name: str) -> None:
        """Records written with batch.namespace come back in it; count/fetch/delete by namespace; resume across."""
        caps = connector.capabilities
        if caps.namespace_model == "none":
            pytest.skip(f"{connector.name} has no namespaces (the plan moves them into a metadata field)")
        ns_a, ns_b = self.namespace_names
        schema = self.schema(connector, collection_name, namespaces=(ns_a, ns_b))
        written = self.populate(connector, schema, 60)
        by_ns = {ns: [r for r in written if r.namespace == ns] for ns in (ns_a, ns_b)}
        assert {ns: len(rs) for ns, rs in by_ns.items()} == {ns_a: 30, ns_b: 30}
        assert connector.count(collection_name, namespace=ns_a) == 30
        assert connector.count(collection_name, namespace=ns_b) == 30
        assert connector.count(collection_name) == 60
        assert {ns_a, ns_b} <= set(connector.describe(collection_name).namespaces)
        batches = self.read_all(connector, collection_name)
        self.check_records(connector, written, [r for b in batches for r in b.records()], check_namespace=True)
        some_a = [r.id for r in by_ns[ns_a][:5]]
        assert sorted(map(str, (r.id for r in connector.fetch(collection_name, some_a, namespace=ns_a)))) == sorted(
            map(str, some_a))
        assert connector.fetch(collection_name, some_a, namespace=ns_b) == [], "fetch ignored the namespace"
        if caps.stable_scan_order:
            first = next(b for b in batches if len(b))
            cursor = json.loads(json.dumps(first.cursor))
            rest = [i for b in self.read_all(connector, collection_name, after=cursor) for i in b.ids]
            assert rest == [i for b in batches[batches.index(first) + 1:] for i in b.ids]
        connector.delete(collection_name, some_a, namespace=ns_a)
        assert connector.count(collection_name, namespace=ns_a) == 25
        assert connector.count(collection_name, namespace=ns_b) == 30

    def test_empty_collection(self, connector: Connector, collection_name: str) -> None:
        """An empty collection counts 0 and reads no records."""
        connector.prepare(self.schema(connector, collection_name))
        assert connector.count(collection_name) == 0
        assert sum(len(b) for b in self.read_all(connector, collection_name)) == 0
        assert connector.describe(collection_name).count in (0, None)

    def test_unicode_metadata(self, connector: Connector, collection_name: str) -> None:
        """Unicode keys and values (RTL, astral plane, combining marks, quotes, newlines) round-trip unchanged."""
        caps = connector.capabilities
        cases = load_case("unicode_metadata")
        metas = [adapt_metadata(c["metadata"], caps) for c in cases]
        schema = self.schema(connector, collection_name, metadata="none")
        # Unicode keys are not valid column names everywhere: declare them as dynamic (schemaless) fields.
        fields = {k: FieldSpec(k, t, declared=False) for m in metas for k, v in m.items()
                  if (t := json_type(v)) is not None}
        schema = CollectionSchema(name=schema.name, vectors=schema.vectors, fields=tuple(fields.values()),
                                  id_kind=schema.id_kind, dynamic_fields=True)
        connector.prepare(schema)
        (batch,) = self.batches(connector, schema, len(cases), metadata="none")
        batch.metadata = metas
        written = self.write(connector, collection_name, [batch])
        self.check_records(connector, written, connector.fetch(collection_name, [r.id for r in written]))
        self.check_records(connector, written,
                           [r for b in self.read_all(connector, collection_name) for r in b.records()])

    def test_prepare_refuses_other_dim(self, connector: Connector, collection_name: str) -> None:
        """prepare() into an existing collection of another dim raises SchemaMismatchError naming both dims."""
        small = self.schema(connector, collection_name, dim=16)
        assert connector.prepare(small, if_exists="fail") is True
        self.write(connector, collection_name, self.batches(connector, small, 5))
        with pytest.raises(SchemaMismatchError) as info:
            connector.prepare(self.schema(connector, collection_name, dim=24), if_exists="append")
        assert "16" in str(info.value) and "24" in str(info.value), f"the error should name both dims: {info.value}"
        with pytest.raises(ConfigError):
            connector.prepare(small, if_exists="fail")
        assert connector.prepare(small, if_exists="append") is False
        assert connector.count(collection_name) == 5, "a refused prepare() must not touch the data"

    def test_search_finds_stored_vector(self, connector: Connector, collection_name: str) -> None:
        """search() with a stored vector ranks that record first (scores best first)."""
        if not isinstance(connector, Searchable):
            pytest.skip(f"{connector.name} is not Searchable")
        schema = self.schema(connector, collection_name)
        written = self.populate(connector, schema, 100)
        name = self.vector_name(connector)
        for rec in written[::20]:
            hits = connector.search(collection_name, name, rec.vectors[name].tolist(), 5)
            assert hits, "search returned nothing"
            assert hits[0][0] == rec.id, f"searching record {rec.id!r}'s own vector ranked {hits[0][0]!r} first"
            assert len(hits) <= 5
            scores = [s for _, s in hits]
            # Similarities sort descending; distance-type scores ascending. Either way, monotonic.
            assert scores == sorted(scores, reverse=True) or scores == sorted(scores), f"unordered scores {scores}"

    @pytest.mark.parametrize("id_kind", ["str", "int", "uuid"])
    def test_id_kinds(self, connector: Connector, collection_name: str, id_kind: IdKind) -> None:
        """Ids of each accepted kind come back exactly as written (an int stays an int)."""
        if id_kind not in connector.capabilities.id_kinds:
            pytest.skip(f"{connector.name} does not accept {id_kind} ids")
        schema = self.schema(connector, collection_name, id_kind=id_kind, metadata="simple")
        written = self.populate(connector, schema, 30)
        read = [r for b in self.read_all(connector, collection_name) for r in b.records()]
        self.check_records(connector, written, read)
        assert connector.describe(collection_name).id_kind in ({"uuid", "str"} if id_kind == "uuid" else {id_kind})

    def test_named_vectors(self, connector: Connector, collection_name: str) -> None:
        """Several named dense vectors of different dims round-trip, and describe() lists them."""
        if not connector.capabilities.named_vectors:
            pytest.skip(f"{connector.name} holds one dense vector per record")
        dims = {"text": self.dim, "image": max(2, self.dim // 2)}
        schema = self.schema(connector, collection_name, vectors=tuple(dims), dims=dims)
        written = self.populate(connector, schema, 40)
        assert {v.name: v.dim for v in connector.describe(collection_name).vectors} == dims
        self.check_records(connector, written,
                           [r for b in self.read_all(connector, collection_name) for r in b.records()])
        self.check_records(connector, written[:3], connector.fetch(collection_name, [r.id for r in written[:3]]))

    def test_sparse_vectors(self, connector: Connector, collection_name: str) -> None:
        """Sparse vectors (10-50 non-zeros) next to a dense one round-trip with identical indices and values."""
        if not connector.capabilities.sparse_vectors:
            pytest.skip(f"{connector.name} has no sparse vectors")
        schema = self.schema(connector, collection_name, sparse=("keywords",))
        written = self.populate(connector, schema, 40)
        assert [s.name for s in connector.describe(collection_name).sparse_vectors] == ["keywords"]
        self.check_records(connector, written,
                           [r for b in self.read_all(connector, collection_name) for r in b.records()])
        self.check_records(connector, written[:3], connector.fetch(collection_name, [r.id for r in written[:3]]))



def _clone_json(value: JSONValue) -> JSONValue:
    if isinstance(value, dict):
        return {k: _clone_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone_json(v) for v in value]
    return value


def _clone_record(rec: VectorRecord) -> VectorRecord:
    return VectorRecord(id=rec.id, vectors={k: np.array(v, copy=True) for k, v in rec.vectors.items()},
                        sparse=dict(rec.sparse), metadata=_clone_json(rec.metadata), namespace=rec.namespace)


def _scribble(vectors: dict[str, Any], metadata: Iterable[dict[str, JSONValue]]) -> None:
    """Overwrite vectors and every nested metadata container in place."""
    for vec in vectors.values():
        if isinstance(vec, np.ndarray) and vec.flags.writeable:  # read-only arrays (zero-copy Arrow) are safe
            vec[...] = 0
    for meta in metadata:
        _scribble_json(meta)


def _scribble_json(value: JSONValue) -> None:
    if isinstance(value, dict):
        for key in list(value):
            if isinstance(value[key], dict | list):
                _scribble_json(value[key])
            else:
                value[key] = "scribbled"
        value["scribbled"] = True
    elif isinstance(value, list):
        for item in value:
            _scribble_json(item)
        value.append("scribbled")
