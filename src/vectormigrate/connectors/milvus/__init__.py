"""Milvus connector: a Milvus server or a milvus-lite ``.db`` file, through pymilvus ``MilvusClient``.

Importing this package imports pymilvus; the registry does that lazily and turns a missing SDK into
``pip install 'vectormigrate[milvus]'``. Quirks of each Milvus form are in ``NOTES.md`` next to this file.
"""

from vectormigrate.connectors.milvus.connector import MilvusConnector

__all__ = ["MilvusConnector"]
