"""The same conformance suite against REAL services, when their credentials are in the environment.

    PINECONE_API_KEY=...  [PINECONE_HOST=https://api.pinecone.io]  .venv/bin/pytest tests/live
    WEAVIATE_URL=https://xyz.weaviate.cloud  [WEAVIATE_API_KEY=...] [WEAVIATE_GRPC_PORT=50051]
    QDRANT_URL=http://localhost:6333  [QDRANT_API_KEY=...]
    MILVUS_URL=http://localhost:19530  [MILVUS_TOKEN=...]

`compose.yaml` at the repository root starts Qdrant, Weaviate, Milvus and Pinecone Local for people with Docker.
Each test class is skipped (with the variable it needs) when its service is not configured; the default test run
has none of them and uses the engines and emulators described in the README. Collections are created with a
unique name and dropped afterwards. These tests write to the service: point them at a test project.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from test_pinecone import TestPineconeConformance as _PineconeCases
from test_weaviate import TestWeaviateConformance as _WeaviateCases

from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.testing.conformance import ConnectorConformance


def _need(*names: str) -> None:
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        pytest.skip(f"live service not configured: set {', '.join(missing)}")


def _open(kind: str, url: str | None, key: str | None, **options: str) -> Connector:
    return open_connector(kind, ConnectionConfig(url=url, api_key=key, options=options))


class TestLivePinecone(_PineconeCases):
    """Real Pinecone (serverless). Index names: lowercase, dashes."""

    @pytest.fixture
    def connector(self) -> Iterator[Connector]:  # type: ignore[override]
        _need("PINECONE_API_KEY")
        with _open("pinecone", os.environ.get("PINECONE_HOST"), os.environ["PINECONE_API_KEY"]) as conn:
            yield conn

    @pytest.fixture
    def collection_name(self) -> str:
        return f"vm-live-{uuid.uuid4().hex[:8]}"


class TestLiveWeaviate(_WeaviateCases):
    """Real Weaviate (self-hosted or Weaviate Cloud)."""

    @pytest.fixture
    def connector(self) -> Iterator[Connector]:  # type: ignore[override]
        _need("WEAVIATE_URL")
        opts = {"grpc_port": os.environ["WEAVIATE_GRPC_PORT"]} if os.environ.get("WEAVIATE_GRPC_PORT") else {}
        with _open("weaviate", os.environ["WEAVIATE_URL"], os.environ.get("WEAVIATE_API_KEY"), **opts) as conn:
            yield conn

    @pytest.fixture
    def collection_name(self) -> str:
        return f"VmLive{uuid.uuid4().hex[:8]}"


class TestLiveQdrant(ConnectorConformance):
    """A real Qdrant server (the default test run can only use qdrant-client's local mode)."""

    @pytest.fixture
    def connector(self) -> Iterator[Connector]:
        _need("QDRANT_URL")
        with _open("qdrant", os.environ["QDRANT_URL"], os.environ.get("QDRANT_API_KEY")) as conn:
            yield conn

    @pytest.fixture
    def collection_name(self) -> str:
        return f"vm_live_{uuid.uuid4().hex[:8]}"


class TestLiveMilvus(ConnectorConformance):
    """A real Milvus 2.4+ server (the default run uses milvus-lite and a Milvus 2.3.5 server)."""

    @pytest.fixture
    def connector(self) -> Iterator[Connector]:
        _need("MILVUS_URL")
        with _open("milvus", os.environ["MILVUS_URL"], os.environ.get("MILVUS_TOKEN")) as conn:
            yield conn

    @pytest.fixture
    def collection_name(self) -> str:
        return f"vm_live_{uuid.uuid4().hex[:8]}"
