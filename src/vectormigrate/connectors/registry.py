"""Lazy connector registry: dotted paths with install hints, plus the ``vectormigrate.connectors`` entry points.

Nothing here imports a database SDK. A connector's module is imported the first time it is asked for, and a
missing SDK becomes a :class:`~vectormigrate.errors.ConfigError` that names the pip extra to install.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import MappingProxyType

from vectormigrate.connectors.base import ConnectionConfig, Connector
from vectormigrate.errors import ConfigError

__all__ = ["KNOWN", "ConnectorInfo", "available", "get_class", "open_connector"]


@dataclass(frozen=True, slots=True)
class ConnectorInfo:
    """Where a connector lives and how to install it."""

    path: str
    extra: str
    summary: str

    @property
    def install(self) -> str:
        """The command that installs this connector's SDK."""
        return f"pip install 'vectormigrate[{self.extra}]'" if self.extra else "(built in)"


_KNOWN: dict[str, ConnectorInfo] = {
    "memory": ConnectorInfo("vectormigrate.connectors.memory:MemoryConnector", "",
                            "in-process reference connector (tests, dry runs)"),
    "milvus": ConnectorInfo("vectormigrate.connectors.milvus:MilvusConnector", "milvus",
                            "Milvus server (http://host:19530) or milvus-lite file (./milvus.db)"),
    "parquet": ConnectorInfo("vectormigrate.connectors.parquet:ParquetConnector", "parquet",
                             "a folder of Parquet files with a manifest (export, backup, import)"),
    "pinecone": ConnectorInfo("vectormigrate.connectors.pinecone:PineconeConnector", "pinecone",
                              "Pinecone serverless index (control plane URL; Pinecone Local: http://localhost:5080)"),
    "qdrant": ConnectorInfo("vectormigrate.connectors.qdrant:QdrantConnector", "qdrant",
                            "Qdrant server (http://host:6333) or qdrant-client local folder"),
    "weaviate": ConnectorInfo("vectormigrate.connectors.weaviate:WeaviateConnector", "weaviate",
                              "Weaviate server (http://host:8080 + gRPC 50051) or Weaviate Cloud"),
}
assert list(_KNOWN) == sorted(_KNOWN), "keep _KNOWN alphabetical"  # noqa: S101 - developer invariant

KNOWN = MappingProxyType(_KNOWN)


def _entry_point_connectors() -> dict[str, ConnectorInfo]:
    """Third-party connectors: the ``vectormigrate.connectors`` entry points, then ``$VECTORMIGRATE_CONNECTORS``.

    The variable (``kind=package.module:Class,kind2=...``) registers a connector without packaging it, for
    in-house connectors and tests.
    """
    found: dict[str, ConnectorInfo] = {}
    for item in filter(None, (s.strip() for s in os.environ.get("VECTORMIGRATE_CONNECTORS", "").split(","))):
        kind, sep, path = item.partition("=")
        if sep and ":" in path:
            found[kind.strip()] = ConnectorInfo(path.strip(), "", "registered by $VECTORMIGRATE_CONNECTORS")
    for ep in entry_points(group="vectormigrate.connectors"):
        if ep.name not in _KNOWN:
            found[ep.name] = ConnectorInfo(ep.value, "", f"third-party connector from {ep.dist.name if ep.dist else '?'}")
    return found


def _all() -> dict[str, ConnectorInfo]:
    return {**_KNOWN, **_entry_point_connectors()}


def get_class(kind: str) -> type[Connector]:
    """The connector class registered as ``kind``, imported now."""
    infos = _all()
    info = infos.get(kind)
    if info is None:
        msg = f"unknown connector type {kind!r}"
        raise ConfigError(msg, hint=f"choose one of: {', '.join(sorted(infos))} (`vectormigrate connectors` lists them)")
    module_name, _, attr = info.path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"the {kind} connector needs a package that is not installed ({exc.name or exc})"
        raise ConfigError(msg, hint=info.install) from exc
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        msg = f"the {kind} connector is broken: {info.path} is not a Connector class"
        raise ConfigError(msg, hint="reinstall vectormigrate or the package that provides this connector")
    return cls


def open_connector(kind: str, config: ConnectionConfig) -> Connector:
    """Instantiate the ``kind`` connector for ``config`` (validates its options)."""
    return get_class(kind)(config)


def available() -> list[dict[str, object]]:
    """Every known connector, whether it can be imported here, and how to install it."""
    rows: list[dict[str, object]] = []
    for kind, info in sorted(_all().items()):
        row: dict[str, object] = {"type": kind, "summary": info.summary, "install": info.install}
        try:
            cls = get_class(kind)
        except ConfigError as exc:
            row.update(installed=False, problem=exc.message)
        else:
            caps = cls.capabilities
            row.update(
                installed=True,
                id_kinds=sorted(caps.id_kinds),
                named_vectors=caps.named_vectors,
                sparse_vectors=caps.sparse_vectors,
                namespace_model=caps.namespace_model,
                max_batch_records=caps.max_batch_records,
                options=[{"name": o.name, "help": o.help, "default": o.default} for o in cls.options],
            )
        rows.append(row)
    return rows
