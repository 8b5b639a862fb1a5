"""VectorMigrate: move vector data between vector databases, resumably, and prove it."""

from vectormigrate.connectors.base import ConnectionConfig, Connector, Source, Target
from vectormigrate.errors import VectorMigrateError
from vectormigrate.model import Batch, Capabilities, CollectionSchema, Metric, SparseVector, VectorRecord
from vectormigrate.zerodowntime.dualwriter import DualWriter  # no SDK: adapters import theirs when used

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "Capabilities",
    "CollectionSchema",
    "ConnectionConfig",
    "Connector",
    "DualWriter",
    "Metric",
    "Source",
    "SparseVector",
    "Target",
    "VectorMigrateError",
    "VectorRecord",
    "__version__",
]
