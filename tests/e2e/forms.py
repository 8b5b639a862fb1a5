"""Every engine form a connector runs on here, and how a test reaches it.

``milvus-server`` is the real Milvus 2.3.5 server that scripts/test.sh starts ($VM_MILVUS_URL). Pinecone and
Weaviate cannot run here: their forms are the wire-level emulators in tests/emulators, reached through the
official SDKs over real sockets. Server forms are shared, so callers use unique collection names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vectormigrate.service import Endpoint

EMULATOR_KEY = "test-key-0123456789"


@dataclass(frozen=True)
class Form:
    """One engine form."""

    name: str
    type: str
    url: Callable[[Path, pytest.FixtureRequest], str]
    options: Callable[[pytest.FixtureRequest], dict[str, str]] = lambda _: {}
    api_key: str | None = None
    sparse: bool = True
    collection: Callable[[str, str], str] = lambda role, suffix: f"{role}_{suffix}"
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())

    def endpoint(self, tmp: Path, request: pytest.FixtureRequest, collection: str) -> Endpoint:
        """Where this form is, for a test in ``tmp``."""
        return Endpoint(self.type, collection, url=self.url(tmp, request), api_key=self.api_key,
                        options=self.options(request))


def milvus_server_url(_: Path, __: pytest.FixtureRequest) -> str:
    url = os.environ.get("VM_MILVUS_URL", "")
    if not url.startswith("http"):
        pytest.fail("VM_MILVUS_URL is not set to a running Milvus server (scripts/test.sh starts one); "
                    "deselect these tests with -m 'not milvus_server' to run without it")
    return url


FORMS: dict[str, Form] = {
    "memory": Form("memory", "memory", lambda p, _: f"mem-{p}"),
    "parquet": Form("parquet", "parquet", lambda p, _: str(p / "parquet")),
    "qdrant-local": Form("qdrant-local", "qdrant", lambda p, _: str(p / "qdrant")),
    "milvus-lite": Form("milvus-lite", "milvus", lambda p, _: str(p / "milvus.db")),
    "milvus-server": Form("milvus-server", "milvus", milvus_server_url, sparse=False,
                          marks=(pytest.mark.milvus_server,)),
    "pinecone-emulator": Form("pinecone-emulator", "pinecone",
                              lambda _, r: r.getfixturevalue("pinecone_emulator").url, api_key=EMULATOR_KEY,
                              collection=lambda role, suffix: f"{role}-{suffix}"),
    "weaviate-emulator": Form("weaviate-emulator", "weaviate",
                              lambda _, r: r.getfixturevalue("weaviate_emulator").url,
                              options=lambda r: {"grpc_port": str(r.getfixturevalue("weaviate_emulator").grpc_port)},
                              api_key=EMULATOR_KEY, collection=lambda role, suffix: f"{role.title()}{suffix}"),
}
