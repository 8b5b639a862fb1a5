"""Dual-write for applications that use pymilvus's ``MilvusClient``.

Wrap the client the application already has; every call keeps its signature and result::

    dw = DualWriter.for_migration("mig-1")
    client = DualWriteMilvusClient(MilvusClient(uri=...), dw)
    client.insert("docs", data=[{"id": 1, "vector": [...], "title": "..."}], partition_name="2024")
    client.search("docs", ...)                  # anything else goes straight to the real client

``insert``, ``upsert`` and ``delete`` on the migration's source collection run on the real client first,
unchanged. The primary keys come from the call's result (so ``auto_id`` keys are known), or from the rows. The
touched rows are then re-read through the migration's source connector (Strong consistency by default, so the
read sees the write) and mirrored: a partial upsert, a server-side default or a dynamic field reaches the target
as Milvus stored it. ``delete(filter=...)`` is resolved to primary keys by a query before the delete runs.
A partition is the record's namespace (``_default``: none), as in the Milvus connector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vectormigrate.errors import ConfigError
from vectormigrate.model import RecordId
from vectormigrate.zerodowntime.dualwriter import DualWriter

__all__ = ["DualWriteMilvusClient"]

_DEFAULT_PARTITION = "_default"
_QUERY_WINDOW = 16_384
"""Milvus refuses a query ``limit`` above 16,384."""


class DualWriteMilvusClient:
    """A ``MilvusClient`` whose writes to the migration's source collection are dual-written.

    Args:
        client: the application's client on the source (the real one; it keeps being used for everything).
        dual: the migration's dual-writer; its source connector re-reads the written rows (it is opened on first
            use from the migration's spec when the dual-writer was made by ``DualWriter.for_migration``).
        collection: the source collection (default: the dual-writer's).
    """

    def __init__(self, client: Any, dual: DualWriter, *, collection: str | None = None) -> None:
        self._client = client
        self._dual = dual
        self._collection = collection or dual.source_collection
        self._pk: str | None = None

    def __getattr__(self, name: str) -> Any:
        # Everything not overridden (search, query, get, collection management) is the real client's.
        return getattr(self._client, name)

    @property
    def dual_writer(self) -> DualWriter:
        """The dual-writer behind this client."""
        return self._dual

    def _ours(self, collection_name: str) -> bool:
        return collection_name == self._collection

    def _primary_key(self, collection_name: str) -> str:
        if self._pk is None:
            desc = self._client.describe_collection(collection_name)
            pks = [f["name"] for f in desc.get("fields", []) if f.get("is_primary")]
            if not pks:
                msg = f"milvus collection {collection_name!r} has no primary key field"
                raise ConfigError(msg, hint="check the collection")
            self._pk = str(pks[0])
        return self._pk

    @staticmethod
    def _namespace(partition_name: str | None) -> str | None:
        return partition_name if partition_name and partition_name != _DEFAULT_PARTITION else None

    def _written_ids(self, collection_name: str, data: Any, result: Any) -> list[RecordId]:
        ids = result.get("ids") if isinstance(result, Mapping) else None
        if ids is not None and len(ids):
            return list(ids)
        rows = [data] if isinstance(data, Mapping) else list(data)
        pk = self._primary_key(collection_name)
        return [row[pk] for row in rows if pk in row]

    def _mirror(self, ids: Sequence[RecordId], partition_name: str | None) -> None:
        ns = self._namespace(partition_name)
        self._dual.mirror_ids(list(dict.fromkeys(ids)), ns, lambda wanted: self._dual.source_fetch(wanted, ns))

    # -- writes -----------------------------------------------------------------------------------------------------
    def insert(self, collection_name: str, data: Any, timeout: float | None = None, partition_name: str | None = "",
               **kwargs: Any) -> Any:
        """``MilvusClient.insert``, then mirror the inserted rows."""
        if not self._ours(collection_name):
            return self._client.insert(collection_name, data, timeout=timeout, partition_name=partition_name,
                                       **kwargs)
        data = data if isinstance(data, Mapping) else list(data)
        result = self._client.insert(collection_name, data, timeout=timeout, partition_name=partition_name, **kwargs)
        self._mirror(self._written_ids(collection_name, data, result), partition_name)
        return result

    def upsert(self, collection_name: str, data: Any, timeout: float | None = None, partition_name: str | None = "",
               **kwargs: Any) -> Any:
        """``MilvusClient.upsert`` (partial updates too), then mirror the rows."""
        if not self._ours(collection_name):
            return self._client.upsert(collection_name, data, timeout=timeout, partition_name=partition_name,
                                       **kwargs)
        data = data if isinstance(data, Mapping) else list(data)
        result = self._client.upsert(collection_name, data, timeout=timeout, partition_name=partition_name, **kwargs)
        self._mirror(self._written_ids(collection_name, data, result), partition_name)
        return result

    def delete(self, collection_name: str, ids: Any = None, timeout: float | None = None, filter: str | None = None,
               partition_name: str | None = None, **kwargs: Any) -> Any:
        """``MilvusClient.delete`` (by ids or by filter), then delete the same keys from the target."""
        if not self._ours(collection_name):
            return self._client.delete(collection_name, ids=ids, timeout=timeout, filter=filter,
                                       partition_name=partition_name, **kwargs)
        if ids is not None:
            keys: list[RecordId] = list(ids) if isinstance(ids, list | tuple) else [ids]
        elif filter:
            pk = self._primary_key(collection_name)
            rows = self._client.query(collection_name, filter=filter, output_fields=[pk],
                                      partition_names=[partition_name] if partition_name else None,
                                      limit=_QUERY_WINDOW)
            if len(rows) >= _QUERY_WINDOW:
                # Refused before anything is deleted: the keys past Milvus's query window could not be journaled.
                msg = f"delete(filter=...) on {collection_name!r} matches {_QUERY_WINDOW:,} rows or more"
                raise ConfigError(msg, hint="delete in smaller steps while the migration dual-writes")
            keys = [row[pk] for row in rows]
        else:
            keys = []
        result = self._client.delete(collection_name, ids=ids, timeout=timeout, filter=filter,
                                     partition_name=partition_name, **kwargs)
        self._dual.mirror_delete(keys, self._namespace(partition_name))
        return result
