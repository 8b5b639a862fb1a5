"""The MCP tools: thin, typed adapters over :mod:`vectormigrate.service`, like the CLI commands.

Every tool has a typed input schema (its parameters) and output schema (its return model), and annotations
that tell a client whether it reads, writes, destroys and can be repeated. Errors a model can act on
(unknown migration, wrong connector type, missing confirmation...) are raised as ``ToolError`` with the
error's message and hint, so the client gets ``isError: true`` and text it can act on. Every call is counted
(metrics) and written to the audit log, with secrets redacted.

The zero-downtime tools (``start_dual_write``, ``sync_migration``, ``cutover_migration``) are the same kind of
adapters over :mod:`vectormigrate.zerodowntime.service`, like the CLI's ``dual-write``, ``sync`` and ``cutover``.

The plain JSON-RPC endpoint of the Go README calls these same tools through ``MCPServer.call_tool``, so both
protocols share validation, behaviour and output.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from vectormigrate.connectors.base import IfExists
from vectormigrate.connectors.registry import available, get_class, open_connector
from vectormigrate.errors import ConfigError, StateError, ValidationFailed, VectorMigrateError
from vectormigrate.model import Capabilities, CollectionSchema, FieldSpec, FieldType, IdKind, Metric, SparseSpec, VectorSpec
from vectormigrate.pipeline.plan import MigrationPlan, NamespaceStrategy, PlanOptions, build_plan
from vectormigrate.pipeline.validate import ValidationOptions
from vectormigrate.server.audit import AuditLog
from vectormigrate.server.jobs import Job, JobManager
from vectormigrate.server.metrics import ServerMetrics
from vectormigrate.server.models import (
    CollectionInfo,
    ConnectorList,
    CutoverOutcome,
    DualWriteStart,
    MigrationList,
    MigrationStatus,
    RollbackOutcome,
    RunSummary,
    SchemaRecommendation,
    StartResult,
    StopResult,
    SyncOutcome,
    ValidationOutcome,
)
from vectormigrate.service import Endpoint, MigrationSpec, list_json, make_plan, status_json
from vectormigrate.service import rollback as run_rollback
from vectormigrate.service import validate as run_validate
from vectormigrate.state.store import StateStore
from vectormigrate.zerodowntime import service as zd
from vectormigrate.zerodowntime.sync import SyncResult

__all__ = ["CALLER", "TOOL_NAMES", "Services", "register_tools"]

log = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Reporter = Callable[[float, float | None, str | None], Awaitable[None]]

CALLER: ContextVar[tuple[str, str] | None] = ContextVar("vectormigrate_caller", default=None)
"""(who, transport) of a call that does not come through an MCP session (the plain JSON-RPC endpoint)."""

TOOL_NAMES = ("list_connectors", "describe_collection", "schema_recommendation", "start_migration",
              "migration_status", "list_migrations", "stop_migration", "resume_migration", "validate_migration",
              "rollback_migration", "start_dual_write", "sync_migration", "cutover_migration")

_POLL_S = 0.25
_RESUME_SETTLE_S = 5.0


@dataclass
class Services:
    """What the tools work with; one per server process."""

    store: StateStore
    jobs: JobManager
    metrics: ServerMetrics
    audit: AuditLog
    start_wait_s: float = 60.0
    """How long ``start_migration`` waits for planning before it returns the id anyway."""


# -- plumbing -------------------------------------------------------------------------------------------------------
def _caller(ctx: Context) -> tuple[str, str]:
    """Who is calling and through what: ``(key fingerprint | "local", "mcp" | "stdio" | "jsonrpc")``."""
    try:
        rc = ctx.request_context
    except ValueError:
        return CALLER.get() or ("local", "direct")
    request = rc.request
    if request is None:
        return "local", "stdio"
    scope = getattr(request, "scope", None) or {}
    state = scope.get("state") or {}
    return str(state.get("vm_caller", "anonymous")), "mcp"


def _reporter(ctx: Context) -> Reporter | None:
    """``ctx.report_progress`` inside an MCP request (a no-op without a progressToken), else None."""
    try:
        ctx.request_context  # noqa: B018 - raises outside a request
    except ValueError:
        return None
    return ctx.report_progress


def _one_paragraph(fn: F) -> F:
    """Tool descriptions are docstrings: make them one line of text (clients show them as-is)."""
    fn.__doc__ = " ".join(inspect.cleandoc(fn.__doc__ or "").split())
    return fn


def _tool_error(exc: VectorMigrateError) -> ToolError:
    text = f"{exc.message}\nhint: {exc.hint}" if exc.hint else exc.message
    return ToolError(text)


async def _blocking(fn: Callable[[], T]) -> T:
    """Run service code (SQLite, SDKs) in a worker thread; the thread finishes even if the call is cancelled."""
    return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)


class _Call:
    """Metrics and the audit line of one tool call."""

    def __init__(self, svc: Services, tool: str, ctx: Context, args: Mapping[str, Any]) -> None:
        self.svc, self.tool, self.args = svc, tool, dict(args)
        self.who, self.transport = _caller(ctx)

    async def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        started = time.monotonic()
        outcome, error = "ok", None
        try:
            return await fn()
        except VectorMigrateError as exc:
            outcome, error = "error", exc.message
            raise _tool_error(exc) from exc
        except ToolError as exc:
            outcome, error = "error", str(exc)
            raise
        except anyio.get_cancelled_exc_class():
            outcome = "cancelled"
            raise
        except Exception as exc:
            outcome, error = "crash", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            elapsed = time.monotonic() - started
            self.svc.metrics.requests.inc(self.tool, outcome, self.transport)
            self.svc.metrics.request_duration.observe(elapsed, self.tool, outcome)
            mid = self.args.get("migration_id")
            self.svc.audit.record(who=self.who, transport=self.transport, tool=self.tool, args=self.args,
                                  outcome=outcome, duration_s=elapsed, error=error,
                                  migration_id=mid if isinstance(mid, str) else None)


async def _follow(job: Job, report: Reporter | None, *, until: Callable[[], bool]) -> None:
    """Wait until ``until()`` (or the job ends), reporting records written as progress when it grows."""
    last = -1.0

    async def tick() -> None:
        nonlocal last
        p = job.latest
        if report is not None and p is not None and p.counters.records_written > last:
            last = float(p.counters.records_written)
            await report(last, float(p.total_records) if p.total_records else None,
                         f"{p.counters.records_written:,} records written ({p.rate:,.0f}/s)")

    while not until() and not job.done.is_set():
        await tick()
        await anyio.sleep(_POLL_S)
    await tick()  # the last numbers, when the run ended between two polls


async def _heartbeat(report: Reporter | None, work: Callable[[], T], what: str,
                     counter: Callable[[], int] | None = None, *, unit: str = "records checked",
                     done: str | None = None) -> T:
    """Run blocking ``work`` in a thread; meanwhile report progress (a count of ``unit`` when known) every
    second, and, with ``done``, once more at the end (progress values only ever grow)."""
    if report is None:
        return await _blocking(work)
    result: list[T] = []
    failure: list[BaseException] = []

    async def run(scope: anyio.CancelScope) -> None:
        try:
            result.append(await _blocking(work))
        except Exception as exc:  # noqa: BLE001 - re-raised below, outside the task group (no ExceptionGroup)
            failure.append(exc)
        scope.cancel()

    step = 0.0
    await report(step, None, f"{what}: started")
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, tg.cancel_scope)
        while True:
            await anyio.sleep(1.0)
            value = float(counter()) if counter is not None else step + 1.0
            if value > step:
                step = value
                text = f"{what}: {int(value):,} {unit}" if counter is not None else f"{what}: working"
                await report(step, None, text)
    if failure:
        raise failure[0]
    if done is not None:
        final = float(counter()) if counter is not None else 0.0
        final = final if final > step else step + 1.0
        await report(final, final, f"{what}: {done}")
    return result[0]


def _endpoint(kind: str, index: str, url: str | None, api_key: str | None, options: Mapping[str, str] | None) -> Endpoint:
    return Endpoint(type=kind, index=index, url=url or None, api_key=api_key or None, options=dict(options or {}))


def _summary(doc: dict[str, Any]) -> RunSummary:
    return RunSummary.model_validate(doc)


# -- declared schemas (the Go README's schema_recommendation input) -------------------------------------------------
_FIELD_TYPES: dict[str, FieldType] = {
    "string": "string", "str": "string", "text": "string", "keyword": "string", "varchar": "string",
    "char": "string", "uuid": "string",
    "int": "int", "integer": "int", "int64": "int", "int32": "int", "long": "int",
    "float": "float", "double": "float", "number": "float", "float32": "float", "float64": "float",
    "bool": "bool", "boolean": "bool",
    "list": "list", "array": "list", "string[]": "list", "text[]": "list",
    "object": "object", "map": "object", "dict": "object", "struct": "object",
    "json": "json",
    "datetime": "datetime", "date": "datetime", "timestamp": "datetime", "time": "datetime",
}
_ID_KINDS: dict[str, IdKind] = {"string": "str", "str": "str", "text": "str", "keyword": "str", "varchar": "str",
                                "int": "int", "integer": "int", "int64": "int", "long": "int", "uuid": "uuid"}
_VECTOR = re.compile(r"^(?:dense[_ ]?)?(?:vector|embedding)s?\s*(?:[\[(<]\s*(\d+)\s*[\])>])?$", re.IGNORECASE)
_SPARSE = re.compile(r"^sparse(?:[_ ]?vector)?$", re.IGNORECASE)
_ASSUMED_DIM = 768
_GENERIC_CAPS = Capabilities(
    id_kinds=frozenset({"str", "int", "uuid"}), max_batch_records=1000, max_batch_bytes=4_000_000,
    named_vectors=True, sparse_vectors=True, metrics=frozenset(Metric), metadata_types=frozenset(_FIELD_TYPES.values()),
    namespace_model="namespace", stable_scan_order=True, idempotent_upsert=True)


def declared_schema(name: str, declared: Mapping[str, str], dimension: int | None, metric: Metric,
                    id_kind: IdKind = "str") -> tuple[CollectionSchema, list[str]]:
    """A :class:`CollectionSchema` from ``{"field": "type"}`` (``id`` is the key; ``vector(768)`` a vector)."""
    warnings: list[str] = []
    fields: list[FieldSpec] = []
    vectors: list[VectorSpec] = []
    sparse: list[SparseSpec] = []
    for field_name, raw in declared.items():
        kind = str(raw).strip().lower()
        if field_name == "id":
            if kind not in _ID_KINDS:
                msg = f"source_schema: id type {raw!r} is not one of {', '.join(sorted(_ID_KINDS))}"
                raise ConfigError(msg, hint='declare the id as "string", "int" or "uuid"')
            id_kind = _ID_KINDS[kind]
            continue
        vec = _VECTOR.match(kind)
        if vec:
            dim = int(vec.group(1)) if vec.group(1) else dimension
            if dim is None:
                dim = _ASSUMED_DIM
                warnings.append(f"the dimension of vector {field_name!r} is not given: this plan assumes {dim}; "
                                'declare it as "vector(N)" or pass dimension=N')
            vectors.append(VectorSpec(field_name, dim, metric))
        elif _SPARSE.match(kind):
            sparse.append(SparseSpec(field_name))
        elif kind in _FIELD_TYPES:
            fields.append(FieldSpec(field_name, _FIELD_TYPES[kind], nullable=True, declared=True))
        else:
            msg = f"source_schema: field {field_name!r} has unknown type {raw!r}"
            raise ConfigError(msg, hint="use one of: " + ", ".join(sorted({*_FIELD_TYPES, "vector(N)", "sparse"})))
    if not vectors and not sparse:
        dim = dimension or _ASSUMED_DIM
        vectors.append(VectorSpec("", dim, metric))
        if dimension is None:
            warnings.append(f"source_schema declares no vector: this plan assumes one unnamed {dim}-dimensional "
                            "vector; pass dimension=N for the real one")
    return CollectionSchema(name=name, vectors=tuple(vectors), sparse_vectors=tuple(sparse), fields=tuple(fields),
                            id_kind=id_kind, count=None), warnings


def _natural_id_kind(caps: Capabilities) -> IdKind:
    """The id kind a source of this type usually has (strings where allowed)."""
    order: tuple[IdKind, ...] = ("str", "uuid", "int")
    return next((kind for kind in order if kind in caps.id_kinds), "str")


def _source_caps(kind: str) -> tuple[Capabilities, str | None]:
    try:
        return get_class(kind).capabilities, None
    except ConfigError as exc:
        return _GENERIC_CAPS, (f"no usable {kind} connector in this install ({exc.message}); the source side of this "
                               "plan comes only from source_schema")


# -- registration ---------------------------------------------------------------------------------------------------
Str = Annotated[str, Field(min_length=1, max_length=500)]
OptStr = Annotated[str | None, Field(max_length=2000)]
Options = Annotated[dict[str, str] | None, Field(description="connector settings (see list_connectors)")]
MigrationId = Annotated[str, Field(min_length=1, max_length=200, description="the migration id, e.g. mig-123")]
SourceKey = Annotated[str | None, Field(description="source API key; used, never stored or echoed (default: "
                                        "$VECTORMIGRATE_SOURCE_API_KEY of the server)")]
TargetKey = Annotated[str | None, Field(description="target API key; used, never stored or echoed (default: "
                                        "$VECTORMIGRATE_TARGET_API_KEY of the server)")]

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_READ_OPEN = ToolAnnotations(read_only_hint=True, open_world_hint=True)


def register_tools(mcp: MCPServer[Any], svc: Services) -> None:
    """Add every tool to ``mcp`` (in the deterministic order of :data:`TOOL_NAMES`)."""
    store, jobs = svc.store, svc.jobs

    @mcp.tool(title="List connectors", annotations=_READ)
    @_one_paragraph
    async def list_connectors(ctx: Context) -> ConnectorList:
        """List the databases this server can migrate between: whether each connector is installed, what it can
        hold (id kinds, named and sparse vectors, namespaces) and its connector options."""
        async def go() -> ConnectorList:
            return ConnectorList.model_validate({"connectors": await _blocking(available)})

        return await _Call(svc, "list_connectors", ctx, {}).run(go)

    @mcp.tool(title="Describe a collection", annotations=_READ_OPEN)
    @_one_paragraph
    async def describe_collection(
        ctx: Context,
        type: Annotated[str, Field(description="connector type, e.g. qdrant, milvus, parquet")],
        index: Annotated[str, Field(description="collection / index name")],
        url: Annotated[str | None, Field(description="http(s)://host:port for a server, else a local path")] = None,
        api_key: Annotated[str | None, Field(description="API key; used, never stored or echoed")] = None,
        options: Options = None,
    ) -> CollectionInfo:
        """Describe one collection of a database: vectors (dimension, metric), metadata fields, id kind,
        namespaces/partitions and record count. Reads only."""
        async def go() -> CollectionInfo:
            def work() -> dict[str, Any]:
                with open_connector(type, _endpoint(type, index, url, api_key, options).config()) as conn:
                    return {"type": type} | conn.describe(index).to_json()

            return CollectionInfo.model_validate(await _blocking(work))

        return await _Call(svc, "describe_collection", ctx, {"type": type, "index": index, "url": url,
                                                              "api_key": api_key, "options": options}).run(go)

    @mcp.tool(title="Plan a migration (schema recommendation)", annotations=_READ_OPEN)
    @_one_paragraph
    async def schema_recommendation(
        ctx: Context,
        source_type: Annotated[str, Field(description="source connector type, e.g. pinecone, milvus")],
        target_type: Annotated[str, Field(description="target connector type, e.g. qdrant")],
        source_schema: Annotated[dict[str, str] | None, Field(
            description='declared source fields when the source is not reachable, e.g. {"id": "string", '
            '"title": "string", "embedding": "vector(768)"}; types: string, text, int, float, bool, list, object, '
            "json, datetime, vector(N), sparse")] = None,
        source_url: OptStr = None,
        source_index: Annotated[str | None, Field(description="describe this real source collection instead of "
                                                  "source_schema")] = None,
        source_api_key: SourceKey = None,
        source_options: Options = None,
        target_url: Annotated[str | None, Field(description="check an existing target collection there")] = None,
        target_index: Annotated[str | None, Field(description="target collection (default: the source's name)")] = None,
        target_api_key: TargetKey = None,
        target_options: Options = None,
        dimension: Annotated[int | None, Field(ge=1, le=65536, description="vector dimension for source_schema")] = None,
        metric: Annotated[Literal["cosine", "dot", "euclidean"], Field(
            description="distance metric for source_schema vectors")] = "cosine",
        if_exists: Literal["fail", "append", "recreate"] = "append",
        namespace_strategy: Literal["native", "metadata_field", "drop"] | None = None,
    ) -> SchemaRecommendation:
        """Plan a migration without touching anything: how ids, dense and sparse vectors, namespaces and every
        metadata field map from the source to the target, with a confidence per mapping, warnings for lossy
        steps and blocking errors. Describe the real source (source_url + source_index) or declare its fields
        in source_schema."""
        args = {"source_type": source_type, "target_type": target_type, "source_schema": source_schema,
                "source_url": source_url, "source_index": source_index, "source_api_key": source_api_key,
                "source_options": source_options, "target_url": target_url, "target_index": target_index,
                "target_api_key": target_api_key, "target_options": target_options, "dimension": dimension,
                "metric": metric, "if_exists": if_exists, "namespace_strategy": namespace_strategy}

        def work() -> dict[str, Any]:
            popts = PlanOptions(namespace_strategy=namespace_strategy)
            if source_index and target_url:
                spec = MigrationSpec(
                    "plan", _endpoint(source_type, source_index, source_url, source_api_key, source_options),
                    _endpoint(target_type, target_index or source_index, target_url, target_api_key, target_options),
                    if_exists=if_exists, plan_options=popts)
                return make_plan(spec).to_json()
            extra: list[str] = []
            if source_index:
                ep = _endpoint(source_type, source_index, source_url, source_api_key, source_options)
                with open_connector(source_type, ep.config()) as src:
                    schema, src_caps = src.describe(source_index), src.capabilities
            else:
                src_caps, problem = _source_caps(source_type)
                id_kind = _natural_id_kind(src_caps)
                schema, extra = declared_schema(target_index or "collection", source_schema or {}, dimension,
                                                Metric.parse(metric), id_kind)
                if problem:
                    extra.append(problem)
                if source_schema is None:
                    extra.insert(0, f"no source collection given: this is the general {source_type} -> "
                                 f"{target_type} mapping ({id_kind} ids, one dense vector, no metadata); pass "
                                 "source_schema, or source_url + source_index, for your collection's fields")
            tgt_caps = get_class(target_type).capabilities
            plan: MigrationPlan = build_plan(source_type, schema, src_caps, target_type, tgt_caps,
                                             target_index or schema.name, options=popts)
            plan.warnings[:0] = extra
            return plan.to_json()

        async def go() -> SchemaRecommendation:
            return SchemaRecommendation.model_validate(await _blocking(work))

        return await _Call(svc, "schema_recommendation", ctx, args).run(go)

    @mcp.tool(title="Start a migration", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True))
    @_one_paragraph
    async def start_migration(
        ctx: Context,
        source_type: Str,
        source_index: Str,
        target_type: Str,
        target_index: Str,
        source_url: Annotated[str | None, Field(description="http(s)://host:port for a server, else a local path "
                                                "(milvus-lite .db file, Qdrant folder, Parquet folder)")] = None,
        target_url: Annotated[str | None, Field(description="like source_url")] = None,
        migration_id: Annotated[str | None, Field(min_length=1, max_length=200, description="id to give the "
                                                  "migration (default: a new mig-... id)")] = None,
        source_api_key: SourceKey = None,
        target_api_key: TargetKey = None,
        source_options: Options = None,
        target_options: Options = None,
        batch_size: Annotated[int, Field(ge=1, le=100_000)] = 100,
        max_retries: Annotated[int, Field(ge=0, le=100)] = 3,
        workers: Annotated[int, Field(ge=1, le=64)] = 2,
        validate_every: Annotated[int, Field(ge=0, description="sample-check every N batches (0: off)")] = 10,
        if_exists: Annotated[IfExists, Field(description="when the target collection exists: append (write "
                                             "into it), fail, or recreate (DROPS it first)")] = "append",
        namespace_strategy: NamespaceStrategy | None = None,
        wait: Annotated[bool, Field(description="wait for the end (with progress notifications) instead of "
                                    "returning once the run is under way")] = False,
    ) -> StartResult:
        """Start copying a collection from a source database to a target database. Returns the migration id as
        soon as the plan is made and the target is prepared; the copy goes on in the background in the server
        (follow it with migration_status, stop it with stop_migration). The run is resumable after a stop or a
        crash. API keys passed here are used for this run only: never stored, logged or returned. Migration
        records are kept in the server's state database until deleted by an operator."""
        mid = migration_id or f"mig-{time.strftime('%Y%m%d')}-{_short_id()}"
        args = {"migration_id": mid, "source_type": source_type, "source_url": source_url,
                "source_index": source_index, "source_api_key": source_api_key, "source_options": source_options,
                "target_type": target_type, "target_url": target_url, "target_index": target_index,
                "target_api_key": target_api_key, "target_options": target_options, "batch_size": batch_size,
                "max_retries": max_retries, "workers": workers, "validate_every": validate_every,
                "if_exists": if_exists, "namespace_strategy": namespace_strategy, "wait": wait}

        async def go() -> StartResult:
            spec = MigrationSpec(
                migration_id=mid,
                source=_endpoint(source_type, source_index, source_url, source_api_key, source_options),
                target=_endpoint(target_type, target_index, target_url, target_api_key, target_options),
                batch_size=batch_size, max_retries=max_retries, workers=workers, if_exists=if_exists,
                plan_options=PlanOptions(namespace_strategy=namespace_strategy), validate_every=validate_every)
            job = await _blocking(lambda: jobs.start(spec))
            report = _reporter(ctx)
            deadline = time.monotonic() + svc.start_wait_s
            await _follow(job, report, until=lambda: (not wait and job.started.is_set())
                          or (not wait and time.monotonic() > deadline))
            return await _blocking(lambda: _start_result(job, store))

        return await _Call(svc, "start_migration", ctx, args).run(go)

    @mcp.tool(title="Migration status", annotations=_READ)
    @_one_paragraph
    async def migration_status(ctx: Context, migration_id: MigrationId) -> MigrationStatus:
        """Status and progress of one migration: records migrated of the total, batches, start/end times,
        counters (read, written, failed, retries), checkpoint, the last validation and the last error with
        a hint."""
        async def go() -> MigrationStatus:
            doc = await _blocking(lambda: status_json(store, migration_id))
            job = jobs.get(migration_id)
            if job is not None and job.running:
                doc["running_in_server"] = True
                if job.latest is not None:
                    doc["records_per_s"] = round(job.latest.rate, 1)
            return MigrationStatus.model_validate(doc)

        return await _Call(svc, "migration_status", ctx, {"migration_id": migration_id}).run(go)

    @mcp.tool(title="List migrations", annotations=_READ)
    @_one_paragraph
    async def list_migrations(
        ctx: Context,
        status: Annotated[str | None, Field(description="only this status, e.g. in_progress, completed, failed, "
                                            "interrupted, stopped, rolled_back")] = None,
        limit: Annotated[int, Field(ge=0, le=1000)] = 10,
        offset: Annotated[int, Field(ge=0)] = 0,
        sort_by: Literal["created_at", "updated_at", "started_at", "ended_at", "migration_id", "status"] = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
    ) -> MigrationList:
        """List migrations in the state database with their status and progress, filtered and paginated."""
        async def go() -> MigrationList:
            doc = await _blocking(lambda: list_json(store, status=status, limit=limit, offset=offset,
                                                    sort_by=sort_by, sort_order=sort_order))
            return MigrationList.model_validate(doc)

        return await _Call(svc, "list_migrations", ctx, {"status": status, "limit": limit, "offset": offset,
                                                         "sort_by": sort_by, "sort_order": sort_order}).run(go)

    @mcp.tool(title="Stop a migration", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False))
    @_one_paragraph
    async def stop_migration(
        ctx: Context,
        migration_id: MigrationId,
        wait_seconds: Annotated[float, Field(ge=0, le=600, description="how long to wait for the stop")] = 30.0,
    ) -> StopResult:
        """Stop a migration this server is running, gracefully: batches in flight finish and are checkpointed,
        the status becomes "stopped", and resume_migration continues it later."""
        async def go() -> StopResult:
            row = await _blocking(lambda: store.get(migration_id))
            job = jobs.stop(migration_id)
            if job is None:
                if row.status in ("stopped", "completed", "failed", "interrupted", "rolled_back"):
                    return StopResult(migration_id=migration_id, status=row.status,
                                      message=f"not running (status {row.status}); nothing to stop")
                msg = f"migration {migration_id!r} (status {row.status}) is not running in this server"
                raise StateError(msg, hint="it may be run by another process (`vectormigrate status` shows it); "
                                 "stop that process with SIGTERM")
            with anyio.move_on_after(wait_seconds):
                while job.running:
                    await anyio.sleep(_POLL_S)
            status = (await _blocking(lambda: store.get(migration_id))).status
            message = "stopped; resume_migration continues it" if status == "stopped" else \
                f"stop requested; status is {status}" + ("" if job.done.is_set() else " (still finishing its batches)")
            return StopResult(migration_id=migration_id, status=status, message=message)

        return await _Call(svc, "stop_migration", ctx, {"migration_id": migration_id,
                                                        "wait_seconds": wait_seconds}).run(go)

    @mcp.tool(title="Resume a migration", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True))
    @_one_paragraph
    async def resume_migration(
        ctx: Context,
        migration_id: MigrationId,
        source_api_key: SourceKey = None,
        target_api_key: TargetKey = None,
        wait: Annotated[bool, Field(description="wait for the end, with progress notifications")] = False,
    ) -> StartResult:
        """Continue a stopped, failed or interrupted migration from its last checkpoint, in the background,
        executing the plan it started with. API keys are needed again (they were never stored)."""
        async def go() -> StartResult:
            job = await _blocking(lambda: jobs.resume(migration_id, source_api_key, target_api_key))
            settle = time.monotonic() + _RESUME_SETTLE_S
            await _follow(job, _reporter(ctx), until=lambda: not wait and (
                job.latest is not None or time.monotonic() > settle))
            return await _blocking(lambda: _start_result(job, store))

        return await _Call(svc, "resume_migration", ctx, {"migration_id": migration_id, "source_api_key":
                                                          source_api_key, "target_api_key": target_api_key,
                                                          "wait": wait}).run(go)

    @mcp.tool(title="Validate a migration", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True))
    @_one_paragraph
    async def validate_migration(
        ctx: Context,
        migration_id: MigrationId,
        sample_size: Annotated[int, Field(ge=0, le=100_000, description="random records compared")] = 100,
        full: Annotated[bool, Field(description="compare every record instead of a sample")] = False,
        queries: Annotated[int, Field(ge=0, le=10_000, description="ANN parity: query vectors searched on both "
                                      "sides")] = 0,
        top_k: Annotated[int, Field(ge=1, le=1000)] = 10,
        min_cosine: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.999,
        min_recall: Annotated[float | None, Field(ge=0.0, le=1.0)] = None,
        seed: int | None = None,
        source_api_key: SourceKey = None,
        target_api_key: TargetKey = None,
    ) -> ValidationOutcome:
        """Check a migration's target against its source: counts per namespace, a random sample (or every
        record) compared vector by vector (cosine) and field by field, optionally ANN recall. Stores the report
        (migration_status shows the verdict). Writes nothing to either database."""
        async def go() -> ValidationOutcome:
            if jobs.is_running(migration_id):
                msg = f"migration {migration_id!r} is still running; validating now would report records not yet copied"
                raise StateError(msg, hint="wait for it to complete (migration_status), or stop it first")
            options = ValidationOptions(sample_size=sample_size, full=full, queries=queries, top_k=top_k,
                                        min_cosine=min_cosine, min_recall=min_recall, seed=seed)
            checked = [0]

            def on_progress(_phase: str, n: int) -> None:
                checked[0] = n

            report = await _heartbeat(_reporter(ctx), lambda: run_validate(
                migration_id, store, options, source_api_key=source_api_key, target_api_key=target_api_key,
                on_progress=on_progress), "validation", counter=lambda: checked[0])
            svc.metrics.validations.inc("passed" if report.passed else "failed")
            return ValidationOutcome.model_validate({"migration_id": migration_id} | report.to_json())

        return await _Call(svc, "validate_migration", ctx, {
            "migration_id": migration_id, "sample_size": sample_size, "full": full, "queries": queries,
            "top_k": top_k, "min_cosine": min_cosine, "min_recall": min_recall, "seed": seed,
            "source_api_key": source_api_key, "target_api_key": target_api_key}).run(go)

    @mcp.tool(title="Roll back a migration", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True))
    @_one_paragraph
    async def rollback_migration(
        ctx: Context,
        migration_id: MigrationId,
        confirm: Annotated[bool, Field(description="must be true: rollback deletes data from the target")] = False,
        workers: Annotated[int, Field(ge=1, le=64)] = 4,
        source_api_key: SourceKey = None,
        target_api_key: TargetKey = None,
    ) -> RollbackOutcome:
        """Undo a migration in the target: drop the collection it created, or delete the records it wrote and
        restore the ones it overwrote. DESTRUCTIVE: deletes data; requires confirm=true. Resumable."""
        async def go() -> RollbackOutcome:
            if not confirm:
                msg = (f"rollback_migration deletes data from the target of migration {migration_id!r} (it may drop "
                       "the whole collection the migration created); it was not confirmed")
                raise ToolError(msg + "\nhint: ask the user, then call rollback_migration again with confirm=true")
            if jobs.is_running(migration_id):
                msg = f"migration {migration_id!r} is still running"
                raise StateError(msg, hint="stop it with stop_migration first")
            try:
                result = await _heartbeat(_reporter(ctx), lambda: run_rollback(
                    migration_id, store, drop_confirmed=True, source_api_key=source_api_key,
                    target_api_key=target_api_key, workers=workers), "rollback")
            except VectorMigrateError:
                svc.metrics.rollbacks.inc("failed")
                raise
            svc.metrics.rollbacks.inc(result.status)
            return RollbackOutcome.model_validate({"migration_id": migration_id} | result.to_json())

        return await _Call(svc, "rollback_migration", ctx, {
            "migration_id": migration_id, "confirm": confirm, "workers": workers,
            "source_api_key": source_api_key, "target_api_key": target_api_key}).run(go)

    @mcp.tool(title="Start a zero-downtime migration (dual-write)", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True))
    @_one_paragraph
    async def start_dual_write(
        ctx: Context,
        source_type: Str,
        source_index: Str,
        target_type: Str,
        target_index: Annotated[str, Field(min_length=1, max_length=500, description="a target collection that "
                                           "does not exist yet (recommended)")],
        journal: Annotated[str, Field(min_length=1, max_length=2000, description="where the application journals "
                                      "the ids it writes: a SQLite file path on this server's host that the "
                                      "application also reaches, or postgresql://user@host/db (password in "
                                      "PGPASSWORD or $VECTORMIGRATE_JOURNAL_URL, never stored)")],
        source_url: Annotated[str | None, Field(description="http(s)://host:port for a server, else a local path")] = None,
        target_url: Annotated[str | None, Field(description="like source_url")] = None,
        migration_id: Annotated[str | None, Field(min_length=1, max_length=200, description="id to give the "
                                                  "migration (default: a new mig-... id); an existing migration "
                                                  "only gets the journal registered")] = None,
        alias: Annotated[str | None, Field(min_length=1, max_length=500, description="alias cutover_migration "
                                           "points at the target collection (targets with aliases: Qdrant, "
                                           "Milvus)")] = None,
        source_api_key: SourceKey = None,
        target_api_key: TargetKey = None,
        source_options: Options = None,
        target_options: Options = None,
        batch_size: Annotated[int, Field(ge=1, le=100_000)] = 100,
        max_retries: Annotated[int, Field(ge=0, le=100)] = 3,
        workers: Annotated[int, Field(ge=1, le=64)] = 2,
        if_exists: Annotated[Literal["fail", "append"], Field(description="when the target collection exists: "
                                                              "fail, or append (write into it)")] = "append",
        namespace_strategy: NamespaceStrategy | None = None,
    ) -> DualWriteStart:
        """Prepare a zero-downtime migration: plan it, create the target collection and register the dual-write
        journal, copying nothing yet. Then the application writes through the dual-writer
        (DualWriter.for_migration(ID), or DualWriter.from_config with the returned app_config), resume_migration
        runs the bulk copy in the background, sync_migration catches the target up with the application's
        writes (repeatable), and cutover_migration validates and switches reads. API keys are used for this call
        only: never stored, logged or returned."""
        mid = migration_id or f"mig-{time.strftime('%Y%m%d')}-{_short_id()}"
        args = {"migration_id": mid, "source_type": source_type, "source_url": source_url,
                "source_index": source_index, "source_api_key": source_api_key, "source_options": source_options,
                "target_type": target_type, "target_url": target_url, "target_index": target_index,
                "target_api_key": target_api_key, "target_options": target_options, "journal": journal,
                "alias": alias, "batch_size": batch_size, "max_retries": max_retries, "workers": workers,
                "if_exists": if_exists, "namespace_strategy": namespace_strategy}

        async def go() -> DualWriteStart:
            if jobs.is_running(mid):
                msg = f"migration {mid!r} is running in this server"
                raise StateError(msg, hint="register the journal before the bulk copy starts (or stop it first; a "
                                 "journal registered after the copy started needs sync_migration with full=true "
                                 "before cutover)")
            spec = MigrationSpec(
                migration_id=mid,
                source=_endpoint(source_type, source_index, source_url, source_api_key, source_options),
                target=_endpoint(target_type, target_index, target_url, target_api_key, target_options),
                batch_size=batch_size, max_retries=max_retries, workers=workers, if_exists=if_exists,
                plan_options=PlanOptions(namespace_strategy=namespace_strategy), validate_every=0)
            doc = await _heartbeat(_reporter(ctx), lambda: zd.start_dual_write(spec, store, journal=journal,
                                                                                alias=alias),
                                   "dual-write setup", done="done")
            steps = list(doc["next_steps"][:1])
            steps += [f"run the bulk copy: resume_migration with migration_id {mid!r} (follow it with "
                      "migration_status)",
                      f"catch up as often as you like: sync_migration with migration_id {mid!r}",
                      f"switch reads: cutover_migration with migration_id {mid!r} and confirm=true (ask the user "
                      "first)"]
            return DualWriteStart.model_validate(doc | {"next_steps": steps})

        return await _Call(svc, "start_dual_write", ctx, args).run(go)

    @mcp.tool(title="Sync a zero-downtime migration", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True))
    @_one_paragraph
    async def sync_migration(
        ctx: Context,
        migration_id: MigrationId,
        full: Annotated[bool, Field(description="compare both sides record by record and repair every difference "
                                    "(for applications that cannot use the dual-writer; needs a completed bulk "
                                    "copy) instead of replaying the journal")] = False,
        batch_size: Annotated[int | None, Field(ge=1, le=100_000, description="journal entries (or records, with "
                                                "full) per window (default: the migration's batch size, at least "
                                                "100)")] = None,
        keep_journal: Annotated[bool, Field(description="do not delete synced entries from the journal")] = False,
        source_api_key: SourceKey = None,
        target_api_key: TargetKey = None,
    ) -> SyncOutcome:
        """Catch the target of a dual-write migration up with the source: copy every id the application
        journaled since the last sync from the source (the truth) to the target, or delete it there when the
        source no longer has it. Idempotent and resumable; repeat it as often as you like. While the bulk copy
        has not completed, entries are replayed but the checkpoint does not move (checkpoint_held says so).
        Progress notifications count the entries replayed. Returns the counts, the lag left and the phase."""
        args = {"migration_id": migration_id, "full": full, "batch_size": batch_size, "keep_journal": keep_journal,
                "source_api_key": source_api_key, "target_api_key": target_api_key}

        async def go() -> SyncOutcome:
            stop = threading.Event()
            seen = [0]

            def on_progress(res: SyncResult) -> None:
                seen[0] = res.checked if res.mode == "full" else res.entries

            try:
                doc = await _heartbeat(_reporter(ctx), lambda: zd.sync_migration(
                    migration_id, store, full=full, batch_size=batch_size, prune=not keep_journal,
                    source_api_key=source_api_key, target_api_key=target_api_key, stop=stop,
                    on_progress=on_progress), "sync", counter=lambda: seen[0],
                    unit="records compared" if full else "journal entries replayed", done="done")
            except anyio.get_cancelled_exc_class():
                stop.set()  # the pass ends at its next window; its checkpoint says how far it got
                raise
            if doc["status"] == "failed":
                err = doc.get("error") or {}
                msg = f"sync of migration {migration_id!r} failed: {err.get('message', 'unknown error')}"
                raise VectorMigrateError(msg, hint=(err.get("hint") or "fix the cause") + "; then call "
                                         "sync_migration again (it continues from its checkpoint)",
                                         migration_id=migration_id, sync=doc)
            return SyncOutcome.model_validate(doc | {"message": _sync_message(doc)})

        return await _Call(svc, "sync_migration", ctx, args).run(go)

    @mcp.tool(title="Cut over a zero-downtime migration", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True))
    @_one_paragraph
    async def cutover_migration(
        ctx: Context,
        migration_id: MigrationId,
        confirm: Annotated[bool, Field(description="must be true: cutover switches the application's production "
                                       "reads to the target")] = False,
        alias: Annotated[str | None, Field(min_length=1, max_length=500, description="alias to point at the target "
                                           "collection (default: the one given to start_dual_write, else the "
                                           "source collection's name when the target has no collection of that "
                                           "name)")] = None,
        full_sync: Annotated[bool, Field(description="final catch-up by full comparison instead of the "
                                         "journal")] = False,
        full_validation: Annotated[bool, Field(description="validate every record (and look for extra ones) "
                                               "instead of a sample")] = False,
        sample_size: Annotated[int, Field(ge=0, le=100_000, description="records compared by the "
                                          "validation")] = 1000,
        min_cosine: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.999,
        attempts: Annotated[int, Field(ge=1, le=20, description="sync + validation rounds before giving up (writes "
                                       "landing between the sync and the check can fail one round)")] = 3,
        source_api_key: SourceKey = None,
        target_api_key: TargetKey = None,
    ) -> CutoverOutcome:
        """Switch a dual-write migration to the target: a final sync, a validation (nothing is switched when it
        fails; the error names the differences), then, where the target has collection aliases (Qdrant,
        Milvus), the alias is pointed at the target collection atomically; otherwise the result lists exactly
        what to switch by hand. Needs a completed bulk copy. Switches production reads: requires confirm=true
        (ask the user first). Re-running it is harmless."""
        args = {"migration_id": migration_id, "confirm": confirm, "alias": alias, "full_sync": full_sync,
                "full_validation": full_validation, "sample_size": sample_size, "min_cosine": min_cosine,
                "attempts": attempts, "source_api_key": source_api_key, "target_api_key": target_api_key}

        async def go() -> CutoverOutcome:
            if not confirm:
                msg = (f"cutover_migration switches the production reads of migration {migration_id!r} to its "
                       "target; it was not confirmed")
                raise ToolError(msg + "\nhint: ask the user, then call cutover_migration again with confirm=true")
            if jobs.is_running(migration_id):
                msg = f"the bulk copy of migration {migration_id!r} is still running"
                raise StateError(msg, hint="wait for it to complete (migration_status), then cut over")
            options = ValidationOptions(sample_size=sample_size, full=full_validation, min_cosine=min_cosine)
            try:
                doc = await _heartbeat(_reporter(ctx), lambda: zd.cutover_migration(
                    migration_id, store, alias=alias, full_sync=full_sync, validation=options, attempts=attempts,
                    source_api_key=source_api_key, target_api_key=target_api_key), "cutover", done="done")
            except ValidationFailed:
                svc.metrics.validations.inc("failed")
                raise
            svc.metrics.validations.inc("passed")
            return CutoverOutcome.model_validate(doc)

        return await _Call(svc, "cutover_migration", ctx, args).run(go)


def _short_id() -> str:
    return uuid.uuid4().hex[:12]


def _start_result(job: Job, store: StateStore) -> StartResult:
    """What a start/resume call answers: the id, the status, and the outcome once the run has ended."""
    if job.done.is_set() and job.outcome is None and job.error is not None:
        raise job.error  # refused before anything ran (plan errors, unreachable database, unknown id...)
    warnings = list(job.plan.warnings) if job.plan is not None else []
    if job.done.is_set() and job.outcome is not None:
        summary = _summary(job.outcome.to_json())
        return StartResult(migration_id=job.migration_id, status=job.outcome.result.status, warnings=warnings,
                           result=summary, message=f"{job.kind} ended: {job.outcome.result.status}")
    try:
        status = store.get(job.migration_id).status
    except StateError:
        status = "pending"
    return StartResult(migration_id=job.migration_id, status=status, warnings=warnings,
                       message="running in the background; follow it with migration_status")


def _sync_message(doc: Mapping[str, Any]) -> str:
    """One line on what a sync pass did, for the model to relay."""
    if doc["mode"] == "full":
        text = (f"full sync {doc['status']}: {doc['checked']:,} records compared, {doc['missing']:,} missing and "
                f"{doc['different']:,} different rewritten, {doc['extra_in_target']:,} extra deleted from the target")
    else:
        lag = doc.get("lag") or {}
        text = (f"sync {doc['status']}: {doc['entries']:,} journal entries replayed ({doc['upserted']:,} records "
                f"copied, {doc['deleted']:,} deleted); {lag.get('entries', '?')} entries not synced yet")
        if doc.get("checkpoint_held"):
            text += f"; checkpoint held: {doc['checkpoint_held']}"
    if doc.get("dead_letters"):
        text += f"; {doc['dead_letters']} record(s) the target cannot hold are in {doc.get('dead_letter_file')}"
    return text + f"; phase {doc.get('phase')}"
