"""The fault-injecting wrapper: delegation, each kind of fault, thread safety, and a real hard crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator, Sequence

import pytest

from vectormigrate import datagen
from vectormigrate.connectors.base import ConnectionConfig, Connector, Searchable
from vectormigrate.connectors.memory import MemoryConnector, reset_memory_store
from vectormigrate.errors import RecordError, TerminalError, TransientError
from vectormigrate.model import Batch, CollectionSchema, Cursor, RecordId, VectorRecord
from vectormigrate.testing.conformance import ConnectorConformance
from vectormigrate.testing.faulty import FaultyConnector, SimulatedCrash, raise_crash


@pytest.fixture
def memory() -> Iterator[MemoryConnector]:
    url = f"faulty-{uuid.uuid4().hex}"
    with MemoryConnector(ConnectionConfig(url=url)) as conn:
        conn.prepare(datagen.make_schema("c", dim=8))
        yield conn
    reset_memory_store(url)


def _batches(n: int, size: int = 10) -> list[Batch]:
    return list(datagen.iter_batches(n, batch_size=size, dim=8, metadata="simple"))


def _write_with_retry(conn: Connector, batch: Batch, tries: int = 5) -> int:
    for attempt in range(1, tries + 1):
        try:
            conn.write_batch("c", batch)
        except TransientError:
            continue
        return attempt
    raise AssertionError("never succeeded")


class TestFaultyPassthroughConformance(ConnectorConformance):
    """With no faults configured, the wrapper is a conforming connector: it delegates everything."""

    @pytest.fixture
    def connector(self) -> Iterator[FaultyConnector]:
        url = f"faulty-conf-{uuid.uuid4().hex}"
        with FaultyConnector(MemoryConnector(ConnectionConfig(url=url))) as conn:
            yield conn
        reset_memory_store(url)

    @pytest.fixture
    def collection_name(self) -> str:
        return "conformance"

    def reopen(self, connector: Connector) -> Connector:
        return FaultyConnector(MemoryConnector(connector.config))


class _PlainConnector(Connector):
    """A connector without search (all methods unused here)."""

    name = "plain"
    capabilities = MemoryConnector.capabilities

    def exists(self, collection: str) -> bool:
        raise NotImplementedError

    def describe(self, collection: str) -> CollectionSchema:
        raise NotImplementedError

    def count(self, collection: str, namespace: str | None = None) -> int:
        raise NotImplementedError

    def fetch(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> list[VectorRecord]:
        raise NotImplementedError

    def read_batches(self, collection: str, *, batch_size: int, after: Cursor | None = None) -> Iterator[Batch]:
        raise NotImplementedError

    def create_collection(self, schema: CollectionSchema) -> None:
        raise NotImplementedError

    def drop_collection(self, collection: str) -> None:
        raise NotImplementedError

    def write_batch(self, collection: str, batch: Batch) -> None:
        raise NotImplementedError

    def delete(self, collection: str, ids: Sequence[RecordId], namespace: str | None = None) -> None:
        raise NotImplementedError


def test_identity_comes_from_the_wrapped_connector(memory: MemoryConnector) -> None:
    wrapped = FaultyConnector(memory)
    assert wrapped.name == "memory" and wrapped.capabilities is memory.capabilities
    assert wrapped.config is memory.config and isinstance(wrapped, Connector)
    assert isinstance(wrapped, Searchable), "a searchable connector stays searchable"
    assert not isinstance(FaultyConnector(_PlainConnector(ConnectionConfig())), Searchable)
    assert "FaultyConnector" in repr(wrapped)


def test_transient_every_nth_batch_first_k_attempts(memory: MemoryConnector) -> None:
    conn = FaultyConnector(memory, transient_every=3, transient_times=2)
    attempts = [_write_with_retry(conn, b) for b in _batches(60)]
    assert attempts == [1, 1, 3, 1, 1, 3]
    stats = conn.stats()
    assert (stats.transient_raised, stats.writes_ok, stats.write_calls, stats.batches_seen) == (4, 6, 10, 6)
    assert conn.attempts(3) == 3 and conn.attempts(1) == 1
    assert memory.count("c") == 60


def test_transient_error_is_retryable_and_names_the_batch(memory: MemoryConnector) -> None:
    conn = FaultyConnector(memory, transient_batches={2})
    b1, b2 = _batches(20)
    conn.write_batch("c", b1)
    with pytest.raises(TransientError, match="batch 2") as info:
        conn.write_batch("c", b2)
    assert info.value.hint and "FaultyConnector" in info.value.hint
    assert memory.count("c") == 10, "a transient failure writes nothing"
    conn.write_batch("c", b2)
    assert memory.count("c") == 20


def test_terminal_at_write_fails_every_attempt(memory: MemoryConnector) -> None:
    conn = FaultyConnector(memory, terminal_at_write=2)
    b1, b2, b3 = _batches(30)
    conn.write_batch("c", b1)
    for _ in range(3):
        with pytest.raises(TerminalError) as info:
            conn.write_batch("c", b2)
        assert not isinstance(info.value, TransientError)
    conn.write_batch("c", b3)
    assert memory.count("c") == 20 and conn.stats().terminal_raised == 3


def test_rejected_record_raises_record_error_and_writes_nothing_of_the_batch(memory: MemoryConnector) -> None:
    (batch,) = _batches(10)
    bad = batch.ids[4]
    conn = FaultyConnector(memory, reject_ids={bad})
    with pytest.raises(RecordError) as info:
        conn.write_batch("c", batch)
    assert info.value.fields["record_id"] == bad
    assert memory.count("c") == 0
    conn.write_batch("c", batch.take([i for i in range(10) if i != 4]))   # what a dead-lettering runner does
    assert memory.count("c") == 9 and conn.stats().record_errors_raised == 1


def test_crash_after_writes_lands_the_write_then_dies(memory: MemoryConnector) -> None:
    conn = FaultyConnector(memory, crash_after_writes=3)
    batches = _batches(50)
    for b in batches[:2]:
        conn.write_batch("c", b)
    with pytest.raises(SimulatedCrash):
        conn.write_batch("c", batches[2])
    assert memory.count("c") == 30, "the third write is durable: the crash came after it"
    for call in (lambda: conn.write_batch("c", batches[3]), lambda: conn.count("c"),
                 lambda: list(conn.read_batches("c", batch_size=5))):
        with pytest.raises(SimulatedCrash):
            call()
    assert memory.count("c") == 30 and conn.stats().crashed
    conn.close()  # still allowed


def test_crash_before_write_writes_nothing_of_the_next_batch(memory: MemoryConnector) -> None:
    conn = FaultyConnector(memory, crash_after_writes=3, crash_point="before_write")
    batches = _batches(50)
    for b in batches[:3]:
        conn.write_batch("c", b)
    with pytest.raises(SimulatedCrash):
        conn.write_batch("c", batches[3])
    assert memory.count("c") == 30 and conn.stats().writes_ok == 3


def test_simulated_crash_escapes_except_exception(memory: MemoryConnector) -> None:
    conn = FaultyConnector(memory, crash_after_writes=1)
    (batch,) = _batches(10)
    with pytest.raises(SimulatedCrash):
        try:
            conn.write_batch("c", batch)
        except Exception:  # a runner's broad handler must not swallow the "death"
            pytest.fail("SimulatedCrash was caught by `except Exception`")


def test_a_crash_callable_that_returns_still_crashes(memory: MemoryConnector) -> None:
    calls: list[int] = []
    conn = FaultyConnector(memory, crash_after_writes=1, crash=lambda: calls.append(1))
    with pytest.raises(SimulatedCrash):
        conn.write_batch("c", _batches(10)[0])
    assert calls == [1]
    with pytest.raises(SimulatedCrash):
        raise_crash()


def test_hard_exit_kills_the_process_like_kill_9() -> None:
    script = textwrap.dedent("""
        from vectormigrate import datagen
        from vectormigrate.connectors.base import ConnectionConfig
        from vectormigrate.connectors.memory import MemoryConnector
        from vectormigrate.testing.faulty import FaultyConnector, hard_exit
        inner = MemoryConnector(ConnectionConfig(url="x"))
        inner.prepare(datagen.make_schema("c", dim=4))
        conn = FaultyConnector(inner, crash_after_writes=2, crash=hard_exit)
        try:
            for i, b in enumerate(datagen.iter_batches(50, batch_size=10, dim=4)):
                print("writing", i, flush=True)
                conn.write_batch("c", b)
        finally:
            print("finally ran", flush=True)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 137, proc.stderr
    assert proc.stdout.split("\n")[:-1] == ["writing 0", "writing 1"], "no finally, no further writes"


def test_read_transient_then_resume_from_the_last_cursor(memory: MemoryConnector) -> None:
    for b in _batches(50):
        memory.write_batch("c", b)
    conn = FaultyConnector(memory, read_transient_at={3})
    got: list[RecordId] = []
    cursor = None
    with pytest.raises(TransientError, match="reading batch 3"):
        for b in conn.read_batches("c", batch_size=10):
            got.extend(b.ids)
            cursor = b.cursor
    assert len(got) == 20
    got.extend(i for b in conn.read_batches("c", batch_size=10, after=cursor) for i in b.ids)
    assert sorted(map(str, got)) == sorted(datagen.make_id(i) for i in range(50))
    assert conn.stats().read_transient_raised == 1


def test_writes_per_id_counts_rewrites(memory: MemoryConnector) -> None:
    conn = FaultyConnector(memory)
    b1, b2 = _batches(20)
    conn.write_batch("c", b1)
    conn.write_batch("c", b2)
    conn.write_batch("c", b2)
    per_id = conn.writes_per_id()
    assert per_id[b1.ids[0]] == 1 and per_id[b2.ids[0]] == 2
    assert conn.stats().records_written == 30 and conn.stats().batches_seen == 2


def test_counters_are_exact_under_concurrent_writers(memory: MemoryConnector) -> None:
    conn = FaultyConnector(memory, transient_every=5, transient_times=1, write_latency=0.0005)
    batches = _batches(2000, size=10)
    errors: list[BaseException] = []

    def worker(part: list[Batch]) -> None:
        try:
            for b in part:
                _write_with_retry(conn, b)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(batches[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = conn.stats()
    assert (stats.batches_seen, stats.writes_ok, stats.transient_raised) == (200, 200, 40)
    assert stats.write_calls == 240 and memory.count("c") == 2000


def test_crash_under_concurrent_writers_leaves_counted_writes_only(memory: MemoryConnector) -> None:
    conn = FaultyConnector(memory, crash_after_writes=20, write_latency=0.0005)
    batches = _batches(2000, size=10)
    crashes: list[BaseException] = []

    def worker(part: list[Batch]) -> None:
        for b in part:
            try:
                conn.write_batch("c", b)
            except SimulatedCrash as exc:
                crashes.append(exc)
                return

    threads = [threading.Thread(target=worker, args=(batches[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = conn.stats()
    # 20 < 25 batches per thread: no thread can finish its share before the crash.
    assert stats.crashed and len(crashes) == 8, "every writer thread dies"
    assert 20 <= stats.writes_ok <= 27, "in-flight writes may land, nothing starts after the crash"
    assert memory.count("c") == stats.records_written == 10 * stats.writes_ok
