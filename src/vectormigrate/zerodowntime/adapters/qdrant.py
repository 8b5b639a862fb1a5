"""Dual-write for applications that use qdrant-client's ``QdrantClient``.

Wrap the client the application already has; every call keeps its signature and result::

    client = DualWriteQdrantClient(QdrantClient(url=...), DualWriter.for_migration("mig-1"))
    client.upsert("docs", points=[...])          # source write, journal, target write
    client.query_points("docs", ...)             # anything else goes straight to the real client

Writes to the migration's source collection (``upsert``, ``upload_points``, ``upload_collection``, ``delete``,
``set_payload``, ``overwrite_payload``, ``delete_payload``, ``clear_payload``, ``update_vectors``,
``delete_vectors``) run on the real client first, unchanged. The touched points are then re-read through the same
client and mirrored, so the target gets exactly what Qdrant stored (partial payload updates, normalised cosine
vectors). Selectors that are filters are resolved to point ids by a scroll before the write. ``batch_update_points``
on the source collection is refused (its operations cannot be mirrored one by one); writes to other collections
pass through untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from vectormigrate.connectors.qdrant._convert import record_id, record_of
from vectormigrate.errors import ConfigError
from vectormigrate.model import RecordId, VectorRecord
from vectormigrate.zerodowntime.dualwriter import DualWriter

__all__ = ["DualWriteQdrantClient"]

_RETRIEVE_CHUNK = 256
_SCROLL_PAGE = 1000


def _pid(value: Any) -> RecordId:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int | str) and not isinstance(value, bool):
        return record_id(value)
    if hasattr(value, "HasField"):  # a gRPC PointId
        return int(value.num) if value.HasField("num") else str(value.uuid)
    msg = f"cannot read a point id from {value!r}"
    raise ConfigError(msg, hint="pass ids as ints, UUID strings or uuid.UUID")


class DualWriteQdrantClient:
    """A ``QdrantClient`` whose writes to the migration's source collection are dual-written.

    Args:
        client: the application's client on the source (the real one; it keeps being used for everything).
        dual: the migration's dual-writer (its target, plan and journal).
        collection: the source collection (default: the dual-writer's).
        namespace_field: payload key that holds the namespace, when the source used the qdrant connector's
            ``namespace_field`` option (default: what the plan recorded).
    """

    def __init__(self, client: Any, dual: DualWriter, *, collection: str | None = None,
                 namespace_field: str | None = None) -> None:
        self._client = client
        self._dual = dual
        self._collection = collection or dual.source_collection
        extras = dual.plan.source_schema.extras
        self._field = namespace_field or (str(extras["namespace_field"]) if extras.get("namespace_field") else None)

    def __getattr__(self, name: str) -> Any:
        # Everything not overridden (searches, scrolls, collection management) is the real client's.
        return getattr(self._client, name)

    @property
    def dual_writer(self) -> DualWriter:
        """The dual-writer behind this client."""
        return self._dual

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _ours(self, collection_name: str) -> bool:
        return collection_name == self._collection

    def _fetch(self, collection_name: str) -> Any:
        def fetch(ids: Sequence[RecordId]) -> list[VectorRecord]:
            out: list[VectorRecord] = []
            for start in range(0, len(ids), _RETRIEVE_CHUNK):
                points = self._client.retrieve(collection_name, ids=list(ids[start:start + _RETRIEVE_CHUNK]),
                                               with_payload=True, with_vectors=True)
                out.extend(record_of(p, self._field) for p in points)
            return out
        return fetch

    def _mirror(self, collection_name: str, ids: Sequence[RecordId]) -> None:
        self._dual.mirror_ids(list(dict.fromkeys(ids)), None, self._fetch(collection_name))

    def _selected(self, collection_name: str, selector: Any) -> list[RecordId]:
        """The point ids a points selector names (a filter is resolved by a scroll, before the write)."""
        from qdrant_client import models

        if isinstance(selector, models.PointIdsList):
            return [_pid(p) for p in selector.points]
        flt = selector.filter if isinstance(selector, models.FilterSelector) else selector
        if isinstance(flt, models.Filter):
            ids: list[RecordId] = []
            offset = None
            while True:
                page, offset = self._client.scroll(collection_name, scroll_filter=flt, limit=_SCROLL_PAGE,
                                                   offset=offset, with_payload=False, with_vectors=False)
                ids.extend(_pid(p.id) for p in page)
                if offset is None:
                    return ids
        if isinstance(selector, list | tuple):
            return [_pid(p) for p in selector]
        msg = f"cannot dual-write with a points selector of type {type(selector).__name__}"
        raise ConfigError(msg, hint="pass a list of ids, PointIdsList, Filter or FilterSelector (REST models)")

    # -- writes ---------------------------------------------------------------------------------------------------
    def upsert(self, collection_name: str, points: Any, *args: Any, **kwargs: Any) -> Any:
        """``QdrantClient.upsert``, then mirror the points."""
        if not self._ours(collection_name):
            return self._client.upsert(collection_name, points, *args, **kwargs)
        from qdrant_client import models

        if isinstance(points, models.Batch):
            ids = [_pid(i) for i in points.ids]
        else:
            points = list(points)
            ids = [_pid(p.id) for p in points]
        result = self._client.upsert(collection_name, points, *args, **kwargs)
        self._mirror(collection_name, ids)
        return result

    def upload_points(self, collection_name: str, points: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        """``QdrantClient.upload_points``, then mirror the points (the iterable is read once, here)."""
        if not self._ours(collection_name):
            return self._client.upload_points(collection_name, points, *args, **kwargs)
        points = list(points)
        result = self._client.upload_points(collection_name, points, *args, **kwargs)
        self._mirror(collection_name, [_pid(p.id) for p in points])
        return result

    def upload_collection(self, collection_name: str, vectors: Any, payload: Iterable[Any] | None = None,
                          ids: Iterable[Any] | None = None, *args: Any, **kwargs: Any) -> Any:
        """``QdrantClient.upload_collection``, then mirror the points.

        Without ``ids`` the client would make random UUIDs that nobody learns; the adapter makes them instead
        (also random UUIDs), so it can journal them.
        """
        if not self._ours(collection_name):
            return self._client.upload_collection(collection_name, vectors, payload, ids, *args, **kwargs)
        if not isinstance(vectors, dict) and not hasattr(vectors, "shape"):
            vectors = list(vectors)
        n = len(next(iter(vectors.values()))) if isinstance(vectors, dict) else len(vectors)
        id_list = [str(uuid.uuid4()) for _ in range(n)] if ids is None else list(ids)
        payload_list = list(payload) if payload is not None else None
        result = self._client.upload_collection(collection_name, vectors, payload_list, id_list, *args, **kwargs)
        self._mirror(collection_name, [_pid(i) for i in id_list])
        return result

    def delete(self, collection_name: str, points_selector: Any, *args: Any, **kwargs: Any) -> Any:
        """``QdrantClient.delete``, then delete the same points from the target."""
        if not self._ours(collection_name):
            return self._client.delete(collection_name, points_selector, *args, **kwargs)
        ids = self._selected(collection_name, points_selector)
        result = self._client.delete(collection_name, points_selector, *args, **kwargs)
        self._dual.mirror_delete(ids, None)
        return result

    def _payload_op(self, collection_name: str, selector: Any, call: Any) -> Any:
        if not self._ours(collection_name):
            return call()
        ids = self._selected(collection_name, selector)
        result = call()
        self._mirror(collection_name, ids)
        return result

    def set_payload(self, collection_name: str, payload: Any, points: Any, *args: Any, **kwargs: Any) -> Any:
        """``QdrantClient.set_payload``, then mirror the points it touched."""
        return self._payload_op(collection_name, points,
                                lambda: self._client.set_payload(collection_name, payload, points, *args, **kwargs))

    def overwrite_payload(self, collection_name: str, payload: Any, points: Any, *args: Any, **kwargs: Any) -> Any:
        """``QdrantClient.overwrite_payload``, then mirror the points it touched."""
        return self._payload_op(collection_name, points,
                                lambda: self._client.overwrite_payload(collection_name, payload, points, *args,
                                                                       **kwargs))

    def delete_payload(self, collection_name: str, keys: Any, points: Any, *args: Any, **kwargs: Any) -> Any:
        """``QdrantClient.delete_payload``, then mirror the points it touched."""
        return self._payload_op(collection_name, points,
                                lambda: self._client.delete_payload(collection_name, keys, points, *args, **kwargs))

    def clear_payload(self, collection_name: str, points_selector: Any, *args: Any, **kwargs: Any) -> Any:
        """``QdrantClient.clear_payload``, then mirror the points it touched."""
        return self._payload_op(collection_name, points_selector,
                                lambda: self._client.clear_payload(collection_name, points_selector, *args, **kwargs))

    def delete_vectors(self, collection_name: str, vectors: Any, points: Any, *args: Any, **kwargs: Any) -> Any:
        """``QdrantClient.delete_vectors``, then mirror the points it touched."""
        return self._payload_op(collection_name, points,
                                lambda: self._client.delete_vectors(collection_name, vectors, points, *args, **kwargs))

    def update_vectors(self, collection_name: str, points: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        """``QdrantClient.update_vectors``, then mirror the points."""
        if not self._ours(collection_name):
            return self._client.update_vectors(collection_name, points, *args, **kwargs)
        points = list(points)
        result = self._client.update_vectors(collection_name, points, *args, **kwargs)
        self._mirror(collection_name, [_pid(p.id) for p in points])
        return result

    def batch_update_points(self, collection_name: str, *args: Any, **kwargs: Any) -> Any:
        """Passed through for other collections; refused for the source collection (see the module docstring).

        Raises:
            ConfigError: on the migration's source collection.
        """
        if not self._ours(collection_name):
            return self._client.batch_update_points(collection_name, *args, **kwargs)
        msg = "batch_update_points on the source collection cannot be dual-written"
        raise ConfigError(msg, hint="call upsert / delete / set_payload ... one by one while the migration runs, or "
                          "write without the adapter and repair with `vectormigrate sync ID --full`")
