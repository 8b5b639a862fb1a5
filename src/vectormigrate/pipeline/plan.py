"""Schema translation: from a source schema and a target's capabilities to a :class:`MigrationPlan`.

The plan is computed before anything is written and states every decision: how ids map, which vector goes
where, where namespaces go, how metadata is coerced, with a confidence per mapping and a warning for every
lossy or risky step. ``migrate`` executes exactly this plan; ``plan`` and the MCP ``schema_recommendation`` tool
print it. Blocking problems are collected all at once (``errors``) rather than stopping at the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from vectormigrate.model import Capabilities, CollectionSchema, FieldSpec, IdKind, SparseSpec, VectorSpec

__all__ = ["FieldMapping", "MigrationPlan", "PlanOptions", "build_plan"]

IdStrategy = Literal["keep", "canonical_uuid", "uuid5", "stringify"]
NamespaceStrategy = Literal["none", "native", "metadata_field", "drop"]


@dataclass(frozen=True)
class PlanOptions:
    """User choices that shape a plan (flags / ``--target-option``)."""

    id_field: str = "_source_id"
    """Metadata key that keeps the original id when the target cannot hold it."""
    namespace_field: str = "_namespace"
    """Metadata key that keeps the namespace when the target has no namespaces."""
    namespace_strategy: NamespaceStrategy | None = None
    """None: choose (native when the target has a namespace model, else a metadata field)."""


@dataclass(frozen=True)
class FieldMapping:
    """One row of the plan's mapping table (the Go README's ``field_mappings``)."""

    source_field: str
    target_field: str
    confidence: float
    conversion_needed: bool
    notes: str
    kind: str = "metadata"

    def to_json(self) -> dict[str, Any]:
        """Go README shape plus ``kind``."""
        return {
            "source_field": self.source_field, "target_field": self.target_field, "confidence": self.confidence,
            "conversion_needed": self.conversion_needed, "notes": self.notes, "kind": self.kind,
        }


@dataclass
class MigrationPlan:
    """Everything ``migrate`` will do, decided up front."""

    source_type: str
    target_type: str
    source_schema: CollectionSchema
    target_schema: CollectionSchema
    target_capabilities: Capabilities
    id_strategy: IdStrategy
    id_field: str
    vector_map: dict[str, str]
    sparse_map: dict[str, str]
    namespace_strategy: NamespaceStrategy
    namespace_field: str
    flatten_nested: bool
    drop_nulls: bool
    stringify_lists: bool
    field_renames: dict[str, str] = field(default_factory=dict)
    field_mappings: list[FieldMapping] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    target_exists: bool = False
    target_count: int | None = None
    overlapping_ids: int | None = None

    @property
    def overall_confidence(self) -> float:
        """Mean confidence of the mappings (1.0 with nothing to map)."""
        if not self.field_mappings:
            return 1.0
        return round(sum(m.confidence for m in self.field_mappings) / len(self.field_mappings), 3)

    @property
    def estimated_bytes(self) -> int:
        """Vector bytes the migration moves (metadata not included)."""
        per = sum(v.dim * 4 for v in self.source_schema.vectors)
        return per * (self.source_schema.count or 0)

    def to_json(self) -> dict[str, Any]:
        """The Go README's ``schema_recommendation`` output, plus the whole plan."""
        return {
            "source_type": self.source_type,
            "target_type": self.target_type,
            "field_mappings": [m.to_json() for m in self.field_mappings],
            "overall_confidence": self.overall_confidence,
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "id_strategy": self.id_strategy,
            "id_field": self.id_field,
            "vector_mappings": dict(self.vector_map),
            "sparse_mappings": dict(self.sparse_map),
            "namespace_strategy": self.namespace_strategy,
            "namespace_field": self.namespace_field,
            "metadata_coercions": {"flatten_nested": self.flatten_nested, "drop_nulls": self.drop_nulls,
                                   "stringify_lists": self.stringify_lists},
            "field_renames": dict(self.field_renames),
            "source": self.source_schema.to_json(),
            "target": self.target_schema.to_json(),
            "estimated_records": self.source_schema.count,
            "estimated_bytes": self.estimated_bytes,
            "target_exists": self.target_exists,
            "target_records": self.target_count,
            "overlapping_ids": self.overlapping_ids,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], capabilities: Capabilities) -> MigrationPlan:
        """Rebuild a stored plan (resume must execute the plan it started with)."""
        coercions = data.get("metadata_coercions", {})
        return cls(
            source_type=data["source_type"], target_type=data["target_type"],
            source_schema=CollectionSchema.from_json(data["source"]),
            target_schema=CollectionSchema.from_json(data["target"]),
            target_capabilities=capabilities, id_strategy=data["id_strategy"], id_field=data["id_field"],
            vector_map=dict(data["vector_mappings"]), sparse_map=dict(data["sparse_mappings"]),
            namespace_strategy=data["namespace_strategy"], namespace_field=data["namespace_field"],
            flatten_nested=bool(coercions.get("flatten_nested")), drop_nulls=bool(coercions.get("drop_nulls")),
            stringify_lists=bool(coercions.get("stringify_lists")),
            field_renames=dict(data.get("field_renames") or {}),
            field_mappings=[FieldMapping(m["source_field"], m["target_field"], m["confidence"],
                                         m["conversion_needed"], m["notes"], m.get("kind", "metadata"))
                            for m in data.get("field_mappings", [])],
            warnings=list(data.get("warnings", [])), errors=list(data.get("errors", [])),
            target_exists=bool(data.get("target_exists")), target_count=data.get("target_records"),
            overlapping_ids=data.get("overlapping_ids"),
        )


def build_plan(
    source_type: str,
    source: CollectionSchema,
    source_caps: Capabilities,
    target_type: str,
    target_caps: Capabilities,
    target_collection: str,
    *,
    existing_target: CollectionSchema | None = None,
    options: PlanOptions | None = None,
    field_renames: Mapping[str, str] | None = None,
    collection_problem: str | None = None,
) -> MigrationPlan:
    """Decide how ``source`` lands in a ``target_type`` collection called ``target_collection``.

    ``field_renames`` are the metadata keys the target cannot use as they are (from the target connector's
    ``field_renames``); ``collection_problem`` says why the target collection name is unusable, if it is.
    """
    opts = options or PlanOptions()
    renames = dict(field_renames or {})
    warnings: list[str] = []
    errors: list[str] = [collection_problem] if collection_problem else []
    mappings: list[FieldMapping] = []

    id_kind, id_strategy = _plan_ids(source, target_caps, existing_target)
    if id_strategy == "keep" and id_kind != source.id_kind and not (source.id_kind == "uuid" and id_kind == "str"):
        held = f"existing collection {target_collection!r} has {id_kind} ids" if existing_target else \
            f"{target_type} only holds {id_kind} ids"
        errors.append(f"the source has {source.id_kind} ids and {held}; write into a new collection so the "
                      "plan can choose a key type that holds them")
    if id_strategy == "keep":
        mappings.append(FieldMapping("id", "id", 1.0, False, "Primary identifier, direct mapping", "id"))
    elif id_strategy == "stringify":
        mappings.append(FieldMapping("id", "id", 0.95, True, f"{target_type} holds string ids: the integer id is "
                                     f"written as its decimal string; the original int is kept in {opts.id_field!r}",
                                     "id"))
    elif id_strategy == "canonical_uuid":
        mappings.append(FieldMapping("id", "id", 0.95, True, "UUID ids written in canonical form; the original "
                                     f"spelling is kept in {opts.id_field!r} when it differs", "id"))
    else:
        mappings.append(FieldMapping("id", "id", 0.9, True, f"{target_type} cannot hold {source.id_kind} ids: "
                                     f"deterministic UUIDv5 of the source id; original kept in {opts.id_field!r}", "id"))
        mappings.append(FieldMapping("id", opts.id_field, 1.0, True, "original id, for lookups and rollback", "id"))
        warnings.append(f"ids become UUIDv5 in {target_type}; the original id is kept in metadata field "
                        f"{opts.id_field!r} (look records up by it, or recompute the UUID)")

    vector_map = _plan_vectors(source, source_caps, target_type, target_caps, existing_target, mappings, errors)
    sparse_map: dict[str, str] = {}
    existing_sparse = [s.name for s in existing_target.sparse_vectors] if existing_target is not None else None
    for sp in source.sparse_vectors:
        if target_caps.sparse_vectors and existing_sparse is not None and len(existing_sparse) == 1 == \
                len(source.sparse_vectors):
            sparse_map[sp.name] = existing_sparse[0]  # one sparse slot on each side: they map whatever their names
            mappings.append(FieldMapping(sp.name, existing_sparse[0], 1.0, False, "sparse vector", "sparse_vector"))
        elif target_caps.sparse_vectors:
            sparse_map[sp.name] = sp.name
            mappings.append(FieldMapping(sp.name, sp.name, 1.0, False, "sparse vector", "sparse_vector"))
        else:
            errors.append(f"{target_type} cannot store sparse vector {sp.name!r}")

    ns_strategy = opts.namespace_strategy
    if ns_strategy is None:
        if not source.namespaces:
            ns_strategy = "none"
        elif target_caps.namespace_model != "none":
            ns_strategy = "native"
        else:
            ns_strategy = "metadata_field"
    if ns_strategy == "native" and target_caps.namespace_model == "none":
        errors.append(f"{target_type} has no namespaces/partitions/tenants; use the metadata_field strategy")
    if source.namespaces:
        if ns_strategy == "native":
            mappings.append(FieldMapping("namespace", f"{target_caps.namespace_model}", 1.0, False,
                                         f"each source namespace becomes a same-named {target_caps.namespace_model}",
                                         "namespace"))
        elif ns_strategy == "metadata_field":
            mappings.append(FieldMapping("namespace", opts.namespace_field, 0.9, True,
                                         f"{target_type} has no {source_caps.namespace_model}s: the namespace is kept "
                                         f"in metadata field {opts.namespace_field!r}", "namespace"))
            warnings.append(f"{len(source.namespaces)} source {source_caps.namespace_model}(s) are merged into one "
                            f"collection; filter on metadata field {opts.namespace_field!r} to tell them apart")
        elif ns_strategy == "drop":
            warnings.append("namespaces are dropped: records of every namespace are merged, and ids that repeat "
                            "across namespaces overwrite each other")

    flatten = not target_caps.nested_metadata
    drop_nulls = not target_caps.null_metadata
    stringify = "list" not in target_caps.metadata_types or target_caps.list_element_types is not None
    if target_caps.list_element_types is not None:
        kinds = ", ".join(sorted(target_caps.list_element_types))
        warnings.append(f"{target_type} lists hold only {kinds}: other lists are stored as JSON text")
    if target_caps.ascii_ids and source.id_kind == "str" and id_strategy == "keep":
        warnings.append(f"{target_type} ids are ASCII: a non-ASCII id becomes a UUIDv5, the original kept in "
                        f"{opts.id_field!r}")
    if "export" in source.extras:
        errors.append(f"the source cannot be exported: {source.extras['export']}")
    target_fields = _plan_fields(source, target_type, target_caps, flatten, drop_nulls, mappings, warnings, renames)
    if renames:
        warnings.append(f"{target_type} cannot use metadata key(s) {sorted(renames)} as they are; they are renamed: "
                        + ", ".join(f"{k!r} -> {v!r}" for k, v in sorted(renames.items())))
    # Fields the plan writes into every record: a source that already has one would be overwritten. Canonical
    # UUIDs write the id field only when the spelling changes, and then keep a value already there (a source
    # that was itself migrated keeps its chain of custody).
    reserved = {opts.id_field} if id_strategy in ("uuid5", "stringify") else set()
    if ns_strategy == "metadata_field" and source.namespaces:
        reserved.add(opts.namespace_field)
    clash = reserved & {f.name for f in source.fields}
    if clash:
        errors.append(f"source metadata already has field(s) {sorted(clash)} that the plan needs; choose other "
                      "names with --id-field NAME / --namespace-field NAME")
    if id_strategy == "canonical_uuid" and opts.id_field in {f.name for f in source.fields}:
        warnings.append(f"source metadata already has {opts.id_field!r}; it is kept as it is")
        reserved.add(opts.id_field)
    extra_fields = tuple(FieldSpec(name, "string", nullable=True, declared=False) for name in sorted(reserved))

    target_schema = CollectionSchema(
        name=target_collection,
        vectors=tuple(VectorSpec(vector_map[v.name], v.dim, v.metric, v.dtype)
                      for v in source.vectors if v.name in vector_map),
        sparse_vectors=tuple(SparseSpec(sparse_map[s.name]) for s in source.sparse_vectors if s.name in sparse_map),
        fields=target_fields + extra_fields,
        id_kind=id_kind,
        id_max_length=source.id_max_length if id_strategy == "keep" else None,
        namespaces=source.namespaces if ns_strategy == "native" else (),
        dynamic_fields=True,
        count=source.count,
    )
    if existing_target is not None and existing_target.count:
        warnings.append(f"target collection {target_collection!r} already holds {existing_target.count} records; "
                        "records with the same ids are overwritten (they are backed up first when validation/rollback "
                        "support is enabled)")
    return MigrationPlan(
        source_type=source_type, target_type=target_type, source_schema=source, target_schema=target_schema,
        target_capabilities=target_caps, id_strategy=id_strategy, id_field=opts.id_field, vector_map=vector_map,
        sparse_map=sparse_map, namespace_strategy=ns_strategy, namespace_field=opts.namespace_field,
        flatten_nested=flatten, drop_nulls=drop_nulls, stringify_lists=stringify, field_renames=renames,
        field_mappings=mappings,
        warnings=warnings, errors=errors, target_exists=existing_target is not None,
        target_count=existing_target.count if existing_target is not None else None,
    )


def _plan_ids(source: CollectionSchema, caps: Capabilities,
              existing: CollectionSchema | None) -> tuple[IdKind, IdStrategy]:
    accepted: set[IdKind] = set(caps.id_kinds)
    if existing is not None:
        # An existing collection has one id type (a Milvus INT64 primary key takes no strings).
        accepted = {existing.id_kind} & accepted or accepted
        if existing.id_kind == "str":
            accepted |= {k for k in caps.id_kinds if k == "uuid"}
    kind = source.id_kind
    if kind == "uuid" and "str" not in accepted and "uuid" in accepted:
        # The target parses UUIDs and stores them canonically: write them canonical so fetches match.
        return "uuid", "canonical_uuid"
    if kind in accepted:
        return kind, "keep"
    if kind == "uuid" and "str" in accepted:
        return "str", "keep"
    if kind == "int" and "str" in accepted:
        return "str", "stringify"
    if "uuid" in accepted:
        return "uuid", "canonical_uuid" if kind == "uuid" else "uuid5"
    if "str" in accepted:
        return "str", "keep"
    # int-only targets cannot take strings at all: the transform dead-letters such ids with a clear reason.
    return "int", "keep"


def _plan_vectors(source: CollectionSchema, source_caps: Capabilities, target_type: str, caps: Capabilities,
                  existing: CollectionSchema | None, mappings: list[FieldMapping], errors: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if not source.vectors and not source.sparse_vectors:
        errors.append("the source collection has no vectors")
    single = len(source.vectors) == 1
    existing_names = [v.name for v in existing.vectors] if existing is not None else None
    for spec in source.vectors:
        if single and existing_names is not None and len(existing_names) == 1:
            name = existing_names[0]  # write the one vector into the existing collection's one vector
        elif single and spec.name in ("", source_caps.unnamed_vector):
            name = caps.unnamed_vector
        elif not caps.named_vectors:
            if not single:
                errors.append(f"{target_type} holds one dense vector per record; the source has "
                              f"{len(source.vectors)} ({', '.join(v.name for v in source.vectors)})")
                break
            name = caps.unnamed_vector
        else:
            name = spec.name or caps.unnamed_vector
        if spec.metric not in caps.metrics:
            errors.append(f"{target_type} does not support the {spec.metric.value} metric of vector {spec.name!r}")
        if caps.max_dim and spec.dim > caps.max_dim:
            errors.append(f"vector {spec.name!r} has {spec.dim} dimensions; {target_type} allows at most {caps.max_dim}")
        out[spec.name] = name
        label_s, label_t = spec.name or "(unnamed vector)", name or "(unnamed vector)"
        note = f"dense float32[{spec.dim}], {spec.metric.value}"
        if caps.normalizes_cosine and spec.metric.value == "cosine":
            note += f"; {target_type} stores cosine vectors normalised (compare by cosine)"
        mappings.append(FieldMapping(label_s, label_t, 1.0, label_s != label_t and spec.name != "", note, "vector"))
    return out


def _plan_fields(source: CollectionSchema, target_type: str, caps: Capabilities, flatten: bool, drop_nulls: bool,
                 mappings: list[FieldMapping], warnings: list[str], renames: Mapping[str, str]) -> tuple[FieldSpec, ...]:
    fields: list[FieldSpec] = []
    lossy_types = []
    for f in source.fields:
        conf = 1.0 if f.declared else 0.8
        notes = f"{f.type}" + ("" if f.declared else " (inferred from a sample: verify)")
        conversion = False
        target = f
        if f.type in ("object", "json") and flatten:
            notes += "; nested object flattened to dotted keys"
            conversion, conf = True, min(conf, 0.8)
        if f.type not in caps.metadata_types and f.type not in ("object", "json"):
            lossy_types.append(f.name)
            notes += f"; {target_type} has no {f.type} type, stored as string"
            conversion, conf = True, min(conf, 0.7)
            target = replace(f, type="string")
        if f.nullable and drop_nulls:
            notes += "; null values are dropped (the key is removed)"
            conversion = True
        new_name = renames.get(f.name, f.name)
        if new_name != f.name:
            notes += f"; renamed ({target_type} naming rules)"
            conversion, conf = True, min(conf, 0.9)
            target = replace(target, name=new_name)
        mappings.append(FieldMapping(f.name, new_name, conf, conversion, notes))
        fields.append(target)
    if flatten and any(f.type in ("object", "json") for f in source.fields):
        warnings.append(f"{target_type} stores flat metadata: nested objects are flattened with dot notation")
    if drop_nulls:
        warnings.append(f"{target_type} has no null metadata values: keys whose value is null are removed")
    if lossy_types:
        warnings.append(f"fields {lossy_types} have types {target_type} lacks and are stored as strings")
    if source.dynamic_fields:
        mappings.append(FieldMapping("$meta", "(metadata)", 0.9, False,
                                     "dynamic-field keys become ordinary metadata keys"))
    return tuple(fields)
