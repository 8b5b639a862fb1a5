"""Emulators shared by the end-to-end tests (started once, only when a test needs them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from forms import EMULATOR_KEY

from emulators.pinecone_server import PineconeEmulator
from emulators.weaviate_server import WeaviateEmulator


@pytest.fixture(scope="session")
def pinecone_emulator() -> Iterator[PineconeEmulator]:
    with PineconeEmulator(api_key=EMULATOR_KEY) as emu:
        yield emu


@pytest.fixture(scope="session")
def weaviate_emulator() -> Iterator[WeaviateEmulator]:
    with WeaviateEmulator(api_key=EMULATOR_KEY) as emu:
        yield emu
