"""Dual-write for applications that use the ``pinecone`` SDK's ``Index``.

Wrap the index object the application already has; every call keeps its signature and result::

    index = DualWritePineconeIndex(pc.Index(host=...), DualWriter.for_migration("mig-1"))
    index.upsert(vectors=[("doc-1", [...], {"title": "..."})], namespace="tenant-a")
    index.query(...)                              # anything else goes straight to the real index

``upsert``, ``upsert_from_dataframe``, ``update`` (by id) and ``delete`` (by ids) run on the real index first,
unchanged. The touched records are then re-read through the migration's source connector and mirrored, so a
metadata-only ``update`` reaches the target whole. ``delete(delete_all=True)``, ``delete(filter=...)`` and
``update(filter=...)`` are refused before they run: nothing tells which ids they touch. Pinecone's reads are
eventually consistent, so a re-read right after a write may miss it; the id is journaled and the next ``sync``
copies it. The default namespace (``""``) is the canonical "no namespace".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vectormigrate.errors import ConfigError
from vectormigrate.model import RecordId
from vectormigrate.zerodowntime.dualwriter import DualWriter

__all__ = ["DualWritePineconeIndex"]

_DEFAULT = ("", "__default__")


def _vector_id(v: Any) -> RecordId:
    if isinstance(v, Mapping):
        return str(v["id"])
    if isinstance(v, tuple | list):
        return str(v[0])
    return str(v.id)


class DualWritePineconeIndex:
    """A Pinecone ``Index`` whose writes are dual-written (one index = one source collection).

    Args:
        index: the application's index object on the source (the real one; it keeps being used for everything).
        dual: the migration's dual-writer; its source connector re-reads the written records.
    """

    def __init__(self, index: Any, dual: DualWriter) -> None:
        self._index = index
        self._dual = dual

    def __getattr__(self, name: str) -> Any:
        # Everything not overridden (query, fetch, list, describe_index_stats) is the real index's.
        return getattr(self._index, name)

    @property
    def dual_writer(self) -> DualWriter:
        """The dual-writer behind this index."""
        return self._dual

    def _mirror(self, ids: Sequence[RecordId], namespace: str) -> None:
        ns = None if namespace in _DEFAULT else namespace
        # Re-read from exactly this namespace ("" is the default one), not from every namespace.
        self._dual.mirror_ids(list(dict.fromkeys(ids)), ns, lambda wanted: self._dual.source_fetch(wanted, namespace))

    def upsert(self, *, vectors: Sequence[Any], namespace: str = "", **kwargs: Any) -> Any:
        """``Index.upsert``, then mirror the records."""
        vectors = list(vectors)
        result = self._index.upsert(vectors=vectors, namespace=namespace, **kwargs)
        self._mirror([_vector_id(v) for v in vectors], namespace)
        return result

    def upsert_from_dataframe(self, df: Any, namespace: str | None = None, *args: Any, **kwargs: Any) -> Any:
        """``Index.upsert_from_dataframe``, then mirror the records of its ``id`` column."""
        result = self._index.upsert_from_dataframe(df, namespace, *args, **kwargs)
        self._mirror([str(i) for i in df["id"]], namespace or "")
        return result

    def update(self, *, id: str | None = None, namespace: str = "", filter: Any = None,
               **kwargs: Any) -> Any:
        """``Index.update`` of one id, then mirror it (update by filter is refused).

        Raises:
            ConfigError: an update by ``filter``.
        """
        if filter is not None or id is None:
            msg = "Index.update(filter=...) cannot be dual-written: nothing tells which records it changes"
            raise ConfigError(msg, hint="update by id while the migration runs, or repair with `vectormigrate sync "
                              "ID --full`")
        result = self._index.update(id=id, namespace=namespace, **kwargs)
        self._mirror([id], namespace)
        return result

    def delete(self, *, ids: Sequence[str] | None = None, delete_all: bool = False, filter: Any = None,
               namespace: str = "", **kwargs: Any) -> Any:
        """``Index.delete`` by ids, then delete them from the target (delete_all / filter are refused).

        Raises:
            ConfigError: ``delete_all`` or ``filter``.
        """
        if delete_all or filter is not None:
            msg = "Index.delete(delete_all=... / filter=...) cannot be dual-written: nothing tells which ids it removes"
            raise ConfigError(msg, hint="delete by ids while the migration runs, or repair with `vectormigrate sync "
                              "ID --full`")
        keys = list(ids or [])
        result = self._index.delete(ids=keys, namespace=namespace, **kwargs)
        self._dual.mirror_delete(keys, None if namespace in _DEFAULT else namespace)
        return result
