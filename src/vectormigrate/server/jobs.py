"""Background migration jobs: threads of the server process that outlive the request that started them.

A tool call starts a job and returns its migration id at once; the job runs ``service.migrate`` (or
``service.resume``) in its own thread with a ``threading.Event`` to stop it gracefully (in-flight batches
finish and are checkpointed, the status becomes ``stopped``). Everything durable is in the state database,
which is what ``migration_status`` reads, so a job is only needed to stop a run or to see its live progress.

Credentials given to a job live only in the job's :class:`~vectormigrate.service.MigrationSpec` (used to open
the connectors) and are dropped with it; the state database gets the redacted spec.

On startup, :meth:`JobManager.reconcile` finds migrations left ``in_progress`` by a process that died (nobody
holds their lock) and marks them ``interrupted``, or resumes them when asked to (keys from the environment,
since they were never stored).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from vectormigrate.errors import MigrationLocked, StateError, VectorMigrateError
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.runner import Progress
from vectormigrate.server.metrics import ServerMetrics
from vectormigrate.service import MigrationOutcome, MigrationSpec, migrate, resume
from vectormigrate.state.lock import MigrationLock
from vectormigrate.state.store import Counters, StateStore

__all__ = ["Job", "JobManager"]

log = logging.getLogger(__name__)

_KEEP_FINISHED = 200


@dataclass(eq=False)
class Job:
    """One run (a start or a resume) of a migration in this process."""

    migration_id: str
    kind: str
    source_type: str
    target_type: str
    stop: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    """Set once the run is under way (plan made, target prepared) or has ended."""
    done: threading.Event = field(default_factory=threading.Event)
    latest: Progress | None = None
    plan: MigrationPlan | None = None
    outcome: MigrationOutcome | None = None
    error: VectorMigrateError | None = None
    began: float = field(default_factory=time.monotonic)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the thread is still working."""
        return not self.done.is_set()


class JobManager:
    """Starts, tracks and stops migration threads.

    Args:
        store: the state database.
        metrics: counters to feed (records, batches, durations...), or None.
        max_jobs: how many runs may go on at once in this process.
    """

    def __init__(self, store: StateStore, metrics: ServerMetrics | None = None, max_jobs: int = 4) -> None:
        self.store = store
        self.metrics = metrics
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.RLock()  # re-entrant: a SIGTERM handler may call shutdown() on the main thread
        self._closed = False

    # -- queries ------------------------------------------------------------------------------------------------
    def get(self, migration_id: str) -> Job | None:
        """The newest job of a migration in this process, if any."""
        with self._lock:
            return self._jobs.get(migration_id)

    def running(self) -> list[Job]:
        """Jobs whose thread is still working."""
        with self._lock:
            return [j for j in self._jobs.values() if j.running]

    def is_running(self, migration_id: str) -> bool:
        """Whether a job of this migration is working in this process."""
        job = self.get(migration_id)
        return job is not None and job.running

    # -- commands -----------------------------------------------------------------------------------------------
    def start(self, spec: MigrationSpec) -> Job:
        """Run a new migration in a background thread."""
        spec.validate()
        job = Job(spec.migration_id, "migrate", spec.source.type, spec.target.type)

        def work() -> MigrationOutcome:
            def started(plan: MigrationPlan) -> None:
                job.plan = plan
                job.started.set()

            return migrate(spec, self.store, on_progress=self._progress_hook(job, Counters()), stop=job.stop,
                           on_started=started)

        self._launch(job, work)
        return job

    def resume(self, migration_id: str, source_api_key: str | None = None, target_api_key: str | None = None) -> Job:
        """Continue a migration from its checkpoint in a background thread (keys: arguments, else environment)."""
        row = self.store.get(migration_id)
        job = Job(migration_id, "resume", row.source_type, row.target_type)
        baseline = row.counters

        def work() -> MigrationOutcome:
            return resume(migration_id, self.store, source_api_key=source_api_key, target_api_key=target_api_key,
                          on_progress=self._progress_hook(job, baseline), stop=job.stop)

        self._launch(job, work)
        return job

    def stop(self, migration_id: str) -> Job | None:
        """Ask this process's run of the migration to stop (None when it runs nowhere here)."""
        job = self.get(migration_id)
        if job is None or not job.running:
            return None
        job.stop.set()
        return job

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every run gracefully and wait for them (their checkpoints stay resumable)."""
        with self._lock:
            self._closed = True
            jobs = [j for j in self._jobs.values() if j.running]
        for job in jobs:
            job.stop.set()
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))

    def reconcile(self, resume_interrupted: bool = False) -> dict[str, str]:
        """Deal with migrations a dead process left ``in_progress``: mark them interrupted, or resume them.

        Returns ``{migration_id: "interrupted" | "resumed" | "resume failed: ..."}``.
        """
        ids: list[str] = []
        offset = 0
        while True:
            rows, total = self.store.list(status="in_progress", limit=500, offset=offset, sort_by="created_at",
                                          sort_order="asc")
            ids.extend(r.migration_id for r in rows)
            offset += len(rows)
            if not rows or offset >= total:
                break
        done: dict[str, str] = {}
        for mid in ids:
            lock = MigrationLock(self.store.path, mid, purpose="server startup check")
            try:
                lock.acquire()
            except MigrationLocked:
                continue  # a live process is running it
            try:
                if self.store.get(mid).status != "in_progress":
                    continue
                self.store.set_status(mid, "interrupted")
            finally:
                lock.release()
            done[mid] = "interrupted"
            log.warning("migration %s was left in progress by a process that is gone: marked interrupted", mid)
            if resume_interrupted:
                try:
                    self.resume(mid)
                except VectorMigrateError as exc:
                    done[mid] = f"resume failed: {exc.message}"
                    log.warning("cannot resume migration %s: %s", mid, exc.message)
                else:
                    done[mid] = "resumed"
        return done

    # -- internals ----------------------------------------------------------------------------------------------
    def _launch(self, job: Job, work: Callable[[], MigrationOutcome]) -> None:
        with self._lock:
            if self._closed:
                msg = "the server is shutting down"
                raise StateError(msg, hint="start the migration again once the server is back")
            current = self._jobs.get(job.migration_id)
            if current is not None and current.running:
                msg = f"migration {job.migration_id!r} is already running in this server"
                raise MigrationLocked(msg, hint="follow it with migration_status, or stop it with stop_migration",
                                      migration_id=job.migration_id)
            active = sum(1 for j in self._jobs.values() if j.running)
            if active >= self.max_jobs:
                msg = f"{active} migrations are already running in this server (the limit is {self.max_jobs})"
                raise StateError(msg, hint="wait for one to finish, or restart the server with a larger --max-jobs")
            self._jobs.pop(job.migration_id, None)
            self._jobs[job.migration_id] = job
            self._trim()
            job.thread = threading.Thread(target=self._run, args=(job, work), name=f"vm-job-{job.migration_id}",
                                          daemon=True)
        if self.metrics is not None:
            self.metrics.migrations_running.add(1)
        job.thread.start()

    def _trim(self) -> None:
        finished = [mid for mid, j in self._jobs.items() if not j.running]
        for mid in finished[: max(0, len(finished) - _KEEP_FINISHED)]:
            del self._jobs[mid]

    def _progress_hook(self, job: Job, baseline: Counters) -> Callable[[Progress], None]:
        last = baseline.as_dict()

        def hook(progress: Progress) -> None:
            job.latest = progress
            now = progress.counters.as_dict()
            if self.metrics is not None:
                self.metrics.add_counters(job.source_type, job.target_type,
                                          {k: now[k] - last.get(k, 0) for k in now})
            last.update(now)

        return hook

    def _run(self, job: Job, work: Callable[[], MigrationOutcome]) -> None:
        status = "failed"
        try:
            outcome = work()
            job.outcome = outcome
            job.error = outcome.result.error
            status = outcome.result.status
        except VectorMigrateError as exc:
            job.error = exc
            status = "failed" if job.started.is_set() else "refused"
        except Exception as exc:  # a bug: keep the server alive and say so in the job
            log.exception("migration %s crashed", job.migration_id)
            job.error = VectorMigrateError(f"unexpected error: {type(exc).__name__}: {exc}",
                                           hint="this is a bug; please report it with the server log")
        finally:
            job.started.set()
            job.done.set()
            self.store.close()  # this thread's SQLite connection
            if self.metrics is not None:
                self.metrics.migrations_running.add(-1)
                self.metrics.migrations.inc(status)
                if status != "refused":
                    self.metrics.migration_duration.observe(time.monotonic() - job.began, status)
