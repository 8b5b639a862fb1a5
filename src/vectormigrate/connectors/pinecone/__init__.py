"""Pinecone connector (``pip install 'vectormigrate[pinecone]'``): serverless and pod indexes over REST."""

from vectormigrate.connectors.pinecone.connector import PineconeConnector

__all__ = ["PineconeConnector"]
