"""Dual-write for applications that use weaviate-client v4 collections (``client.collections.get(...)``).

Wrap the collection object the application already has; every call keeps its signature and result::

    docs = dual_write_collection(client.collections.get("Docs"), DualWriter.for_migration("mig-1"))
    docs.data.insert({"title": "..."}, vector={"default": [...]})      # source write, journal, target write
    docs.with_tenant("acme").data.delete_by_id(uid)                     # tenants are namespaces
    with docs.batch.fixed_size(batch_size=200) as batch:                # mirrored when the context exits
        batch.add_object(properties={...}, vector={...})
    docs.query.near_vector(...)                                         # anything else goes straight to the client

The real collection performs each write first, unchanged (same arguments, same result, same exceptions). Then
the touched objects are re-read through the same collection handle and mirrored, so the target gets what Weaviate
stored (a partial ``update`` reaches the target whole). Objects are converted as the Weaviate connector reads
them: the uuid is the id, named vectors keep their names (``default`` is the single vector), the tenant is the
namespace, and JSON text written by VectorMigrate is decoded again.

What is wrapped:

* ``data.insert``, ``insert_many``, ``replace``, ``update``, ``ingest``: the written uuids (from the call's result,
  or made up front for ``ingest`` objects without one: random UUIDs, as the client would make) are mirrored.
* ``data.delete_by_id``, ``delete_many``: the ids are deleted from the target. ``delete_many(where=...)`` is sent
  with ``verbose=True``, so Weaviate itself reports the uuids it deleted: no pre-query, and no race with a
  concurrent writer. The application still gets the result it asked for (``objects`` is ``None`` unless it passed
  ``verbose=True``). A ``dry_run`` deletes nothing and mirrors nothing.
* ``batch.dynamic()``, ``fixed_size()``, ``rate_limit()``, ``stream()``: ``add_object`` records each uuid (the one
  it returns); the objects are mirrored when the context exits and at each ``flush()``, once the client has sent
  them, except those in ``batch.failed_objects``. Until then they are not journaled: a process that dies inside a
  batch context leaves its objects out of the journal, so run ``vectormigrate sync ID --full`` before cutover if
  that happens. Long batch contexts may call ``flush()`` now and then to journal as they go.
* ``with_tenant`` and ``with_consistency_level`` return wrapped collections.

Not wrapped: cross-references (``data.reference_*``, ``batch.add_reference``) pass through, since references are
not migrated; the client-level ``client.batch`` is not wrapped (write through the collection's batch, or repair
with ``vectormigrate sync ID --full``). A collection handle made with ``data_model=`` re-reads only the typed
properties; the next ``sync`` copies the whole objects from the source.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace as dc_replace
from types import TracebackType
from typing import Any

from vectormigrate.connectors.weaviate._convert import CollectionInfo, PropInfo, objects_to_batches, prop_info
from vectormigrate.errors import ConfigError
from vectormigrate.model import RecordId, VectorRecord
from vectormigrate.zerodowntime.dualwriter import DualWriter

__all__ = ["DualWriteWeaviateCollection", "dual_write_collection"]

_ID_CHUNK = 1000
"""Uuids per re-read (as the Weaviate connector fetches: under QUERY_MAXIMUM_RESULTS)."""


def _uid(value: Any) -> str:
    """The canonical (lower-case, hyphenated) uuid the Weaviate connector uses as a record id."""
    return str(uuid.UUID(str(value)))


def _same_collection(a: str, b: str) -> bool:
    # Weaviate matches the first letter of a collection name case-insensitively.
    return a[:1].upper() + a[1:] == b[:1].upper() + b[1:]


class _Schema:
    """The source collection's properties (for decoding JSON text), shared by every handle of one wrapper."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._info: CollectionInfo | None = None

    def info(self, collection: Any, keys: Iterable[str] = ()) -> CollectionInfo:
        """The cached info, re-read when a property in ``keys`` is not in it yet (auto-schema adds properties)."""
        with self._lock:
            info = self._info
        if info is not None and set(keys) <= set(info.props):
            return info
        config = collection.config.get()
        props: dict[str, PropInfo] = {p.name: prop_info(p.name, str(p.data_type.value), p.description)
                                      for p in config.properties}
        info = CollectionInfo(name=config.name, props=props, vectors={},
                              multi_tenant=config.multi_tenancy_config.enabled)
        with self._lock:
            self._info = info
        return info


class DualWriteWeaviateCollection:
    """A weaviate-client v4 ``Collection`` whose writes are dual-written (see the module docstring).

    Args:
        collection: the application's collection on the source (``client.collections.get(NAME)``, optionally
            ``.with_tenant(...)``); it keeps being used for everything.
        dual: the migration's dual-writer (its target, plan and journal).

    Raises:
        ConfigError: the collection is not the migration's source collection.
    """

    def __init__(self, collection: Any, dual: DualWriter, *, _schema: _Schema | None = None) -> None:
        source = dual.source_collection
        if _schema is None and source and not _same_collection(str(collection.name), source):
            msg = f"weaviate collection {collection.name!r} is not the migration's source collection {source!r}"
            raise ConfigError(msg, hint="wrap the collection the migration copies; write other collections with "
                              "the plain client")
        self._collection = collection
        self._dual = dual
        self._schema = _schema or _Schema()
        self._data = _DualWriteData(self)
        self._batch = _DualWriteBatchWrapper(self)

    def __getattr__(self, name: str) -> Any:
        # Everything not overridden (query, aggregate, config, tenants, iterator...) is the real collection's.
        return getattr(self._collection, name)

    def __len__(self) -> int:
        return len(self._collection)

    def __str__(self) -> str:
        return str(self._collection)

    @property
    def dual_writer(self) -> DualWriter:
        """The dual-writer behind this collection."""
        return self._dual

    @property
    def wrapped(self) -> Any:
        """The real collection."""
        return self._collection

    @property
    def data(self) -> _DualWriteData:
        """``Collection.data``, with its writes dual-written."""
        return self._data

    @property
    def batch(self) -> _DualWriteBatchWrapper:
        """``Collection.batch``, whose batching contexts dual-write ``add_object``."""
        return self._batch

    def with_tenant(self, tenant: Any = None) -> DualWriteWeaviateCollection:
        """``Collection.with_tenant``, wrapped: the tenant is the namespace of its writes."""
        return DualWriteWeaviateCollection(self._collection.with_tenant(tenant), self._dual, _schema=self._schema)

    def with_consistency_level(self, consistency_level: Any = None) -> DualWriteWeaviateCollection:
        """``Collection.with_consistency_level``, wrapped."""
        return DualWriteWeaviateCollection(self._collection.with_consistency_level(consistency_level), self._dual,
                                           _schema=self._schema)

    # -- mirroring --------------------------------------------------------------------------------------------------
    @property
    def _namespace(self) -> str | None:
        tenant = getattr(self._collection, "tenant", None)
        return str(tenant) if tenant else None

    def _fetch(self, keys: Iterable[str]) -> Any:
        keys = set(keys)

        def fetch(ids: Sequence[RecordId]) -> list[VectorRecord]:
            from weaviate.classes.query import Filter

            out: list[VectorRecord] = []
            wanted = [str(i) for i in ids]
            for start in range(0, len(wanted), _ID_CHUNK):
                chunk = wanted[start:start + _ID_CHUNK]
                page = self._collection.query.fetch_objects(filters=Filter.by_id().contains_any(chunk),
                                                            limit=len(chunk), include_vector=True)
                seen = {k for obj in page.objects for k in (obj.properties or {})}
                info = self._schema.info(self._collection, keys | seen)
                for batch in objects_to_batches(page.objects, info, self._namespace):
                    out.extend(batch.records())
            return out
        return fetch

    def _mirror(self, ids: Iterable[Any], keys: Iterable[str] = ()) -> None:
        wanted = list(dict.fromkeys(_uid(i) for i in ids))
        self._dual.mirror_ids(wanted, self._namespace, self._fetch(keys))

    def _mirror_delete(self, ids: Iterable[Any]) -> None:
        self._dual.mirror_delete(list(dict.fromkeys(_uid(i) for i in ids)), self._namespace)


def _keys(properties: Any) -> list[str]:
    return [str(k) for k in properties] if isinstance(properties, dict) else []


class _DualWriteData:
    """``Collection.data`` with its writes dual-written; everything else is the real one's."""

    def __init__(self, owner: DualWriteWeaviateCollection) -> None:
        self._owner = owner

    @property
    def _real(self) -> Any:
        return self._owner.wrapped.data

    def __getattr__(self, name: str) -> Any:
        # exists, reference_add / reference_add_many / reference_delete / reference_replace
        return getattr(self._real, name)

    def insert(self, properties: Any, references: Any = None, uuid: Any = None, vector: Any = None) -> Any:
        """``data.insert``, then mirror the object (its uuid is the call's result)."""
        result = self._real.insert(properties, references=references, uuid=uuid, vector=vector)
        self._owner._mirror([result], _keys(properties))
        return result

    def insert_many(self, objects: Sequence[Any]) -> Any:
        """``data.insert_many``, then mirror the objects it inserted (``BatchObjectReturn.uuids``)."""
        objects = list(objects)
        result = self._real.insert_many(objects)
        keys = {k for obj in objects for k in _keys(getattr(obj, "properties", obj))}
        self._owner._mirror(result.uuids.values(), keys)
        return result

    def replace(self, uuid: Any, properties: Any, references: Any = None, vector: Any = None) -> Any:
        """``data.replace``, then mirror the object."""
        result = self._real.replace(uuid, properties, references=references, vector=vector)
        self._owner._mirror([uuid], _keys(properties))
        return result

    def update(self, uuid: Any, properties: Any = None, references: Any = None, vector: Any = None) -> Any:
        """``data.update`` (a partial update), then mirror the whole object as Weaviate stored it."""
        result = self._real.update(uuid, properties=properties, references=references, vector=vector)
        self._owner._mirror([uuid], _keys(properties or {}))
        return result

    def ingest(self, objs: Iterable[Any]) -> Any:
        """``data.ingest``, then mirror the objects it inserted.

        Objects without a uuid get a random one here (the client would make one that nobody learns).
        """
        from weaviate.classes.data import DataObject

        ids: list[str] = []
        keys: set[str] = set()

        def tagged() -> Iterator[Any]:
            for obj in objs:
                if not isinstance(obj, DataObject):
                    obj = DataObject(properties=obj)
                if obj.uuid is None:
                    obj = dc_replace(obj, uuid=uuid.uuid4())
                ids.append(_uid(obj.uuid))
                keys.update(_keys(obj.properties))
                yield obj

        result = self._real.ingest(tagged())
        failed = {_uid(e.object_.uuid) for e in result.errors.values() if e.object_.uuid is not None}
        self._owner._mirror([i for i in ids if i not in failed], keys)
        return result

    def delete_by_id(self, uuid: Any) -> Any:
        """``data.delete_by_id``, then delete the id from the target."""
        result = self._real.delete_by_id(uuid)
        self._owner._mirror_delete([uuid])
        return result

    def delete_many(self, where: Any, *, verbose: bool = False, dry_run: bool = False) -> Any:
        """``data.delete_many``, run with ``verbose=True`` so Weaviate reports the deleted uuids; then delete them
        from the target. The result is the one the caller asked for (``objects=None`` unless ``verbose``)."""
        result = self._real.delete_many(where, verbose=True, dry_run=dry_run)
        if not dry_run:
            self._owner._mirror_delete([o.uuid for o in result.objects or [] if o.successful])
        return result if verbose else dc_replace(result, objects=None)


class _DualWriteBatchWrapper:
    """``Collection.batch``: its batching contexts are wrapped; ``failed_objects``, ``results``... pass through."""

    def __init__(self, owner: DualWriteWeaviateCollection) -> None:
        self._owner = owner

    @property
    def _real(self) -> Any:
        return self._owner.wrapped.batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def dynamic(self) -> _DualWriteBatchContext:
        """``batch.dynamic()``, dual-written."""
        return _DualWriteBatchContext(self._owner, self._real, self._real.dynamic())

    def fixed_size(self, batch_size: int = 100, concurrent_requests: int = 2) -> _DualWriteBatchContext:
        """``batch.fixed_size()``, dual-written."""
        return _DualWriteBatchContext(self._owner, self._real,
                                      self._real.fixed_size(batch_size=batch_size,
                                                            concurrent_requests=concurrent_requests))

    def rate_limit(self, requests_per_minute: int) -> _DualWriteBatchContext:
        """``batch.rate_limit()``, dual-written."""
        return _DualWriteBatchContext(self._owner, self._real, self._real.rate_limit(requests_per_minute))

    def stream(self, *, concurrency: int | None = None) -> _DualWriteBatchContext:
        """``batch.stream()`` (server-side batching), dual-written."""
        return _DualWriteBatchContext(self._owner, self._real, self._real.stream(concurrency=concurrency))


class _DualWriteBatchContext:
    """A batching context manager whose ``add_object`` calls are mirrored after the client sent them."""

    def __init__(self, owner: DualWriteWeaviateCollection, wrapper: Any, manager: Any) -> None:
        self._owner = owner
        self._wrapper = wrapper
        self._manager = manager
        self._batch: _DualWriteBatch | None = None

    def __enter__(self) -> _DualWriteBatch:
        self._batch = _DualWriteBatch(self._owner, self._wrapper, self._manager.__enter__())
        return self._batch

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self._manager.__exit__(et, ev, tb)  # sends what is left and waits for every request
        finally:
            # Even when the client failed to send some: what it did send is in the source. Ids it did not send
            # are re-read, not found, and left to sync (which reads the source, the truth).
            if self._batch is not None:
                self._batch._mirror_sent()


class _DualWriteBatch:
    """The batch object of a wrapped batching context: ``add_object`` is recorded, the rest is the client's."""

    def __init__(self, owner: DualWriteWeaviateCollection, wrapper: Any, batch: Any) -> None:
        self._owner = owner
        self._wrapper = wrapper
        self._real = batch
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._keys: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        # add_reference, number_errors...
        return getattr(self._real, name)

    def add_object(self, properties: Any = None, references: Any = None, uuid: Any = None,
                   vector: Any = None) -> Any:
        """``batch.add_object``; the returned uuid is mirrored once the client has sent the object."""
        result = self._real.add_object(properties=properties, references=references, uuid=uuid, vector=vector)
        with self._lock:
            self._pending.append(_uid(result))
            self._keys.update(_keys(properties or {}))
        return result

    def flush(self) -> None:
        """``batch.flush()`` (sends everything added so far), then mirror those objects."""
        self._real.flush()
        self._mirror_sent()

    def _mirror_sent(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            keys = set(self._keys)
        if not pending:
            return
        failed = {_uid(e.object_.uuid) for e in self._wrapper.failed_objects if e.object_.uuid is not None}
        self._owner._mirror([i for i in pending if i not in failed], keys)


def dual_write_collection(collection: Any, dual: DualWriter) -> DualWriteWeaviateCollection:
    """Wrap a weaviate-client v4 collection so that its writes are dual-written (see the module docstring)."""
    return DualWriteWeaviateCollection(collection, dual)
