"""VectorMigrate's pytest plugin (``pytest11`` entry point): markers and one selection hook, nothing heavy.

pytest loads this module in every project where VectorMigrate is installed, so it imports nothing beyond the
standard library and pytest itself.

* Markers: ``conformance`` (set on every :class:`~vectormigrate.testing.conformance.ConnectorConformance`
  case), ``requires_docker`` and ``requires_creds`` (for connector suites that need a container or a cloud
  account).
* ``VM_ACTIVE_CONNECTORS=memory,qdrant`` runs the conformance suites of those connectors only: a test class
  names its connector with a ``connector_name`` class attribute (classes without one always run).
"""

from __future__ import annotations

import os

import pytest

_MARKERS = (
    "conformance: a case of the shipped connector conformance suite (vectormigrate.testing.conformance)",
    "requires_docker: needs a database started with docker compose",
    "requires_creds: needs cloud credentials in the environment",
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, so ``--strict-markers`` accepts them."""
    for line in _MARKERS:
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip conformance classes whose ``connector_name`` is not in ``VM_ACTIVE_CONNECTORS`` (when it is set)."""
    del config
    raw = os.environ.get("VM_ACTIVE_CONNECTORS", "").strip()
    if not raw:
        return
    active = {name.strip() for name in raw.split(",") if name.strip()}
    for item in items:
        cls = getattr(item, "cls", None)
        name = getattr(cls, "connector_name", None)
        if isinstance(name, str) and name not in active:
            item.add_marker(pytest.mark.skip(reason=f"{name} is not in VM_ACTIVE_CONNECTORS={raw}"))
