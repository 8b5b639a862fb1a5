"""Shared fixtures: an isolated state database and a clean in-memory store for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vectormigrate.connectors.memory import reset_memory_store
from vectormigrate.state.store import StateStore


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Never touch the user's real state database or API keys from a test.
    monkeypatch.setenv("VECTORMIGRATE_STATE_DB", str(tmp_path / "default-state.db"))
    for var in ("VECTORMIGRATE_SOURCE_API_KEY", "VECTORMIGRATE_TARGET_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    reset_memory_store()
    yield
    reset_memory_store()


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state.db")
