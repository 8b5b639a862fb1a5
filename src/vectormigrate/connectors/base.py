"""The connector contract: a small :class:`Source` and :class:`Target`, with capabilities as data.

A connector class usually implements both (``class QdrantConnector(Connector)``). It converts between its
SDK's types and the canonical model (:mod:`vectormigrate.model`) at its edge only, translates SDK exceptions
into :mod:`vectormigrate.errors` (transient vs terminal), and never retries: retries, batching, progress and
checkpoints belong to the runner.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

from vectormigrate.errors import ConfigError, SchemaMismatchError
from vectormigrate.model import Batch, Capabilities, CollectionSchema, Cursor, RecordId, VectorRecord

__all__ = [
    "Aliasable",
    "ConnectionConfig",
    "Connector",
    "IfExists",
    "OptionSpec",
    "Searchable",
    "Source",
    "Target",
    "check_compatible",
]

IfExists = Literal["fail", "append", "recreate"]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One ``--source-option`` / ``--target-option`` a connector accepts."""

    name: str
    help: str
    type: type = str
    default: Any = None


@dataclass(frozen=True)
class ConnectionConfig:
    """Where a database is and how to reach it.

    ``url`` starting with ``http://`` or ``https://`` means a server; anything else is a local path.
    The api key is never stored in the state database and never printed (``repr`` masks it).
    """

    url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_server(self) -> bool:
        """True when ``url`` names a server rather than a local path."""
        return bool(self.url) and str(self.url).startswith(("http://", "https://"))

    def redacted(self) -> dict[str, Any]:
        """A JSON view without the secret, for the state database and plans."""
        return {"url": self.url, "api_key_set": bool(self.api_key), "options": dict(self.options)}


class _Base(ABC):
    """What sources and targets share: identity, capabilities, options, lifecycle."""

    name: ClassVar[str]
    """The ``--source-type`` / ``--target-type`` value."""
    capabilities: ClassVar[Capabilities]
    options: ClassVar[tuple[OptionSpec, ...]] = ()
    extra: ClassVar[str] = ""
    """The pip extra that installs this connector's SDK."""

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config
        self.opts = self._parse_options(config.options)

    @classmethod
    def _parse_options(cls, raw: Mapping[str, str]) -> dict[str, Any]:
        known = {o.name: o for o in cls.options}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            valid = ", ".join(sorted(known)) or "none"
            msg = f"{cls.name} does not take option(s) {', '.join(unknown)}"
            raise ConfigError(msg, hint=f"options {cls.name} accepts: {valid} (see `vectormigrate connectors`)")
        out: dict[str, Any] = {}
        for spec in cls.options:
            if spec.name in raw:
                try:
                    out[spec.name] = _convert(raw[spec.name], spec.type)
                except ValueError as exc:
                    msg = f"{cls.name} option {spec.name}={raw[spec.name]!r} is not a valid {spec.type.__name__}"
                    raise ConfigError(msg, hint=spec.help) from exc
            else:
                out[spec.name] = spec.default
        return out

    @classmethod
    def field_renames(cls, names: Sequence[str]) -> dict[str, str]:
        """Metadata keys this database cannot use as they are, and the names the plan gives them ``{old: new}``.

        Deterministic, so a key first seen mid-migration gets the same name the plan would have given it.
        """
        return {}

    @classmethod
    def collection_name_problem(cls, name: str) -> str | None:
        """Why ``name`` cannot be a collection here, with the fix (None: it can)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most SDK clients need no close
        """Release connections and file handles."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @abstractmethod
    def exists(self, collection: str) -> bool:
        """Whether the collection exists."""

    @abstractmethod
    def describe(self, collection: str) -> CollectionSchema:
        """The collection's schema and counts; raises :class:`~vectormigrate.errors.CollectionNotFound`."""

    @abstractmethod
    def count(self, collection: str, namespace: str | None = None) -> int:
        """Exact number of records (in one namespace, when given)."""

    @abstractmethod
    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        """The records with these ids, with vectors and metadata; missing ids are left out."""


class Source(_Base):
    """A database we read from."""

    @abstractmethod
    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        """Every record of the collection, every namespace, in batches of at most ``batch_size``.

        Each batch's ``cursor`` resumes the scan right after it: ``read_batches(after=b.cursor)`` yields
        exactly the records not yet yielded, when ``capabilities.stable_scan_order`` is true.
        """


class Target(_Base):
    """A database we write into."""

    @abstractmethod
    def create_collection(self, schema: CollectionSchema) -> None:
        """Create a collection that holds ``schema`` (named ``schema.name``), with its namespaces."""

    @abstractmethod
    def drop_collection(self, collection: str) -> None:
        """Delete the collection and everything in it."""

    @abstractmethod
    def write_batch(self, collection: str, batch: Batch) -> None:
        """Upsert every record of the batch by id; durable when it returns.

        Raises :class:`~vectormigrate.errors.RecordError` (with ``record_id``) for a record the database
        refuses, so the runner can dead-letter it and write the rest.
        """

    @abstractmethod
    def delete(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        """Delete these ids (missing ones are ignored)."""

    def ensure_namespace(self, collection: str, namespace: str) -> None:
        """Make sure a namespace / partition / tenant exists before writing into it."""

    def prepare(self, schema: CollectionSchema, *, if_exists: IfExists = "append") -> bool:
        """Open or create the target collection for ``schema``. Returns True when it created it.

        An existing collection whose vectors cannot hold the schema is refused before anything is
        written, whatever ``if_exists`` says, except ``recreate`` (which the caller confirms first).
        """
        if self.exists(schema.name):
            if if_exists == "fail":
                msg = f"target collection {schema.name!r} already exists"
                raise ConfigError(msg, hint="use --if-exists append to write into it, or --if-exists recreate to replace it")
            if if_exists == "recreate":
                self.drop_collection(schema.name)
            else:
                check_compatible(schema, self.describe(schema.name))
                for ns in schema.namespaces:
                    self.ensure_namespace(schema.name, ns)
                return False
        self.create_collection(schema)
        return True


class Connector(Source, Target):
    """A connector that can be both source and target."""


class Searchable(ABC):
    """Optional mixin: nearest-neighbour search, for ANN parity checks."""

    @abstractmethod
    def search(self, collection: str, vector_name: str, query: Sequence[float], top_k: int,
               namespace: str | None = None) -> list[tuple[RecordId, float]]:
        """The ``top_k`` nearest ids to ``query`` with their scores, best first."""


def check_compatible(wanted: CollectionSchema, existing: CollectionSchema) -> None:
    """Refuse an existing target that cannot hold ``wanted``: every problem at once, each with its fix."""
    problems: list[str] = []
    have = {v.name: v for v in existing.vectors}
    for v in wanted.vectors:
        got = have.get(v.name)
        if got is None:
            names = ", ".join(repr(n) for n in have) or "none"
            problems.append(f"vector {v.name!r} is missing (the target has {names})")
            continue
        if got.dim != v.dim:
            problems.append(f"vector {v.name!r} has dimension {got.dim} in the target but {v.dim} in the source")
        if got.metric != v.metric:
            problems.append(f"vector {v.name!r} uses {got.metric.value} in the target but {v.metric.value} in the source")
    have_sparse = {s.name for s in existing.sparse_vectors}
    if not (len(wanted.sparse_vectors) == 1 == len(existing.sparse_vectors)):  # one slot each: names may differ
        problems.extend(f"sparse vector {s.name!r} is missing in the target"
                        for s in wanted.sparse_vectors if s.name not in have_sparse)
    if problems:
        msg = f"target collection {existing.name!r} cannot hold the source: " + "; ".join(problems)
        raise SchemaMismatchError(
            msg,
            hint="write into a new collection (--target-index NEW), or replace it with --if-exists recreate",
            collection=existing.name,
        )


def _convert(value: str, typ: type) -> Any:
    if typ is bool:
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        msg = f"not a boolean: {value!r}"
        raise ValueError(msg)
    return typ(value)


class Aliasable(ABC):
    """Optional mixin: collection aliases, for zero-downtime cutover (Qdrant, Milvus, Weaviate)."""

    @abstractmethod
    def point_alias(self, alias: str, collection: str) -> str | None:
        """Make ``alias`` resolve to ``collection`` atomically; returns the collection it pointed to before."""

    @abstractmethod
    def resolve_alias(self, alias: str) -> str | None:
        """The collection ``alias`` points to, or None when there is no such alias."""
