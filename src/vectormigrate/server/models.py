"""The tools' typed outputs (their MCP ``outputSchema``), shaped like the CLI's JSON.

``MigrationStatus``, ``MigrationList`` and ``SchemaRecommendation`` are supersets of the Go README's
``migration_status``, ``list_migrations`` and ``schema_recommendation`` outputs (same field names and nesting),
built from ``service.status_json``, ``service.list_json`` and ``MigrationPlan.to_json``. ``DualWriteStart``,
``SyncOutcome`` and ``CutoverOutcome`` are the results of :mod:`vectormigrate.zerodowntime.service`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CollectionInfo",
    "ConnectorInfo",
    "ConnectorList",
    "CutoverOutcome",
    "DualWriteStart",
    "MigrationList",
    "MigrationStatus",
    "RollbackOutcome",
    "RunSummary",
    "SchemaRecommendation",
    "StartResult",
    "StopResult",
    "SyncOutcome",
    "ValidationOutcome",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ConnectorOption(_Out):
    """One ``--source-option`` / ``--target-option`` a connector accepts."""

    name: str
    help: str
    default: str | int | float | bool | None = None


class ConnectorInfo(_Out):
    """A connector, whether this install can use it, and what it can hold."""

    type: str
    summary: str
    install: str
    installed: bool
    problem: str | None = Field(default=None, description="why it cannot be used here, when not installed")
    id_kinds: list[str] | None = None
    named_vectors: bool | None = None
    sparse_vectors: bool | None = None
    namespace_model: str | None = None
    max_batch_records: int | None = None
    options: list[ConnectorOption] = Field(default_factory=list)


class ConnectorList(_Out):
    """Every connector this server knows."""

    connectors: list[ConnectorInfo]


class VectorInfo(_Out):
    """A dense vector field."""

    name: str
    dim: int
    metric: str
    dtype: str


class FieldInfo(_Out):
    """A metadata field (``declared`` false: inferred from a sample)."""

    name: str
    type: str
    nullable: bool
    declared: bool
    max_length: int | None = None
    element_type: str | None = None


class CollectionInfo(_Out):
    """What a collection holds, as a migration sees it."""

    type: str
    name: str
    id_kind: str
    vectors: list[VectorInfo]
    sparse_vectors: list[str]
    fields: list[FieldInfo]
    namespaces: list[str]
    dynamic_fields: bool
    count: int | None
    extras: dict[str, Any] = Field(default_factory=dict)


class FieldMapping(_Out):
    """One row of the plan (the Go README's ``field_mappings`` item, plus ``kind``)."""

    source_field: str
    target_field: str
    confidence: float
    conversion_needed: bool
    notes: str
    kind: str


class SchemaRecommendation(_Out):
    """The migration plan: the Go README's ``schema_recommendation`` output plus every decision."""

    source_type: str
    target_type: str
    field_mappings: list[FieldMapping]
    overall_confidence: float
    warnings: list[str]
    errors: list[str] = Field(description="blocking problems: a migration with this plan would be refused")
    id_strategy: str
    id_field: str
    vector_mappings: dict[str, str]
    sparse_mappings: dict[str, str]
    namespace_strategy: str
    namespace_field: str
    metadata_coercions: dict[str, bool]
    source: dict[str, Any]
    target: dict[str, Any]
    estimated_records: int | None
    estimated_bytes: int
    target_exists: bool
    target_records: int | None
    overlapping_ids: int | None


class StatusProgress(_Out):
    """Go README ``progress`` of ``migration_status``."""

    total_records: int | None
    migrated_records: int
    percentage: float


class CheckpointInfo(_Out):
    """The source position up to which every record is in the target."""

    batch_seq: int
    cursor: dict[str, Any] | None
    updated_at: str


class MigrationStatus(_Out):
    """The Go README's ``migration_status`` output, plus counters, checkpoint, plan warnings and errors."""

    migration_id: str
    status: str = Field(description="pending, in_progress, completed, failed, interrupted, stopped, rolling_back "
                        "or rolled_back")
    progress: StatusProgress
    batches_processed: int
    started_at: str | None
    ended_at: str | None
    created_at: str
    updated_at: str
    phase: str | None
    source: dict[str, Any] | None
    target: dict[str, Any] | None
    counters: dict[str, int]
    checkpoint: CheckpointInfo | None
    created_target: bool
    dead_letter_file: str | None
    error: dict[str, Any] | None
    last_validation: dict[str, Any] | None
    warnings: list[str]
    running_in_server: bool = Field(default=False, description="a thread of this server is running it now")
    records_per_s: float | None = Field(default=None, description="current rate, while this server runs it")
    zero_downtime: dict[str, Any] | None = Field(
        default=None, description="dual-write migrations: phase (dual-write started, copying, catching up, in sync, "
        "validated, cut over), journal, lag (journal entries not synced yet), last sync and the cutover's switch")


class ListProgress(_Out):
    """Go README ``progress`` of a ``list_migrations`` item."""

    total: int | None
    current: int
    percent: float


class MigrationSummary(_Out):
    """One ``list_migrations`` item."""

    migration_id: str
    status: str
    created_at: str
    progress: ListProgress
    source_type: str
    target_type: str
    updated_at: str


class MigrationList(_Out):
    """The Go README's ``list_migrations`` output."""

    migrations: list[MigrationSummary]
    total: int
    limit: int
    offset: int


class RunSummary(_Out):
    """How a run ended (``migrate --json``'s result)."""

    migration_id: str
    status: str
    dry_run: bool
    records_read: int
    records_written: int
    records_failed: int
    batches: int
    retries: int
    elapsed_s: float
    records_per_s: float
    created_target: bool
    dead_letter_file: str | None
    warnings: list[str]
    error: dict[str, Any] | None = None


class StartResult(_Out):
    """A migration run started in the background (or, with ``wait``, finished)."""

    migration_id: str
    status: str
    message: str
    warnings: list[str] = Field(default_factory=list)
    result: RunSummary | None = Field(default=None, description="set when the run has ended (wait=true)")


class StopResult(_Out):
    """What ``stop_migration`` did."""

    migration_id: str
    status: str
    message: str


class ValidationOutcome(_Out):
    """A validation report (stored; ``migration_status`` shows its verdict as ``last_validation``)."""

    migration_id: str
    passed: bool
    summary: dict[str, Any]
    counts: list[dict[str, Any]]
    sample: dict[str, Any] | None
    full: dict[str, Any] | None
    ann: dict[str, Any] | None
    mismatches: list[dict[str, Any]]
    mismatch_count: int
    elapsed_s: float


class RollbackOutcome(_Out):
    """What a rollback did."""

    migration_id: str
    status: str
    deleted: int
    restored: int
    untouched: int
    batches: int
    dropped_collection: bool
    source_changed: bool


class DualWriteStart(_Out):
    """A migration prepared for dual-write: target created, journal registered, nothing copied yet."""

    migration_id: str
    journal: str = Field(description="where the application journals touched ids (without any password)")
    journal_id: str
    coverage: str = Field(description='"complete", or "from_now" when the bulk copy had started before (then a '
                          "full sync is needed before cutover)")
    created_target: bool
    warnings: list[str]
    next_steps: list[str]
    app_config: dict[str, Any] = Field(description="what an application host needs for DualWriter.from_config "
                                       "(plan, endpoints, journal; no secrets)")


class SyncOutcome(_Out):
    """One catch-up pass (``mode`` journal: replayed entries; ``mode`` full: compared records)."""

    migration_id: str
    mode: str = Field(description="journal or full")
    status: str = Field(description="completed or stopped (a failed pass is a tool error)")
    message: str
    phase: str | None = Field(description="the migration's phase after the pass: catching_up, in_sync, "
                              "validated, cut_over...")
    upserted: int
    deleted: int
    dead_letters: int
    retries: int
    elapsed_s: float
    entries: int | None = Field(default=None, description="journal entries replayed")
    ids: int | None = None
    windows: int | None = None
    checkpoint_before: int | None = None
    checkpoint_after: int | None = None
    journal_head: int | None = None
    checkpoint_held: str | None = Field(default=None, description="why the checkpoint did not move (the bulk copy "
                                        "has not completed), else null")
    pruned: int | None = None
    lag: dict[str, Any] | None = Field(default=None, description="journal entries and ids not synced yet")
    checked: int | None = Field(default=None, description="full: source records compared")
    missing: int | None = None
    different: int | None = None
    extra_in_target: int | None = None
    foreign_kept: int | None = None
    dead_letter_file: str | None = None
    error: dict[str, Any] | None = None


class SwitchInfo(_Out):
    """What the cutover switched: an alias, or nothing (``manual``: ``instructions`` say what to switch)."""

    method: str = Field(description="alias or manual")
    collection: str = Field(description="the target collection reads go to now")
    alias: str | None = None
    previous: str | None = Field(default=None, description="the collection the alias pointed to before")
    reason: str | None = Field(default=None, description="manual: why no alias was pointed")


class CutoverOutcome(_Out):
    """A validated cutover: the final syncs, the validation verdict and the switch."""

    migration_id: str
    phase: str
    switch: SwitchInfo
    instructions: list[str] = Field(description="what to switch or keep doing in the application")
    notes: list[str]
    syncs: list[dict[str, Any]]
    validation: dict[str, Any]
    lag: dict[str, Any] | None
