"""Validation that proves a migration: counts, a random sample, a full streaming scan, and ANN parity.

Every check compares the source (the truth) with what the plan says the target must hold, so the plan's own
coercions (UUIDv5 ids, flattened metadata, a namespace kept in a field) never count as differences, and
anything else always does. Mismatches name the record, the field and both values.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vectormigrate.connectors.base import Connector, Searchable
from vectormigrate.model import Batch, RecordId
from vectormigrate.pipeline.compare import DEFAULT_MIN_COSINE, Mismatch, compare_record
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import Transformer

__all__ = ["ValidationOptions", "ValidationReport", "Validator"]

MAX_LISTED = 100
"""Mismatches kept in a report (the count is always exact)."""


@dataclass(frozen=True)
class ValidationOptions:
    """What to check."""

    sample_size: int = 100
    full: bool = False
    queries: int = 0
    top_k: int = 10
    min_cosine: float = DEFAULT_MIN_COSINE
    min_recall: float | None = None
    """Fail when mean recall@k is below this; ``None``: report recall without judging it."""
    seed: int | None = None
    batch_size: int = 500


@dataclass
class ValidationReport:
    """The outcome of one validation, as stored in the state database."""

    passed: bool = True
    counts: list[dict[str, Any]] = field(default_factory=list)
    sample: dict[str, Any] | None = None
    full: dict[str, Any] | None = None
    ann: dict[str, Any] | None = None
    mismatches: list[Mismatch] = field(default_factory=list)
    mismatch_count: int = 0
    elapsed_s: float = 0.0

    def add(self, found: Sequence[Mismatch]) -> None:
        """Record mismatches (the list is capped, the count is not)."""
        self.mismatch_count += len(found)
        room = MAX_LISTED - len(self.mismatches)
        if room > 0:
            self.mismatches.extend(found[:room])

    @property
    def summary(self) -> dict[str, Any]:
        """The headline numbers."""
        out: dict[str, Any] = {
            "passed": self.passed,
            "count_ok": all(c["match"] for c in self.counts),
            "mismatches": self.mismatch_count,
        }
        if self.sample is not None:
            out["sampled"] = self.sample["checked"]
        if self.full is not None:
            out["full_checked"] = self.full["checked"]
        if self.ann is not None:
            out["recall_at_k"] = self.ann["recall_mean"]
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON for ``--json``, the MCP tool and the state database."""
        return {
            "passed": self.passed, "summary": self.summary, "counts": self.counts, "sample": self.sample,
            "full": self.full, "ann": self.ann, "mismatches": [m.to_json() for m in self.mismatches],
            "mismatch_count": self.mismatch_count, "elapsed_s": round(self.elapsed_s, 3),
        }


class Validator:
    """Checks a target against its source under a plan."""

    def __init__(self, source: Connector, source_collection: str, target: Connector, plan: MigrationPlan,
                 options: ValidationOptions | None = None) -> None:
        self.source = source
        self.source_collection = source_collection
        self.target = target
        self.target_collection = plan.target_schema.name
        self.plan = plan
        self.tr = Transformer(plan)
        self.opts = options or ValidationOptions()
        self.rng = random.Random(self.opts.seed)  # noqa: S311 - sampling, not crypto

    def run(self, on_progress: Callable[[str, int], None] | None = None) -> ValidationReport:
        """Every check the options ask for."""
        started = time.monotonic()
        report = ValidationReport()
        self.check_counts(report)
        if self.opts.full:
            self.check_full(report, on_progress)
        elif self.opts.sample_size > 0:
            self.check_sample(report)
        if self.opts.queries > 0:
            self.check_ann(report)
        report.passed = (all(c["match"] for c in report.counts) and report.mismatch_count == 0
                         and (report.ann is None or report.ann.get("passed", True)))
        report.elapsed_s = time.monotonic() - started
        return report

    # -- counts -------------------------------------------------------------------------------------------------
    def check_counts(self, report: ValidationReport) -> None:
        """Total and per-namespace counts, source against target."""
        namespaces = self.plan.source_schema.namespaces
        total_src = self.source.count(self.source_collection)
        total_tgt = self.target.count(self.target_collection)
        report.counts.append({"namespace": None, "source": total_src, "target": total_tgt,
                              "match": total_src == total_tgt})
        if not namespaces or self.plan.namespace_strategy == "drop":
            return
        for ns in namespaces:
            s = self.source.count(self.source_collection, ns)
            t = self._target_count(ns)
            report.counts.append({"namespace": ns, "source": s, "target": t, "match": t is None or s == t})

    def _target_count(self, namespace: str) -> int | None:
        if self.plan.namespace_strategy == "native":
            return self.target.count(self.target_collection, namespace)
        # metadata_field: the target connector counts by it when it was opened with its namespace_field option.
        if getattr(self.target, "opts", {}).get("namespace_field") == self.plan.namespace_field:
            return self.target.count(self.target_collection, namespace)
        return None

    # -- records ------------------------------------------------------------------------------------------------
    def check_batch(self, batch: Batch) -> list[Mismatch]:
        """Compare every record of a source batch with its target copy."""
        wanted = [self.tr.target_id(i) for i in batch.ids]
        got = {r.id: r for r in self.target.fetch(self.target_collection, wanted,
                                                  self.tr.target_namespace(batch.namespace))}
        out: list[Mismatch] = []
        for rec, tid in zip(batch.records(), wanted, strict=True):
            out.extend(compare_record(rec, got.get(tid), self.tr, min_cosine=self.opts.min_cosine))
        return out

    def sample_ids(self, k: int) -> dict[str | None, list[RecordId]]:
        """A uniform random sample of source ids per namespace (reservoir sampling over one scan)."""
        reservoir: list[tuple[str | None, RecordId]] = []
        seen = 0
        for batch in self.source.read_batches(self.source_collection, batch_size=self.opts.batch_size):
            for rid in batch.ids:
                seen += 1
                if len(reservoir) < k:
                    reservoir.append((batch.namespace, rid))
                else:
                    j = self.rng.randrange(seen)
                    if j < k:
                        reservoir[j] = (batch.namespace, rid)
        out: dict[str | None, list[RecordId]] = {}
        for ns, rid in reservoir:
            out.setdefault(ns, []).append(rid)
        return out

    def check_sample(self, report: ValidationReport) -> None:
        """A random sample of ids fetched from both sides and compared field by field."""
        checked = bad = 0
        for ns, ids in self.sample_ids(self.opts.sample_size).items():
            records = self.source.fetch(self.source_collection, ids, ns)
            found = self.check_batch(Batch.from_records(records, namespace=ns, dims=self._dims()))
            checked += len(records)
            bad += len({m.record_id for m in found})
            report.add(found)
        report.sample = {"requested": self.opts.sample_size, "checked": checked, "mismatched_records": bad,
                         "min_cosine": self.opts.min_cosine}

    def check_full(self, report: ValidationReport, on_progress: Callable[[str, int], None] | None) -> None:
        """Every source record against the target, streaming, then every target record against the source."""
        checked = bad = missing = 0
        for batch in self.source.read_batches(self.source_collection, batch_size=self.opts.batch_size):
            found = self.check_batch(batch)
            checked += len(batch)
            bad += len({m.record_id for m in found})
            missing += sum(1 for m in found if m.field == "record")
            report.add(found)
            if on_progress:
                on_progress("full", checked)
        # Ids are unique on both sides: when every source record was found and the target holds exactly that many,
        # it holds nothing else, and the reverse scan (every target record looked up in the source) is skipped.
        target_total = self.target.count(self.target_collection)
        if missing == 0 and target_total == checked:
            extra: list[Mismatch] = []
            reverse = "skipped (every source record found, counts equal)"
        else:
            extra = list(self._extra_in_target())
            reverse = "scanned"
        report.add(extra)
        report.full = {"checked": checked, "mismatched_records": bad, "extra_in_target": len(extra),
                       "reverse_scan": reverse}

    def _extra_in_target(self) -> Iterator[Mismatch]:
        """Target records with no source record (stale or foreign ones)."""
        id_field = self.plan.id_field
        for batch in self.target.read_batches(self.target_collection, batch_size=self.opts.batch_size):
            by_source: dict[str | None, list[tuple[RecordId, RecordId]]] = {}
            for tid, meta in zip(batch.ids, batch.metadata, strict=True):
                sid = meta.get(id_field, tid) if self.plan.id_strategy != "keep" else tid
                ns = meta.get(self.plan.namespace_field) if self.plan.namespace_strategy == "metadata_field" \
                    else batch.namespace
                by_source.setdefault(ns, []).append((sid, tid))
            for ns, pairs in by_source.items():
                present = {r.id for r in self.source.fetch(self.source_collection, [s for s, _ in pairs], ns)}
                for sid, tid in pairs:
                    if sid not in present:
                        yield Mismatch(tid, "record", "(absent)", "present",
                                       "the target has a record the source does not")

    # -- ANN parity ---------------------------------------------------------------------------------------------
    def check_ann(self, report: ValidationReport) -> None:
        """Same queries on both sides; recall@k of the target's results against the source's."""
        if not (isinstance(self.source, Searchable) and isinstance(self.target, Searchable)):
            report.ann = {"skipped": "one side cannot search (no Searchable support in its connector)"}
            return
        if not self.plan.source_schema.vectors:
            report.ann = {"skipped": "no dense vectors"}
            return
        vname = self.plan.source_schema.vectors[0].name
        tname = self.plan.vector_map[vname]
        recalls: list[float] = []
        k = self.opts.top_k
        native = self.plan.namespace_strategy == "native"
        for ns, ids in self.sample_ids(self.opts.queries).items():
            for rec in self.source.fetch(self.source_collection, ids, ns):
                query = rec.vectors[vname].tolist()
                # Search one namespace on both sides where namespaces survived, the whole collection otherwise.
                src_hits = self.source.search(self.source_collection, vname, query, k, ns if native else None)
                want = {self.tr.target_id(i) for i, _ in src_hits}
                tgt_hits = self.target.search(self.target_collection, tname, query, k, ns if native else None)
                got = {i for i, _ in tgt_hits}
                if want:
                    recalls.append(len(want & got) / len(want))
        arr = np.asarray(recalls or [1.0])
        ann: dict[str, Any] = {"queries": len(recalls), "k": k, "vector": vname or "(unnamed)",
                               "recall_mean": round(float(arr.mean()), 4), "recall_min": round(float(arr.min()), 4)}
        if self.opts.min_recall is not None:
            ann["min_recall"] = self.opts.min_recall
            ann["passed"] = float(arr.mean()) >= self.opts.min_recall
        report.ann = ann

    def _dims(self) -> dict[str, int]:
        return {v.name: v.dim for v in self.plan.source_schema.vectors}
