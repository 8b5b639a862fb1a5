"""Qdrant connector (``pip install 'vectormigrate[qdrant]'``): server, local folder or ``:memory:``."""

from vectormigrate.connectors.qdrant.connector import QdrantConnector

__all__ = ["QdrantConnector"]
