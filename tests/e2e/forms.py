"""Every engine form a connector runs on here, as (type, url) factories for a test's tmp folder.

``milvus-server`` is the real Milvus 2.3.5 server that scripts/test.sh starts ($VM_MILVUS_URL); it is shared by
every test, so callers use unique collection names on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Form:
    """One engine form."""

    name: str
    type: str
    url: Callable[[Path], str]
    sparse: bool = True
    marks: tuple[pytest.MarkDecorator, ...] = ()


def milvus_server_url(_: Path) -> str:
    url = os.environ.get("VM_MILVUS_URL", "")
    if not url.startswith("http"):
        pytest.fail("VM_MILVUS_URL is not set to a running Milvus server (scripts/test.sh starts one); "
                    "set VM_SKIP_MILVUS_SERVER=1 to deselect these tests explicitly")
    return url


FORMS: dict[str, Form] = {
    "memory": Form("memory", "memory", lambda p: f"mem-{p.name}"),
    "parquet": Form("parquet", "parquet", lambda p: str(p / "parquet")),
    "qdrant-local": Form("qdrant-local", "qdrant", lambda p: str(p / "qdrant")),
    "milvus-lite": Form("milvus-lite", "milvus", lambda p: str(p / "milvus.db")),
    "milvus-server": Form("milvus-server", "milvus", milvus_server_url, sparse=False,
                          marks=(pytest.mark.milvus_server,)),
}
