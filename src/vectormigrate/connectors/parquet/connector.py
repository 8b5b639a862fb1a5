"""The Parquet connector: the canonical model on disk, for export, backup and import.

``--*-url`` is a folder; a collection is the sub-folder ``<url>/<collection>/`` with ``_manifest.json`` and
``part-<seq>.parquet`` files. The format and its guarantees are described in ``NOTES.md``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vectormigrate.connectors.base import ConnectionConfig, Connector, OptionSpec, Searchable
from vectormigrate.connectors.parquet._errors import translate_errors
from vectormigrate.connectors.parquet._format import (
    Manifest,
    Part,
    arrow_schema,
    batch_to_table,
    record_batch_to_batch,
    sparse_column,
    validate_ids,
    vector_column,
)
from vectormigrate.connectors.parquet._index import keys_for
from vectormigrate.connectors.parquet._store import CollectionStore, id_array, open_part
from vectormigrate.errors import CheckpointError, ConfigError, TerminalError
from vectormigrate.model import (
    Batch,
    Capabilities,
    CollectionSchema,
    Cursor,
    Metric,
    RecordId,
    VectorRecord,
)

__all__ = ["ParquetConnector"]

_COMPACT_PART_BYTES = 256 * 1024 * 1024


class ParquetConnector(Connector, Searchable):
    """A folder of collections, each a duplicate-free set of Parquet part files listed by a manifest.

    Reads stream part files with bounded memory and resume exactly from a cursor; writes are atomic,
    durable, idempotent upserts by id (see ``NOTES.md`` for how).
    """

    name: ClassVar[str] = "parquet"
    extra: ClassVar[str] = "parquet"
    capabilities: ClassVar[Capabilities] = Capabilities(
        id_kinds=frozenset({"int", "uuid", "str"}),
        max_batch_records=100_000,
        max_batch_bytes=256 * 1024 * 1024,
        named_vectors=True,
        sparse_vectors=True,
        metrics=frozenset(Metric),
        # No "datetime": dates are stored as ISO-8601 strings inside the JSON metadata column.
        metadata_types=frozenset({"string", "int", "float", "bool", "list", "object", "json"}),
        namespace_model="namespace",
        stable_scan_order=True,
        idempotent_upsert=True,
    )
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("compression", "Parquet codec for new part files: zstd, snappy, lz4, gzip, brotli or none",
                   str, "zstd"),
    )

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        url = (config.url or "").strip()
        if not url or config.is_server:
            msg = f"the parquet connector needs a local folder as URL, got {config.url!r}"
            raise ConfigError(msg, hint="pass --source-url / --target-url ./backup (a folder; one sub-folder "
                              "per collection)")
        self.root = Path(url.removeprefix("file://")).expanduser()
        codec = str(self.opts["compression"]).lower()
        if codec not in {"zstd", "snappy", "lz4", "gzip", "brotli", "none"}:
            msg = f"unknown parquet compression {codec!r}"
            raise ConfigError(msg, hint="use compression=zstd, snappy, lz4, gzip, brotli or none")
        self._codec = codec
        self._stores: dict[str, CollectionStore] = {}
        self._stores_lock = threading.Lock()

    # ---- plumbing ------------------------------------------------------------------------------------

    def _store(self, collection: str) -> CollectionStore:
        if (not collection or collection in {".", ".."} or collection.startswith(".")
                or any(c in collection for c in "/\\\0")):
            msg = f"{collection!r} is not a valid parquet collection name"
            raise ConfigError(msg, hint="a collection is a sub-folder: use a name without slashes that does "
                              "not start with a dot")
        with self._stores_lock:
            store = self._stores.get(collection)
            if store is None:
                store = self._stores[collection] = CollectionStore(self.root, collection, compression=self._codec)
            return store

    def close(self) -> None:
        """Forget cached indexes (nothing is held open between calls)."""
        with self._stores_lock:
            self._stores.clear()

    # ---- both sides ----------------------------------------------------------------------------------

    def exists(self, collection: str) -> bool:
        """Whether ``<url>/<collection>/_manifest.json`` exists."""
        with translate_errors(f"look for collection {collection!r}", collection=collection):
            return self._store(collection).exists()

    def describe(self, collection: str) -> CollectionSchema:
        """The schema recorded at creation, with the current count and namespaces."""
        with translate_errors(f"read the manifest of {collection!r}", collection=collection):
            manifest = self._store(collection).load()
        schema = manifest.schema
        return replace(schema, name=collection, count=manifest.count,
                       namespaces=manifest.namespaces() or schema.namespaces)

    def count(self, collection: str, namespace: str | None = None) -> int:
        """Exact: parts never share an id, so this sums the manifest's row counts."""
        with translate_errors(f"read the manifest of {collection!r}", collection=collection):
            manifest = self._store(collection).load()
        if namespace is None:
            return manifest.count
        return sum(p.rows for p in manifest.parts if p.namespace == (namespace or None))

    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        """The records with these ids (first namespace in sorted order when ``namespace`` is None)."""
        store = self._store(collection)
        failed: tuple[str, int] | None = None
        while True:
            used: list[Manifest] = []
            try:
                with translate_errors(f"fetch records from {collection!r}", collection=collection):
                    return self._fetch(store, ids, namespace, used)
            except TerminalError as exc:
                # A part can vanish under us when a writer rewrites it; a newer manifest lists its successor. So
                # retry for as long as writers make progress (a fixed number of attempts fails a reader racing a
                # busy writer), but a part missing from an unchanged manifest is a damaged folder: give up.
                version = (used[0].uid, used[0].generation) if used else None
                if not isinstance(exc.__cause__, FileNotFoundError) or version is None or version == failed:
                    raise
                failed = version

    def _fetch(self, store: CollectionStore, ids: Sequence[RecordId], namespace: str | None,
               used: list[Manifest]) -> list[VectorRecord]:
        """One attempt; ``used`` receives the manifest it followed (for :meth:`fetch` to tell progress)."""
        # The manifest is loaded under the store's thread lock, so that it and the shared id index are of one
        # generation: a manifest loaded before a concurrent commit would be older than the index, and the parts
        # it nominates must be parts this manifest lists. The lock is held only for that short step (a manifest
        # read, plus the ``id`` columns of parts another process committed); the parts are read without it, and
        # no file lock is taken, so reads still write nothing. A part rewritten after the lock is released
        # raises FileNotFoundError and ``fetch`` retries on the newer manifest.
        with store.lock:
            manifest = store.load()
            used.append(manifest)
            wanted = [i for i in dict.fromkeys(ids) if _id_fits(i, int_ids=manifest.int_ids)]
            if not wanted:
                return []
            candidates = store.index(manifest).candidates(keys_for(wanted, int_ids=manifest.int_ids))
        ns = namespace or None
        parts = [p for p in manifest.parts if p.seq in candidates and (namespace is None or p.namespace == ns)]
        found: dict[RecordId, dict[str, VectorRecord]] = {}
        value_set = id_array(wanted, int_ids=manifest.int_ids)
        for part in parts:
            for rb in _read_rows_with_ids(store.part_path(part), value_set, self._columns(manifest)):
                for rec in record_batch_to_batch(rb, manifest.schema, part.namespace).records():
                    rec.vectors = {k: np.array(v, dtype=np.float32) for k, v in rec.vectors.items()}
                    found.setdefault(rec.id, {})[part.namespace or ""] = rec
        out = []
        for rid in ids:
            spaces = found.get(rid)
            if spaces:
                out.append(spaces[min(spaces)])
        return out

    @staticmethod
    def _columns(manifest: Manifest) -> list[str]:
        return (["id"] + [vector_column(v.name) for v in manifest.schema.vectors]
                + [sparse_column(s.name) for s in manifest.schema.sparse_vectors] + ["metadata"])

    # ---- source --------------------------------------------------------------------------------------

    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        """Every record, part by part in commit order; every batch is in one namespace.

        The cursor ``{"part": file, "seq": n, "row": r}`` means "rows before ``r`` of part ``n`` and every
        part before it are done". A part rewritten meanwhile gets a higher ``seq``, so a resume re-reads its
        rows (idempotent upserts make that harmless) and never skips one.
        """
        if batch_size < 1:
            msg = f"batch_size must be at least 1, got {batch_size}"
            raise ConfigError(msg, hint="pass --batch-size 1000")
        seq, row = _parse_cursor(after)
        store = self._store(collection)
        vanished: tuple[int, TerminalError] | None = None
        while True:
            with translate_errors(f"read the manifest of {collection!r}", collection=collection):
                manifest = store.load()
            if vanished is not None and any(p.seq == vanished[0] for p in manifest.parts):
                raise vanished[1]  # still listed, yet missing: a damaged folder; never skip records silently
            vanished = None
            for part in manifest.parts:
                if part.seq < seq:
                    continue
                start = row if part.seq == seq else 0
                try:
                    for batch in self._read_part(store, manifest, part, start, batch_size):
                        seq, row = part.seq, int((batch.cursor or {})["row"])
                        yield batch
                except TerminalError as exc:
                    if not isinstance(exc.__cause__, FileNotFoundError):
                        raise
                    # Rewritten by a writer after we loaded the manifest: its rows now live in later parts.
                    vanished = (part.seq, exc)
                    break
                seq, row = part.seq + 1, 0
            if vanished is None:
                return
            seq, row = vanished[0] + 1, 0

    def _read_part(self, store: CollectionStore, manifest: Manifest, part: Part, start: int,
                   batch_size: int) -> Iterator[Batch]:
        if start >= part.rows:
            return
        path = store.part_path(part)
        with translate_errors(f"read {path}", collection=store.name):
            pf = open_part(path)
        with pf:
            # Jump to the row group that holds row ``start`` instead of decoding everything before it.
            first_group, row = 0, 0
            meta = pf.metadata
            while first_group < meta.num_row_groups and row + meta.row_group(first_group).num_rows <= start:
                row += meta.row_group(first_group).num_rows
                first_group += 1
            skip = start - row
            groups = list(range(first_group, meta.num_row_groups))
            batches = pf.iter_batches(batch_size=batch_size, row_groups=groups, columns=self._columns(manifest))
            while True:
                with translate_errors(f"read {path}", collection=store.name):
                    rb = next(batches, None)
                if rb is None:
                    return
                if skip:
                    if skip >= rb.num_rows:
                        skip -= rb.num_rows
                        row += rb.num_rows
                        continue
                    rb = rb.slice(skip)
                    row += skip
                    skip = 0
                row += rb.num_rows
                with translate_errors(f"decode {path}", collection=store.name):
                    batch = record_batch_to_batch(rb, manifest.schema, part.namespace)
                batch.cursor = {"part": part.file, "seq": part.seq, "row": row}
                yield batch

    # ---- target --------------------------------------------------------------------------------------

    def create_collection(self, schema: CollectionSchema) -> None:
        """Create ``<url>/<schema.name>/`` with an empty manifest (an existing one is replaced)."""
        store = self._store(schema.name)
        with translate_errors(f"create collection {schema.name!r}", collection=schema.name):
            store.create(replace(schema, count=None))

    def drop_collection(self, collection: str) -> None:
        """Delete the collection folder (a missing one is fine)."""
        with translate_errors(f"drop collection {collection!r}", collection=collection):
            self._store(collection).drop()

    def write_batch(self, collection: str, batch: Batch) -> None:
        """Upsert the batch as one new part; older parts holding its ids are rewritten in the same commit."""
        if not len(batch):
            return
        store = self._store(collection)
        with translate_errors(f"write a batch to {collection!r}", collection=collection):
            manifest = store.load()
            validate_ids(batch.ids, int_ids=manifest.int_ids)
            batch = _last_wins(batch)
            table = batch_to_table(batch, manifest.schema, arrow_schema(manifest.schema))
            keys = keys_for(batch.ids, int_ids=manifest.int_ids)
            tmp = store.write_tmp(table)  # the slow part, outside the writer lock
            try:
                with store.locked() as current:
                    if current.uid != manifest.uid:
                        msg = f"collection {collection!r} was re-created while a batch was being written"
                        raise TerminalError(msg, hint="run one migration per target collection at a time")
                    txn = store.transaction(current)
                    try:
                        namespace = batch.namespace or None
                        candidates = store.index(current).candidates(keys)
                        victims = [p for p in current.parts if p.seq in candidates and p.namespace == namespace]
                        store.remove_ids(txn, victims, table.column("id").combine_chunks())
                        txn.stage(tmp, table.num_rows, namespace, keys)
                        txn.commit()
                    except BaseException:
                        txn.abort()
                        raise
            finally:
                store.discard_tmp(tmp)  # already renamed away when the commit succeeded

    def delete(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        """Delete these ids (in every namespace when ``namespace`` is None) by rewriting the parts holding them."""
        store = self._store(collection)
        with translate_errors(f"delete records from {collection!r}", collection=collection), \
                store.locked() as manifest:
            wanted = [i for i in dict.fromkeys(ids) if _id_fits(i, int_ids=manifest.int_ids)]
            if not wanted:
                return
            candidates = store.index(manifest).candidates(keys_for(wanted, int_ids=manifest.int_ids))
            ns = namespace or None
            victims = [p for p in manifest.parts
                       if p.seq in candidates and (namespace is None or p.namespace == ns)]
            txn = store.transaction(manifest)
            try:
                store.remove_ids(txn, victims, id_array(wanted, int_ids=manifest.int_ids))
                txn.commit()
            except BaseException:
                txn.abort()
                raise

    def compact(self, collection: str, *, target_rows: int | None = None) -> dict[str, int]:
        """Merge small parts (per namespace) into parts of about ``target_rows`` rows; clean crash leftovers.

        Many small batches make many small files, which every reader pays for. Merges stream row group by
        row group (memory stays at about one row group), and each is its own atomic commit, so an interrupted
        compaction leaves a valid collection.

        Args:
            collection: the collection to compact.
            target_rows: rows per merged part; by default about 256 MiB of dense vectors.

        Returns:
            ``{"parts_before", "parts_after", "leftovers_removed"}``.
        """
        store = self._store(collection)
        with translate_errors(f"compact {collection!r}", collection=collection), store.locked() as manifest:
            before = len(manifest.parts)
            leftovers = len(store.clean(manifest))
            if target_rows is None:
                row_bytes = 4 * sum(v.dim for v in manifest.schema.vectors) + 256
                target_rows = max(1_000, _COMPACT_PART_BYTES // row_bytes)
            for group in _merge_groups(manifest.parts, target_rows):
                txn = store.transaction(manifest)
                try:
                    store.merge(txn, group)
                    txn.commit()
                except BaseException:
                    txn.abort()
                    raise
            return {"parts_before": before, "parts_after": len(manifest.parts), "leftovers_removed": leftovers}

    # ---- search --------------------------------------------------------------------------------------

    def search(self, collection: str, vector_name: str, query: Sequence[float], top_k: int,
               namespace: str | None = None) -> list[tuple[RecordId, float]]:
        """Exact brute-force top-k with numpy, streaming one record batch at a time."""
        store = self._store(collection)
        with translate_errors(f"read the manifest of {collection!r}", collection=collection):
            manifest = store.load()
        try:
            metric = manifest.schema.vector(vector_name).metric
        except KeyError as exc:
            names = ", ".join(repr(v.name) for v in manifest.schema.vectors) or "none"
            msg = f"collection {collection!r} has no dense vector {vector_name!r}"
            raise ConfigError(msg, hint=f"vectors in this collection: {names}") from exc
        if top_k < 1:
            return []
        q = np.asarray(query, dtype=np.float32)
        q_norm = float(np.linalg.norm(q))
        best_ids: list[RecordId] = []
        best_scores = np.zeros(0, dtype=np.float32)
        column = vector_column(vector_name)
        ns = namespace or None
        for part in manifest.parts:
            if namespace is not None and part.namespace != ns:
                continue
            path = store.part_path(part)
            with translate_errors(f"search {path}", collection=collection), open_part(path) as pf:
                for rb in pf.iter_batches(batch_size=65_536, columns=["id", column]):
                    flat = rb.column(column).flatten()
                    mat = flat.to_numpy(zero_copy_only=False).reshape(len(rb), -1)
                    scores = _scores(mat, q, q_norm, metric)
                    top = np.argsort(-scores, kind="stable")[:top_k]
                    ids = rb.column("id").take(top).to_pylist()
                    all_ids = best_ids + ids
                    all_scores = np.concatenate([best_scores, scores[top]])
                    keep = np.argsort(-all_scores, kind="stable")[:top_k]
                    best_ids = [all_ids[i] for i in keep.tolist()]
                    best_scores = all_scores[keep]
        return [(rid, float(s)) for rid, s in zip(best_ids, best_scores.tolist(), strict=True)]


def _read_rows_with_ids(path: Path, value_set: pa.Array, columns: list[str]) -> list[pa.RecordBatch]:
    """The rows of a part whose id is in ``value_set``, decoding only the row groups that hold them."""
    with open_part(path) as pf:
        hit = pc.is_in(pf.read(columns=["id"]).column("id"), value_set=value_set)
        rows = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
        if not rows.size:
            return []
        meta = pf.metadata
        ends = np.cumsum([meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
        groups = sorted(set(np.searchsorted(ends, rows, side="right").tolist()))
        table = pf.read_row_groups(groups, columns=columns)
    table = table.filter(pc.is_in(table.column("id"), value_set=value_set))
    batches: list[pa.RecordBatch] = table.to_batches()
    return batches


def _scores(mat: npt.NDArray[np.float32], q: npt.NDArray[np.float32], q_norm: float,
            metric: Metric) -> npt.NDArray[np.float32]:
    # Same formulas as the memory reference connector, so ANN parity compares like with like.
    if metric is Metric.COSINE:
        out = (mat @ q) / (np.linalg.norm(mat, axis=1) * q_norm + 1e-12)
    elif metric is Metric.DOT:
        out = mat @ q
    else:
        out = -np.linalg.norm(mat - q, axis=1)
    return np.asarray(out, dtype=np.float32)


def _merge_groups(parts: Sequence[Part], target_rows: int) -> list[list[Part]]:
    """Groups of two or more small parts of one namespace whose rows add up to at most ``target_rows``."""
    by_ns: dict[str | None, list[Part]] = {}
    for part in parts:
        if part.rows < target_rows:
            by_ns.setdefault(part.namespace, []).append(part)
    groups: list[list[Part]] = []
    for small in by_ns.values():
        group: list[Part] = []
        rows = 0
        for part in small:
            if group and rows + part.rows > target_rows:
                groups.append(group)
                group, rows = [], 0
            group.append(part)
            rows += part.rows
        groups.append(group)
    return [g for g in groups if len(g) >= 2]


def _parse_cursor(after: Cursor | None) -> tuple[int, int]:
    if after is None:
        return 0, 0
    seq, row = after.get("seq"), after.get("row")
    if not isinstance(seq, int) or not isinstance(row, int) or isinstance(seq, bool) or seq < 0 or row < 0:
        msg = f"cursor {after!r} was not made by the parquet connector"
        raise CheckpointError(msg, hint="resume with the cursor this source produced, or start the run again")
    return seq, row


def _id_fits(rid: object, *, int_ids: bool) -> bool:
    if int_ids:
        return isinstance(rid, int) and not isinstance(rid, bool) and -(2**63) <= rid < 2**63
    return isinstance(rid, str)


def _last_wins(batch: Batch) -> Batch:
    """The batch without earlier copies of an id it repeats (an upsert keeps the last)."""
    if len(set(batch.ids)) == len(batch.ids):
        return batch
    last = {rid: i for i, rid in enumerate(batch.ids)}
    out = batch.take(sorted(last.values()))
    out.cursor = batch.cursor
    return out
