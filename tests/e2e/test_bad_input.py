"""Bad input through the CLI: a clear message naming what is wrong and what to do, a non-zero exit code, and
no half-recorded state (a refused migration leaves no row in the state database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from vectormigrate.connectors.base import ConnectionConfig
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema
from vectormigrate.model import CollectionSchema, VectorSpec


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vectormigrate", *args], capture_output=True, text=True,
                          timeout=120, check=False, env=os.environ.copy())


@pytest.fixture
def src(tmp_path: Path) -> Path:
    with open_connector("parquet", ConnectionConfig(url=str(tmp_path / "pq"))) as pq:
        pq.create_collection(make_schema("docs", dim=8))
        for b in iter_batches(60, batch_size=30, dim=8, seed=2):
            pq.write_batch("docs", b)
    return tmp_path


def migrate(tmp: Path, *extra: str, source_type: str = "parquet", source_index: str = "docs",
            target_type: str = "qdrant", target_url: str | None = None) -> subprocess.CompletedProcess[str]:
    return cli("migrate", "m1", "--source-type", source_type, "--source-url", str(tmp / "pq"),
               "--source-index", source_index, "--target-type", target_type,
               "--target-url", target_url or str(tmp / "qd"), "--target-index", "docs",
               "--state-db", str(tmp / "state.db"), *extra)


def assert_nothing_recorded(tmp: Path) -> None:
    listed = cli("list", "--state-db", str(tmp / "state.db"), "--json")
    assert json.loads(listed.stdout)["total"] == 0


def test_missing_collection(src: Path) -> None:
    r = migrate(src, source_index="nope")
    assert r.returncode != 0
    assert "'nope'" in r.stderr and "hint:" in r.stderr
    assert_nothing_recorded(src)


def test_unknown_source_type(src: Path) -> None:
    r = migrate(src, source_type="oracle")
    assert r.returncode == 2
    assert "unknown connector type 'oracle'" in r.stderr and "qdrant" in r.stderr and "milvus" in r.stderr
    assert_nothing_recorded(src)


def test_unreachable_url(src: Path) -> None:
    r = migrate(src, target_url="http://127.0.0.1:9")
    assert r.returncode != 0
    assert "127.0.0.1:9" in r.stderr and "hint:" in r.stderr
    assert "Traceback" not in r.stderr
    assert_nothing_recorded(src)


class _Unauthorized(BaseHTTPRequestHandler):
    """Answers like a Qdrant server started with an api key, to any request with the wrong key."""

    def do_GET(self) -> None:
        body = b'{"status":{"error":"Invalid api-key"},"time":0.0}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unauthorized_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_wrong_api_key(src: Path, unauthorized_url: str) -> None:
    r = migrate(src, "--target-api-key", "wrong-key-12345", target_url=unauthorized_url)
    assert r.returncode != 0
    assert "api key" in r.stderr.lower() or "auth" in r.stderr.lower()
    assert "wrong-key-12345" not in r.stderr + r.stdout  # the secret is never printed
    assert_nothing_recorded(src)


def test_dimension_mismatch_with_existing_target(src: Path) -> None:
    with open_connector("qdrant", ConnectionConfig(url=str(src / "qd"))) as qd:
        qd.create_collection(CollectionSchema("docs", vectors=(VectorSpec("", 16),), id_kind="uuid"))
    r = migrate(src)
    assert r.returncode == 3
    assert "16" in r.stderr and "8" in r.stderr and "dimension" in r.stderr
    with open_connector("qdrant", ConnectionConfig(url=str(src / "qd"))) as qd:
        assert qd.count("docs") == 0  # nothing written
    assert_nothing_recorded(src)


def test_nan_and_infinite_vectors_are_dead_lettered_with_record_and_field(src: Path) -> None:
    with open_connector("parquet", ConnectionConfig(url=str(src / "pq"))) as pq:
        batch = next(iter_batches(3, dim=8, seed=9, start=1000))
        batch.vectors[""][0, 1] = np.nan
        batch.vectors[""][2, 0] = np.inf
        pq.write_batch("docs", batch)
        bad = {batch.ids[0], batch.ids[2]}
    dead = src / "dead.jsonl"
    r = migrate(src, "--dead-letter", str(dead))
    assert r.returncode == 5, r.stdout + r.stderr
    assert "dead.jsonl" in r.stdout
    rows = [json.loads(line) for line in dead.read_text().splitlines()]
    assert {row["record_id"] for row in rows} == bad
    assert all(row["field"] == "vector" and "NaN or infinite" in row["reason"] and row["hint"] for row in rows)
    status = json.loads(cli("status", "m1", "--state-db", str(src / "state.db"), "--json").stdout)
    assert status["counters"]["records_failed"] == 2 and status["counters"]["records_written"] == 61


def test_bad_option_and_flag_values(src: Path) -> None:
    r = migrate(src, "--target-option", "no_such=1")
    assert r.returncode == 2 and "no_such" in r.stderr and "accepts" in r.stderr
    r = migrate(src, "--batch-size", "0")
    assert r.returncode == 2 and "--batch-size" in r.stderr
    assert_nothing_recorded(src)


def test_unknown_migration_id(src: Path) -> None:
    for cmd in ("status", "resume"):
        r = cli(cmd, "ghost", "--state-db", str(src / "state.db"))
        assert r.returncode != 0 and "no migration 'ghost'" in r.stderr and "vectormigrate list" in r.stderr


def test_id_the_target_cannot_hold(src: Path) -> None:
    """String ids into an existing Milvus collection whose primary key is INT64: refused before any write."""
    milvus = str(src / "milvus.db")
    with open_connector("milvus", ConnectionConfig(url=milvus)) as mv:
        mv.create_collection(make_schema("docs", dim=8, id_kind="int"))
    r = migrate(src, target_type="milvus", target_url=milvus)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "str ids" in r.stderr and "int ids" in r.stderr and "new collection" in r.stderr
    with open_connector("milvus", ConnectionConfig(url=milvus)) as mv:
        assert mv.count("docs") == 0
    assert_nothing_recorded(src)


def test_id_too_long_for_the_target_is_dead_lettered(src: Path, tmp_path: Path) -> None:
    """A Parquet-to-Parquet copy cannot fail on ids; a 600-byte id into a 512-byte target goes to dead letters."""
    from vectormigrate.model import Batch

    with open_connector("parquet", ConnectionConfig(url=str(src / "pq"))) as pq:
        pq.write_batch("docs", Batch(ids=["x" * 600], vectors={"": np.ones((1, 8), np.float32)}))
    env_plugin = "limited=vectormigrate_test_limited:LimitedIds"
    (tmp_path / "vectormigrate_test_limited.py").write_text(
        "from dataclasses import replace\n"
        "from vectormigrate.connectors.parquet import ParquetConnector\n"
        "class LimitedIds(ParquetConnector):\n"
        "    name = 'limited'\n"
        "    capabilities = replace(ParquetConnector.capabilities, max_id_length=512)\n")
    env = os.environ.copy() | {"VECTORMIGRATE_CONNECTORS": env_plugin, "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "vectormigrate", "migrate", "m1", "--source-type", "parquet",
                        "--source-url", str(src / "pq"), "--source-index", "docs", "--target-type", "limited",
                        "--target-url", str(src / "out"), "--target-index", "docs", "--state-db",
                        str(src / "state.db"), "--dead-letter", str(src / "dead.jsonl")],
                       capture_output=True, text=True, timeout=120, check=False, env=env)
    assert r.returncode == 5, r.stdout + r.stderr
    row = json.loads((src / "dead.jsonl").read_text())
    assert row["field"] == "id" and "600 bytes" in row["reason"] and "512" in row["reason"]
