"""Test kit shipped with VectorMigrate: the connector conformance suite and a fault-injecting wrapper.

* :class:`~vectormigrate.testing.conformance.ConnectorConformance` — subclass it in a test module and provide the
  ``connector`` and ``collection_name`` fixtures; every case reads ``connector.capabilities`` and skips what
  does not apply.
* :class:`~vectormigrate.testing.faulty.FaultyConnector` — wraps any connector to raise transient or terminal
  errors, or to "crash" after N writes, so retry and resume tests run in milliseconds.
* :func:`~vectormigrate.testing.compare.assert_records_match` — compare records as a user would (ids exactly,
  vectors by cosine, metadata by value).

The names are imported lazily: pytest loads the plugin next to this package in every project that has
VectorMigrate installed, and that must not pull in pytest fixtures or the suite.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vectormigrate.testing.compare import assert_records_match, metadata_diff, record_diff
    from vectormigrate.testing.conformance import ConnectorConformance
    from vectormigrate.testing.faulty import FaultyConnector, SimulatedCrash, hard_exit

__all__ = [
    "ConnectorConformance",
    "FaultyConnector",
    "SimulatedCrash",
    "assert_records_match",
    "hard_exit",
    "metadata_diff",
    "record_diff",
]

_WHERE = {
    "ConnectorConformance": "conformance",
    "FaultyConnector": "faulty",
    "SimulatedCrash": "faulty",
    "hard_exit": "faulty",
    "assert_records_match": "compare",
    "metadata_diff": "compare",
    "record_diff": "compare",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'vectormigrate.testing' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(f"vectormigrate.testing.{module}"), name)
