"""Throughput and peak memory of a Milvus (milvus-lite) -> Qdrant (qdrant-client local mode) migration.

VectorMigrate is compared, in ONE invocation, with what a user would otherwise do or could at best hope for:

* ``sdk_loop``  - the hand-written script: pymilvus ``query_iterator`` collecting every row into a list, then
  qdrant-client ``upsert`` in batches, with the same id handling as the tool (string ids become UUIDv5, the original
  id is kept in the payload as ``_source_id``).
* ``raw_read``  - pymilvus ``query_iterator`` over everything, touching each vector and metadata field: how fast
  the source engine can be read at all. Measured with the batch size everything else uses (``raw_read``) and with
  big pages (``raw_read_big``, 10,000 rows by default): milvus-lite reads much faster in big pages, the tool's
  Milvus connector reads in pages of about 16 MB whatever the batch size, and a ceiling should be the engine's
  best, so the faster of the two is the read rate of the ratio.
* ``raw_write`` - qdrant-client ``upsert`` of pre-generated batches (generation is not timed): how fast the target
  engine can be written at all.
* ``tool``      - ``vectormigrate.service.migrate`` in process (plan, reader thread, writers, checkpoints).

Reported: records/s of each variant, the ratios ``tool / sdk_loop`` and ``tool / min(raw_read, raw_write)`` (the
slower raw side is the ceiling of any migration between these two engines), and the peak RSS of each variant.
Nothing here asserts on wall-clock time: the numbers are reported, never checked.

Usage::

    python bench/milvus_to_qdrant.py prepare --n 20000                  # seed once per size (in $TMPDIR/vm-bench)
    python bench/milvus_to_qdrant.py run --sizes 20000,100000           # everything -> bench/RESULTS.md
    python bench/milvus_to_qdrant.py variant --variant tool --n 20000 --qdrant memory   # one measurement

Why one subprocess per variant: peak RSS (``ru_maxrss``) is a high-water mark of a whole process and cannot be
reset, so measuring two variants in one process would report the larger of the two for the second. A fresh process
also gives every variant the same cold start (imports, milvus-lite opening its segments, an empty qdrant-client)
and stops one variant's garbage from slowing the next. Variants run one at a time (never two heavy ones at once)
and, with ``--repeat``, in a rotated order per round so that slow drift of a shared machine spreads over all of
them instead of landing on one.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

COLLECTION = "docs"
DIM = 768
ID_FIELD = "_source_id"
"""Where the tool keeps the original id when the target cannot hold it; the SDK loop does the same."""
QdrantForm = Literal["folder", "memory"]
VARIANTS = ("raw_read", "raw_read_big", "raw_write", "sdk_loop", "tool")
SCRIPT = Path(__file__).resolve()
RESULTS = SCRIPT.parent / "RESULTS.md"


# --- seeding ---------------------------------------------------------------------------------------------------


def seed_path(root: Path, n: int, metadata: str) -> Path:
    """The milvus-lite database (a directory) seeded with ``n`` records."""
    return root / f"milvus-{n}-{metadata}.db"


def prepare(n: int, root: Path, metadata: str = "simple", batch_size: int = 1000) -> dict[str, Any]:
    """Seed a milvus-lite database with ``n`` x 768-d records from ``vectormigrate.datagen`` (once per size).

    Seeded through pymilvus directly rather than through VectorMigrate's Milvus connector, so that the source the
    tool reads is an ordinary user-made collection and not one shaped by the code being measured. ``simple``
    metadata becomes typed scalar fields; the extra keys of ``rich`` metadata (lists, nested objects, nulls) go
    to the dynamic field, as a user with schemaless metadata would store them.

    Returns:
        The seed's description (also written next to it as JSON); an existing complete seed is reused.
    """
    from pymilvus import DataType, MilvusClient

    from vectormigrate.datagen import iter_batches

    db = seed_path(root, n, metadata)
    marker = db.with_suffix(".json")
    if marker.exists() and db.exists():
        info: dict[str, Any] = json.loads(marker.read_text())
        return info
    shutil.rmtree(db, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    client = MilvusClient(str(db))
    try:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=metadata == "rich")
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        schema.add_field("title", DataType.VARCHAR, max_length=512)
        schema.add_field("n", DataType.INT64)
        schema.add_field("category", DataType.VARCHAR, max_length=64)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
        client.create_collection(COLLECTION, schema=schema, index_params=index)
        for batch in iter_batches(n, batch_size=batch_size, dim=DIM, metadata=metadata, id_kind="str"):  # type: ignore[arg-type]
            matrix = batch.vectors[""]
            client.insert(COLLECTION, [{"id": rid, "vector": matrix[i], **batch.metadata[i]}
                                       for i, rid in enumerate(batch.ids)])
        client.flush(COLLECTION)
        count = int(client.query(COLLECTION, filter="", output_fields=["count(*)"])[0]["count(*)"])
    finally:
        client.close()
    if count != n:
        msg = f"seeded {count} records into {db}, expected {n}"
        raise RuntimeError(msg)
    info = {"n": n, "dim": DIM, "metadata": metadata, "path": str(db), "seconds": round(time.perf_counter() - started, 1),
            "created": datetime.now(UTC).isoformat(timespec="seconds")}
    marker.write_text(json.dumps(info))
    return info


# --- one variant, in its own process ---------------------------------------------------------------------------


def _rss_now_mb() -> float | None:
    """Current RSS (Linux): the baseline after imports and set-up, before the timed part."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@dataclass
class Workdir:
    """Scratch space of one variant: a private copy of the seed, the Qdrant folder, the state database."""

    root: Path

    @property
    def source(self) -> Path:
        return self.root / "source.db"

    @property
    def qdrant(self) -> Path:
        return self.root / "qdrant"

    @classmethod
    def fresh(cls, base: Path, seed: Path) -> Workdir:
        # A private copy of the seed per variant: every variant starts from the same bytes whatever an earlier
        # one did to the folder (reads leave it unchanged today, but milvus-lite may compact in the background
        # of any open), and the copy warms the page cache the same way for all of them. Not timed.
        work = cls(base / "work")
        shutil.rmtree(work.root, ignore_errors=True)
        work.root.mkdir(parents=True)
        shutil.copytree(seed, work.source)
        return work


def _qdrant_client(form: QdrantForm, work: Workdir) -> Any:
    from qdrant_client import QdrantClient

    return QdrantClient(":memory:") if form == "memory" else QdrantClient(path=str(work.qdrant))


def _create_target(client: Any) -> None:
    from qdrant_client import models

    client.create_collection(COLLECTION, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))


def _target_id(source_id: str) -> str:
    """The tool's UUIDv5 for a string id (same namespace and ``s:`` tag), written out by hand as a user would."""
    from vectormigrate.pipeline.transform import ID_NAMESPACE

    return str(uuid.uuid5(ID_NAMESPACE, f"s:{source_id}"))


def _iterate(client: Any, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    """Pages of ``query_iterator`` over the whole collection, every field (``*`` includes the vector)."""
    # milvus-lite opens collections released; a query needs them loaded (a no-op when already loaded).
    client.load_collection(COLLECTION)
    it = client.query_iterator(COLLECTION, batch_size=batch_size, output_fields=["*"])
    try:
        while page := it.next():
            yield page
    finally:
        it.close()


def run_raw_read(work: Workdir, batch_size: int) -> int:
    """Read everything, touching each vector and each field; nothing is kept."""
    from pymilvus import MilvusClient

    client = MilvusClient(str(work.source))
    floats = fields = rows = 0
    try:
        for page in _iterate(client, batch_size):
            for row in page:
                floats += len(row["vector"])
                fields += len(row)
            rows += len(page)
    finally:
        client.close()
    if floats != rows * DIM or fields < rows * 3:
        msg = f"read {rows} rows but {floats} vector values and {fields} fields: vectors or metadata missing"
        raise RuntimeError(msg)
    return rows


def pregenerate_points(n: int, batch_size: int, metadata: str) -> list[tuple[list[str], Any, list[dict[str, Any]]]]:
    """``raw_write``'s input: target ids, float32 matrices and payloads, made before the clock starts."""
    from vectormigrate.datagen import iter_batches

    out = []
    for b in iter_batches(n, batch_size=batch_size, dim=DIM, metadata=metadata, id_kind="str"):  # type: ignore[arg-type]
        ids = [_target_id(str(rid)) for rid in b.ids]
        payloads = [{**meta, ID_FIELD: rid} for rid, meta in zip(b.ids, b.metadata, strict=True)]
        out.append((ids, b.vectors[""], payloads))
    return out


def run_raw_write(form: QdrantForm, work: Workdir, data: list[tuple[list[str], Any, list[dict[str, Any]]]]) -> Any:
    """Upsert pre-generated batches; returns the open client (the caller stops the clock, then counts)."""
    from qdrant_client import models

    client = _qdrant_client(form, work)
    _create_target(client)
    for ids, matrix, payloads in data:
        # Column form with the float32 matrix: the client turns it into lists in one C-level tolist(), the
        # cheapest way into qdrant-client (it needs lists), which is what a ceiling should use.
        client.upsert(COLLECTION, points=models.Batch(ids=ids, vectors=matrix, payloads=payloads), wait=True)
    return client


def run_sdk_loop(form: QdrantForm, work: Workdir, batch_size: int) -> Any:
    """The hand-written migration: read everything into a list, then write it in batches."""
    from pymilvus import MilvusClient
    from qdrant_client import models

    source = MilvusClient(str(work.source))
    try:
        rows: list[dict[str, Any]] = []
        for page in _iterate(source, batch_size):
            rows.extend(page)
    finally:
        source.close()
    target = _qdrant_client(form, work)
    _create_target(target)
    for start in range(0, len(rows), batch_size):
        points = []
        for row in rows[start:start + batch_size]:
            sid = row.pop("id")
            vector = row.pop("vector")
            row[ID_FIELD] = sid  # what is left of the row is the metadata: it becomes the payload
            points.append(models.PointStruct(id=_target_id(sid), vector=vector, payload=row))
        target.upsert(COLLECTION, points=points, wait=True)
    return target


def run_tool(form: QdrantForm, work: Workdir, batch_size: int, workers: int) -> int:
    """VectorMigrate in process, as ``vectormigrate migrate`` runs it (state store, checkpoints and all)."""
    from vectormigrate.service import Endpoint, MigrationSpec, migrate
    from vectormigrate.state.store import StateStore

    spec = MigrationSpec(
        migration_id="bench",
        source=Endpoint("milvus", COLLECTION, url=str(work.source)),
        target=Endpoint("qdrant", COLLECTION, url=":memory:" if form == "memory" else str(work.qdrant)),
        batch_size=batch_size,
        workers=workers,
    )
    store = StateStore(work.root / "state.db")
    try:
        outcome = migrate(spec, store)
    finally:
        store.close()
    result = outcome.result
    if result.status != "completed" or result.counters.records_failed:
        msg = f"tool run ended {result.status} with {result.counters.records_failed} failed records: {result.error}"
        raise RuntimeError(msg)
    return result.counters.records_written


def measure(variant: str, n: int, root: Path, form: QdrantForm, batch_size: int, workers: int,
            metadata: str, big_read_batch: int = 10_000) -> dict[str, Any]:
    """Run one variant in this process and describe it (the caller is a fresh process per variant)."""
    import pymilvus  # noqa: F401 - imported before the clock for every variant alike
    import qdrant_client  # noqa: F401

    import vectormigrate.service  # noqa: F401

    work = Workdir.fresh(root, seed_path(root, n, metadata))
    data = pregenerate_points(n, batch_size, metadata) if variant == "raw_write" else None
    base_rss = _rss_now_mb()
    target: Any = None
    started = time.perf_counter()
    if variant == "raw_read":
        records = run_raw_read(work, batch_size)
    elif variant == "raw_read_big":
        records = run_raw_read(work, big_read_batch)
    elif variant == "raw_write":
        target = run_raw_write(form, work, data or [])
    elif variant == "sdk_loop":
        target = run_sdk_loop(form, work, batch_size)
    elif variant == "tool":
        records = run_tool(form, work, batch_size, workers)
    else:
        msg = f"unknown variant {variant!r}"
        raise ValueError(msg)
    if target is not None:
        # Closing is part of the job (a folder client releases its lock); counting is a check, not timed.
        elapsed = time.perf_counter() - started
        records = int(target.count(COLLECTION, exact=True).count)
        close_started = time.perf_counter()
        target.close()
        elapsed += time.perf_counter() - close_started
    else:
        elapsed = time.perf_counter() - started
    if records != n:
        msg = f"{variant}: {records} records, expected {n}"
        raise RuntimeError(msg)
    shutil.rmtree(work.root, ignore_errors=True)
    return {
        "variant": variant, "n": n, "qdrant": None if variant.startswith("raw_read") else form,
        "workers": workers if variant == "tool" else None,
        "batch_size": big_read_batch if variant == "raw_read_big" else batch_size, "metadata": metadata,
        "seconds": round(elapsed, 3), "records_per_s": round(n / elapsed, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1), "base_rss_mb": None if base_rss is None else round(base_rss, 1),
        # The machine may be shared: the 1-minute load average at the end says how busy it was meanwhile.
        "load_1min": round(os.getloadavg()[0], 2),
    }


# --- the whole benchmark ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One variant to measure at one size."""

    variant: str
    n: int
    form: QdrantForm
    workers: int


def run_job(job: Job, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one variant in a child process and return its JSON line."""
    cmd = [sys.executable, str(SCRIPT), "variant", "--variant", job.variant, "--n", str(job.n), "--dir", args.dir,
           "--qdrant", job.form, "--batch-size", str(args.batch_size), "--workers", str(job.workers),
           "--metadata", args.metadata, "--big-read-batch", str(args.big_read_batch)]
    # stderr is kept (pymilvus logs a warning per iterator) and shown only when the variant fails.
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        msg = f"variant {job.variant} n={job.n} qdrant={job.form} failed with exit code {proc.returncode}"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def plan_jobs(sizes: Sequence[int], folder_max_n: int, workers: int, sweep: Sequence[int]) -> dict[int, list[Job]]:
    """The jobs of each size.

    The Qdrant folder form (the persistent one) runs up to ``folder_max_n`` records, ``:memory:`` at every size.
    The folder form commits (fsyncs) every point to SQLite, so it runs at disk-sync speed, and the extra tool
    worker counts of ``sweep`` run against ``:memory:`` only, where they can make a difference at all.
    """
    jobs: dict[int, list[Job]] = {}
    for n in sizes:
        forms: list[QdrantForm] = ["folder", "memory"] if n <= folder_max_n else ["memory"]
        size_jobs = [Job("raw_read", n, "memory", workers), Job("raw_read_big", n, "memory", workers)]
        for form in forms:
            size_jobs += [Job("raw_write", n, form, workers), Job("sdk_loop", n, form, workers),
                          Job("tool", n, form, workers)]
            if form == "memory":
                size_jobs += [Job("tool", n, form, w) for w in sweep if w != workers]
        jobs[n] = size_jobs
    return jobs


def run_all(args: argparse.Namespace) -> None:
    """Seed, measure every variant (``--repeat`` rounds, rotated order), write RESULTS.md and print it."""
    root = Path(args.dir).resolve()
    args.dir = str(root)
    sizes = [int(s) for s in args.sizes.split(",")]
    sweep = [int(w) for w in args.workers_sweep.split(",")] if args.workers_sweep else []
    seeds = []
    for n in sizes:
        print(f"seeding {n} records (reused when already there)...", flush=True)
        seeds.append(prepare(n, root, args.metadata, args.batch_size))
    jobs = plan_jobs(sizes, args.folder_max_n, args.workers, sweep)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    results: list[dict[str, Any]] = []
    for rnd in range(args.repeat):
        for n in sizes:
            size_jobs = jobs[n]
            k = rnd % len(size_jobs)
            for job in size_jobs[k:] + size_jobs[:k]:
                result = run_job(job, args) | {"round": rnd + 1}
                results.append(result)
                print(json.dumps(result), flush=True)
    report = render(results, sizes, seeds, args, started, time.perf_counter() - clock)
    Path(args.out).write_text(report)
    print(report)


# --- the report ------------------------------------------------------------------------------------------------


def _pick(results: list[dict[str, Any]], variant: str, n: int, form: str | None = None,
          workers: int | None = None) -> list[dict[str, Any]]:
    return [r for r in results if r["variant"] == variant and r["n"] == n
            and (form is None or r["qdrant"] == form) and (workers is None or r["workers"] == workers)]


def _median(rows: list[dict[str, Any]], field: str) -> float | None:
    values = [r[field] for r in rows if r.get(field) is not None]
    return statistics.median(values) if values else None


def _versions() -> str:
    names = ("vectormigrate", "pymilvus", "milvus-lite", "qdrant-client", "numpy", "grpcio", "protobuf", "pydantic")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _machine() -> str:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:
        pass
    return f"{os.cpu_count()} cores{mem}, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def _fmt(x: float | None, spec: str = ",.0f") -> str:
    return "-" if x is None else format(x, spec)


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}"


FORM_LABEL = {"folder": "folder (`QdrantClient(path=...)`, persistent)", "memory": "`:memory:`"}


def render(results: list[dict[str, Any]], sizes: Sequence[int], seeds: list[dict[str, Any]],
           args: argparse.Namespace, started: datetime, elapsed: float) -> str:
    """RESULTS.md: a table per size and Qdrant form, the ratios, the settings and every raw measurement."""
    out = [
        "# Milvus (milvus-lite) -> Qdrant (local mode): throughput and peak memory",
        "",
        f"Generated by `python bench/milvus_to_qdrant.py run --sizes {args.sizes} --repeat {args.repeat} "
        f"--folder-max-n {args.folder_max_n}"
        + (f" --workers-sweep {args.workers_sweep}" if args.workers_sweep else "")
        + f"` on {started.strftime('%Y-%m-%d %H:%M UTC')} ({elapsed / 60:.0f} min). Every number comes from this "
        "one invocation: the variants ran one after another, each in its own process"
        + (", in a rotated order per round; medians of the rounds are shown." if args.repeat > 1 else "."),
        "",
        f"- Machine: {_machine()}.",
        f"- Versions: {_versions()}.",
        f"- Data: `vectormigrate.datagen`, {DIM}-d float32 vectors, `{args.metadata}` metadata, string ids "
        f"(`doc-000123`), so Qdrant gets UUIDv5 ids with the original id in the payload (`{ID_FIELD}`). Batch "
        f"size {args.batch_size} everywhere; the tool runs with {args.workers} writers (its default).",
        "- records/s is over each variant's whole job: opening the databases, loading the Milvus collection, "
        "creating the target collection, reading, writing, closing. Peak RSS is the process's `ru_maxrss`, "
        "imports, the in-process milvus-lite server and the Qdrant local store (which keeps every point in "
        "memory, in both forms) included; base RSS is the RSS just before the clock started. load is the "
        "machine's 1-minute load average when the variant ended (2 cores: above 2, other work competed).",
        "",
        "Variants: `raw_read` = pymilvus `query_iterator` over everything, touching every vector and field, "
        f"batch {args.batch_size}; `raw_read_big` = the same with batch {args.big_read_batch}; `raw_write` = "
        "qdrant-client `upsert` of pre-generated batches (`models.Batch` with the float32 matrix; generation not "
        "timed); `sdk_loop` = `query_iterator` into one list, then `upsert` of `PointStruct`s in batches; `tool` = "
        "`vectormigrate.service.migrate` in process. Ceilings: **min** = min(faster raw read, raw write), what a "
        "pipeline that fully overlaps reading and writing could reach; **serial** = 1 / (1/read + 1/write), what "
        "a process that cannot overlap them reaches (see the note below).",
        "",
    ]
    for n in sizes:
        read_rates = [x for x in (_median(_pick(results, v, n), "records_per_s") for v in ("raw_read", "raw_read_big"))
                      if x is not None]
        best_read = max(read_rates) if read_rates else None
        forms = [f for f in ("folder", "memory") if _pick(results, "raw_write", n, f) or _pick(results, "tool", n, f)]
        for form in forms:
            write = _median(_pick(results, "raw_write", n, form), "records_per_s")
            ceiling = min(best_read, write) if best_read and write else None
            serial = 1 / (1 / best_read + 1 / write) if best_read and write else None
            sdk = _median(_pick(results, "sdk_loop", n, form), "records_per_s")
            sdk_rss = _median(_pick(results, "sdk_loop", n, form), "peak_rss_mb")
            tool_workers = sorted({r["workers"] for r in _pick(results, "tool", n, form)})
            out += [f"## {n:,} records, Qdrant {FORM_LABEL[form]}", "",
                    "| variant | records/s | seconds | peak RSS (MB) | base RSS (MB) | load |",
                    "|---|---:|---:|---:|---:|---:|"]
            rows = [("raw_read", None, None), ("raw_read_big", None, None), ("raw_write", form, None),
                    ("sdk_loop", form, None), *[("tool", form, w) for w in tool_workers]]
            for variant, f, w in rows:
                picked = _pick(results, variant, n, f, w)
                if not picked:
                    continue
                label = f"**tool** (workers={w})" if variant == "tool" else variant
                out.append(f"| {label} | {_fmt(_median(picked, 'records_per_s'))} | "
                           f"{_fmt(_median(picked, 'seconds'), '.1f')} | {_fmt(_median(picked, 'peak_rss_mb'))} | "
                           f"{_fmt(_median(picked, 'base_rss_mb'))} | {_fmt(_median(picked, 'load_1min'), '.1f')} |")
            out += ["", f"Ceilings: min = {_fmt(ceiling)} records/s, serial = {_fmt(serial)} records/s.", "",
                    "| tool workers | tool / sdk_loop | tool / min(raw_read, raw_write) | tool / serial | "
                    "peak RSS tool | peak RSS sdk_loop |", "|---:|---:|---:|---:|---:|---:|"]
            for w in tool_workers:
                picked = _pick(results, "tool", n, form, w)
                rate = _median(picked, "records_per_s")
                out.append(f"| {w} | **{_ratio(rate, sdk)}** | **{_ratio(rate, ceiling)}** | {_ratio(rate, serial)} | "
                           f"{_fmt(_median(picked, 'peak_rss_mb'))} MB | {_fmt(sdk_rss)} MB |")
            out.append("")
    out += _notes(results, sizes, args)
    out += ["## Seeds", ""]
    out += [f"- {s['n']:,} records: `{s['path']}`, seeded through pymilvus in {s['seconds']} s on {s['created']}"
            for s in seeds]
    out += ["", "## Every measurement (JSON lines, in the order they ran)", "", "```"]
    out += [json.dumps(r) for r in results]
    out += ["```", ""]
    # What `report` needs to render this file again (e.g. after the notes change) without re-measuring.
    meta = {"args": {k: getattr(args, k) for k in _RUN_ARGS}, "sizes": list(sizes), "seeds": seeds,
            "started": started.isoformat(), "elapsed": round(elapsed, 1)}
    out += [f"<!-- {_META_TAG} {json.dumps(meta)} -->", ""]
    return "\n".join(out)


_META_TAG = "vm-bench-run"
_RUN_ARGS = ("sizes", "repeat", "folder_max_n", "workers_sweep", "workers", "batch_size", "big_read_batch", "metadata")


def rerender(path: Path) -> str:
    """RESULTS.md rendered again from the measurements and run settings recorded in it."""
    text = path.read_text()
    results = [json.loads(line) for line in text.split("```")[1].splitlines() if line.startswith("{")]
    tag = f"<!-- {_META_TAG} "
    meta = json.loads(text[text.index(tag) + len(tag):].split(" -->")[0])
    args = argparse.Namespace(**meta["args"])
    return render(results, meta["sizes"], meta["seeds"], args, datetime.fromisoformat(meta["started"]),
                  meta["elapsed"])


def _notes(results: list[dict[str, Any]], sizes: Sequence[int], args: argparse.Namespace) -> list[str]:
    """Why the table looks the way it does (numbers filled in from this run)."""
    out = ["## Notes", ""]
    folder_sizes = [n for n in sizes if _pick(results, "raw_write", n, "folder")]
    memory_only = [n for n in sizes if n not in folder_sizes]
    if folder_sizes and memory_only:
        n0 = max(folder_sizes)
        rate = _median(_pick(results, "raw_write", n0, "folder"), "records_per_s")
        estimates = ", ".join(f"{n:,} records would take about {n / rate / 60:.1f} min per writing variant"
                              for n in memory_only) if rate else ""
        out.append(
            f"- **Qdrant form.** The folder form (the persistent one) was measured at {_list(folder_sizes)} records; "
            f"{_list(memory_only)} records use `:memory:` (tool and SDK loop always use the same form in a "
            f"comparison). qdrant-client's local folder mode pickles every point into SQLite and commits each one "
            f"separately, so it writes at disk-sync speed: {_fmt(rate)} records/s here at {n0:,} records, so "
            f"{estimates}.")
    loads = [r["load_1min"] for r in results if r.get("load_1min") is not None]
    if loads:
        out.append(f"- **Machine load.** The 1-minute load average ranged from {min(loads):.1f} to {max(loads):.1f} on "
                   f"{os.cpu_count()} cores during this run"
                   + (" (other work shared the machine): absolute rates are lower and noisier than on an idle "
                      "machine; the ratios compare variants that ran minutes apart." if max(loads) > (os.cpu_count() or 1)
                      else "."))
    small = {n: _median(_pick(results, "raw_read", n), "records_per_s") for n in sizes}
    big = {n: _median(_pick(results, "raw_read_big", n), "records_per_s") for n in sizes}
    if len(sizes) > 1 and all(small.values()) and all(big.values()):
        out.append(
            f"- **Read page size matters more as the collection grows.** `query_iterator` with batch {args.batch_size} "
            f"read {', '.join(f'{_fmt(small[n])}/s at {n:,}' for n in sizes)}; with batch {args.big_read_batch}: "
            f"{', '.join(f'{_fmt(big[n])}/s at {n:,}' for n in sizes)}. Each milvus-lite query page costs time in "
            "proportion to the whole collection (a profile shows it building a mask over every row per query), so "
            "small pages make the scan grow faster than linearly. The SDK loop pays this in full; the tool's "
            "connector reads about 4,700 rows per query, which is most of its lead over the loop at the larger size.")
    for n in sizes:
        for form in ("folder", "memory"):
            sdk = _median(_pick(results, "sdk_loop", n, form), "records_per_s")
            tool = _median(_pick(results, "tool", n, form, args.workers), "records_per_s")
            if sdk and tool and tool < sdk and form == "folder":
                out.append(
                    f"- **The tool was slower than the SDK loop** at {n:,} records into the Qdrant {form} form "
                    f"({tool / sdk:.2f}x). Probable cause, not proven: the folder form fsyncs one SQLite commit per "
                    "point with the interpreter lock released, and each time the writer wakes up it must win the "
                    "lock back from the CPU-bound milvus-lite reader, which can take up to the 5 ms switch interval "
                    "(the classic I/O-thread convoy). The SDK loop reads everything first and then writes with "
                    "nothing else busy. In a separate trial (3,000 records, loaded machine), lowering "
                    "`sys.setswitchinterval` to 0.2 ms sped the tool up by 25-90% but the SDK loop too, so this is "
                    "suggestive only. A real Qdrant server has no per-point commit.")
            elif sdk and tool and tool < sdk:
                out.append(f"- **The tool was slower than the SDK loop** at {n:,} records into the Qdrant {form} form "
                           f"({tool / sdk:.2f}x); see the measurements below for how stable that is.")
    out += [
        "- **Why the tool cannot reach the min ceiling here.** Both engines are pure Python running inside the "
        "migrating process: milvus-lite 3 serves pymilvus over gRPC from threads of the same process, and "
        "qdrant-client's local mode validates and stores every point in Python. The tool's reader and writers "
        "overlap, but they share one interpreter lock with both engines, so reading and writing mostly take "
        "turns instead of running in parallel: the serial bound is the honest ceiling for this pair of embedded "
        "engines. Local mode also serialises its calls (it is not thread-safe), so more writer threads cannot "
        "help. Against servers (a Milvus and a Qdrant in their own processes) the overlap is real.",
        "- **Memory.** Both peaks include the engines (milvus-lite's segments and caches; every Qdrant point, "
        "which local mode keeps in memory in both forms). The SDK loop also holds every row as Python lists "
        "(about 25 KB per 768-d vector as floats); the tool holds at most its bounded queue of batches.",
        f"- Reads: the tool's Milvus connector reads in pages of about 16 MB (about 4,700 rows at {DIM} dims) and "
        f"cuts them into batches of {args.batch_size}; `query_iterator` in the SDK loop uses batches of "
        f"{args.batch_size}, as a user passing the same batch size would.",
        "",
    ]
    return out


def _list(sizes: Sequence[int]) -> str:
    return " and ".join(f"{n:,}" for n in sizes)


# --- command line ----------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """``prepare``, ``variant`` (one measurement, JSON line on stdout) or ``run`` (everything)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "vm-bench"),
                       help="where seeds and scratch copies live")
        p.add_argument("--metadata", choices=("simple", "rich"), default="simple")
        p.add_argument("--batch-size", type=int, default=1000)
        p.add_argument("--big-read-batch", type=int, default=10_000, help="query_iterator batch of raw_read_big")

    p_prepare = sub.add_parser("prepare", help="seed a milvus-lite database with N records")
    p_prepare.add_argument("--n", type=int, required=True)
    common(p_prepare)

    p_variant = sub.add_parser("variant", help="measure one variant in this process; prints one JSON line")
    p_variant.add_argument("--variant", choices=VARIANTS, required=True)
    p_variant.add_argument("--n", type=int, required=True)
    p_variant.add_argument("--qdrant", choices=("folder", "memory"), default="memory")
    p_variant.add_argument("--workers", type=int, default=2)
    common(p_variant)

    p_run = sub.add_parser("run", help="seed, measure everything, write bench/RESULTS.md")
    p_run.add_argument("--sizes", default="20000,100000", help="comma-separated collection sizes")
    p_run.add_argument("--folder-max-n", type=int, default=20000,
                       help="also measure the Qdrant folder form up to this size (it fsyncs every point)")
    p_run.add_argument("--workers", type=int, default=2, help="the tool's writer threads (its default is 2)")
    p_run.add_argument("--workers-sweep", default="", help="extra tool runs (:memory: only) with these workers, e.g. 1,4")
    p_run.add_argument("--repeat", type=int, default=1, help="rounds; the report shows medians")
    p_run.add_argument("--out", default=str(RESULTS))
    common(p_run)

    p_report = sub.add_parser("report", help="render RESULTS.md again from the measurements recorded in it")
    p_report.add_argument("--file", default=str(RESULTS))

    args = parser.parse_args(argv)
    if args.command == "prepare":
        print(json.dumps(prepare(args.n, Path(args.dir).resolve(), args.metadata, args.batch_size)))
    elif args.command == "report":
        report = rerender(Path(args.file))
        Path(args.file).write_text(report)
        print(report)
    elif args.command == "variant":
        print(json.dumps(measure(args.variant, args.n, Path(args.dir).resolve(), args.qdrant, args.batch_size,
                                 args.workers, args.metadata, args.big_read_batch)), flush=True)
    else:
        run_all(args)


if __name__ == "__main__":
    main()
