"""A connector type for crash tests, registered through $VECTORMIGRATE_CONNECTORS in a subprocess.

``crashy-<kind>`` is ``<kind>`` wrapped in FaultyConnector that hard-exits the process (status 137, as kill -9
would) after ``$VM_CRASH_AFTER`` successful writes, at ``$VM_CRASH_POINT``. Without the variable it is the plain
connector, so ``resume`` in a later process runs clean.
"""

from __future__ import annotations

import os
from typing import Any

from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.testing.faulty import FaultyConnector, hard_exit


class _Crashy(Connector):
    inner_kind = ""

    def __new__(cls, config: ConnectionConfig) -> Any:  # type: ignore[misc]
        inner = open_connector(cls.inner_kind, config)
        after = os.environ.get("VM_CRASH_AFTER")
        if not after:
            return inner
        return FaultyConnector(inner, crash_after_writes=int(after), crash=hard_exit,
                               crash_point=os.environ.get("VM_CRASH_POINT", "after_write"))  # type: ignore[arg-type]


class CrashyQdrant(_Crashy):
    inner_kind = "qdrant"


class CrashyMilvus(_Crashy):
    inner_kind = "milvus"
