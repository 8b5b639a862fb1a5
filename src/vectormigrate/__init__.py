"""VectorMigrate: move vector data between vector databases, resumably, and prove it."""

from vectormigrate.connectors.base import ConnectionConfig, Connector, Source, Target
from vectormigrate.errors import VectorMigrateError
from vectormigrate.model import Batch, Capabilities, CollectionSchema, Metric, SparseVector, VectorRecord

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "Capabilities",
    "CollectionSchema",
    "ConnectionConfig",
    "Connector",
    "Metric",
    "Source",
    "SparseVector",
    "Target",
    "VectorMigrateError",
    "VectorRecord",
    "__version__",
]
