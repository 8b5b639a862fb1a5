"""The journal, on SQLite and on a real PostgreSQL: gapless sequence numbers in commit order, also with several
writer processes and a reader that advances a checkpoint while they write (what `sync` relies on)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from vectormigrate.errors import StateError
from vectormigrate.zerodowntime.journal import PostgresJournal, SQLiteJournal, open_journal, redact_location

HERE = Path(__file__).parent


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "journal.db")
    return str(request.getfixturevalue("pg_url"))


def test_append_read_lag_prune(location: str) -> None:
    mid = f"m-{uuid.uuid4().hex[:8]}"
    with open_journal(location) as j:
        assert isinstance(j, PostgresJournal if location.startswith("postgresql") else SQLiteJournal)
        assert j.head(mid) == 0 and j.read(mid, after=0, limit=10) == []
        assert j.append(mid, [5, "5", "a"], namespace=None) == (1, 3)
        assert j.append(mid, ["a"], namespace="", op="delete") == (4, 4)
        assert j.append(mid, []) == (0, 0)
        assert j.append("other", ["x"]) == (1, 1)  # sequence numbers are per migration
        entries = j.read(mid, after=0, limit=10)
        assert [(e.seq, e.record_id, e.namespace, e.op) for e in entries] == [
            (1, 5, None, "upsert"), (2, "5", None, "upsert"), (3, "a", None, "upsert"), (4, "a", "", "delete")]
        assert [e.seq for e in j.read(mid, after=1, limit=2)] == [2, 3]
        assert [e.seq for e in j.read(mid, after=0, limit=10, upto=2)] == [1, 2]
        lag = j.lag(mid, 1)
        assert (lag.entries, lag.ids, lag.head) == (3, 3, 4)  # ("a", None) and ("a", "") are different keys
        assert j.prune(mid, 2) == 2
        assert [e.seq for e in j.read(mid, after=0, limit=10)] == [3, 4]
        assert j.lag(mid, 4).entries == 0 and j.head(mid) == 4
        first_id = j.journal_id
    with open_journal(location) as again:
        assert again.journal_id == first_id  # made once, when the journal was created
        assert again.append(mid, ["b"]) == (5, 5)


def test_many_writer_processes_and_a_reader_never_lose_or_reorder_an_entry(location: str) -> None:
    """Three processes append while this one reads after its own checkpoint, as `sync` does: every entry is
    seen exactly once, and sequence numbers are 1..head with no gap."""
    mid = f"m-{uuid.uuid4().hex[:8]}"
    n = 300
    procs = [subprocess.Popen([sys.executable, str(HERE / "journal_writer.py"), location, mid, tag, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("p1", "p2", "p3")]
    seen: list[int] = []
    ids: list[str] = []
    with open_journal(location) as j:
        after = 0
        while True:
            running = any(p.poll() is None for p in procs)
            window = j.read(mid, after=after, limit=37)
            for e in window:
                seen.append(e.seq)
                ids.append(str(e.record_id))
            if window:
                after = window[-1].seq
            elif not running:
                break
            else:
                time.sleep(0.005)
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0 and out.strip() == "ok", err
        head = j.head(mid)
    assert head == 3 * n
    assert seen == list(range(1, head + 1))
    assert sorted(ids) == sorted(f"{t}-{k}" for t in ("p1", "p2", "p3") for k in range(n))
    # each writer's own entries keep its order
    for tag in ("p1", "p2", "p3"):
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(tag)]
        assert mine == sorted(mine)


def test_postgres_location_is_stored_without_password(pg_url: str) -> None:
    assert redact_location("postgresql://app:s3cret@db:5432/vm?sslmode=require") == \
        "postgresql://app@db:5432/vm?sslmode=require"
    assert redact_location("postgresql://db/vm?password=s3cret&x=1") == "postgresql://db/vm?password=***&x=1"
    with open_journal(pg_url.replace("postgres@", "postgres:pw@")) as j:  # trust auth ignores the password
        assert "pw" not in j.location


def test_unreachable_postgres_names_the_server_not_the_password() -> None:
    with pytest.raises(StateError) as exc:
        PostgresJournal("postgresql://u:topsecret@127.0.0.1:1/db")
    assert "topsecret" not in str(exc.value) and "127.0.0.1:1" in str(exc.value)
