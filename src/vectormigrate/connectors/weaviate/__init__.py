"""Weaviate connector (``pip install 'vectormigrate[weaviate]'``): a server over REST + gRPC, or Weaviate Cloud."""

from vectormigrate.connectors.weaviate.connector import WeaviateConnector

__all__ = ["WeaviateConnector"]
