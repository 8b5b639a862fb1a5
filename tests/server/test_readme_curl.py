"""The Go README's curl calls, run as written (the real `curl` binary) against `vectormigrate serve --api-key
your-secret-key --addr :8080`; their outputs carry every field the README shows."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, child_env, get, rpc, seed_parquet, start_server

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

README_KEY = "your-secret-key"
SECRET = "sk-database-credential-never-stored-1234"  # noqa: S105 - a fake credential to look for

# Copied verbatim from VectorMigrate's Go README ("Test with curl" and "Example 2").
CURL_STATUS = """curl -X POST http://localhost:8080 \\
  -H "Authorization: Bearer your-secret-key" \\
  -H "Content-Type: application/json" \\
  -d '{"jsonrpc":"2.0","id":1,"method":"migration_status","params":{"migration_id":"mig-123"}}'"""
CURL_LIST = """curl -X POST http://localhost:8080 \\
  -H "Authorization: Bearer your-secret-key" \\
  -H "Content-Type: application/json" \\
  -d '{"jsonrpc":"2.0","id":2,"method":"list_migrations","params":{"limit":10}}'"""
CURL_SCHEMA = (
    "curl -X POST http://localhost:8080 \\\n"
    '  -H "Authorization: Bearer your-secret-key" \\\n'
    '  -H "Content-Type: application/json" \\\n'
    """  -d '{"jsonrpc":"2.0","id":3,"method":"schema_recommendation","params":{"source_type":"pinecone","""
    """"target_type":"qdrant"}}'""")
CURL_EXAMPLE_2 = """curl -X POST http://localhost:8080 \\
  -H "Authorization: Bearer my-key" \\
  -H "Content-Type: application/json" \\
  -d '{
    "jsonrpc": "2.0",
    "id": 1,
    "method": "schema_recommendation",
    "params": {
      "source_type": "pinecone",
      "target_type": "weaviate",
      "source_schema": {
        "document_id": "string",
        "chunk_text": "text",
        "embedding": "vector",
        "metadata": "object"
      }
    }
  }' | jq ."""


def port_8080_free() -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 8080))
        except OSError:
            return False
    return True


def run_curl(command: str, port: int) -> dict[str, Any]:
    """Run a README command with bash, unchanged (except the port when 8080 is taken, and `| jq .` without jq)."""
    if port != 8080:
        command = command.replace("localhost:8080", f"localhost:{port}")
    if shutil.which("jq") is None:
        command = command.replace(" | jq .", "")
    out = subprocess.run(["bash", "-c", "set -o pipefail\n" + command], capture_output=True, text=True, timeout=60,
                         check=True, env=child_env())
    return json.loads(out.stdout)


@pytest.fixture
def readme_server(tmp_path: Path) -> Iterator[Server]:
    """`vectormigrate serve --api-key your-secret-key --addr :8080` (plus Example 2's key), as in the README."""
    if port_8080_free():
        srv = start_server(tmp_path, "--api-key", README_KEY, "--api-key", "my-key", port=8080, addr=":8080")
    else:
        srv = start_server(tmp_path, "--api-key", README_KEY, "--api-key", "my-key")
    yield srv
    srv.stop()


def test_readme_curl_calls_as_written(tmp_path: Path, readme_server: Server) -> None:
    srv = readme_server
    seed_parquet(tmp_path / "pq", n=300)
    started = rpc(srv.url, "start_migration", {
        "migration_id": "mig-123", "source_type": "parquet", "source_url": str(tmp_path / "pq"),
        "source_index": "docs", "target_type": "parquet", "target_url": str(tmp_path / "out"), "target_index": "docs",
        "source_api_key": SECRET}, key=README_KEY)
    assert started.status == 200 and started.json()["result"]["migration_id"] == "mig-123", started.body
    assert SECRET.encode() not in started.body
    deadline = time.monotonic() + 30
    while rpc(srv.url, "migration_status", {"migration_id": "mig-123"}, key=README_KEY).json()["result"][
            "status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    status = run_curl(CURL_STATUS, srv.port)
    assert status["jsonrpc"] == "2.0" and status["id"] == 1
    res = status["result"]
    assert res["migration_id"] == "mig-123" and res["status"] == "completed"
    assert res["progress"] == {"total_records": 300, "migrated_records": 300, "percentage": 100.0}
    assert res["batches_processed"] >= 1 and res["started_at"].endswith("Z") and res["ended_at"].endswith("Z")

    listed = run_curl(CURL_LIST, srv.port)
    assert listed["id"] == 2
    page = listed["result"]
    assert page["total"] == 1 and page["limit"] == 10 and page["offset"] == 0
    item = page["migrations"][0]
    assert item["migration_id"] == "mig-123" and item["status"] == "completed" and item["created_at"]
    assert item["progress"] == {"total": 300, "current": 300, "percent": 100.0}

    plan = run_curl(CURL_SCHEMA, srv.port)
    assert plan["id"] == 3
    rec = plan["result"]
    assert rec["source_type"] == "pinecone" and rec["target_type"] == "qdrant"
    assert rec["field_mappings"] and 0 < rec["overall_confidence"] <= 1 and isinstance(rec["warnings"], list)
    for m in rec["field_mappings"]:
        assert {"source_field", "target_field", "confidence", "conversion_needed", "notes"} <= set(m)
    assert rec["field_mappings"][0]["source_field"] == "id"

    example = run_curl(CURL_EXAMPLE_2, srv.port)
    rec2 = example["result"]
    assert rec2["source_type"] == "pinecone" and rec2["target_type"] == "weaviate"
    fields = {m["source_field"]: m for m in rec2["field_mappings"]}
    assert {"document_id", "chunk_text", "embedding", "metadata"} <= set(fields)
    assert fields["embedding"]["kind"] == "vector"

    wrong = subprocess.run(["curl", "--silent", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                            f"http://localhost:{srv.port}", "-H", "Authorization: Bearer not-the-key",
                            "-d", '{"jsonrpc":"2.0","id":1,"method":"list_migrations","params":{}}'],
                           capture_output=True, text=True, check=True, env=child_env())
    assert wrong.stdout == "401"
    assert get(f"{srv.url}/healthz").status == 200

    # the database credential passed to start_migration was used, never stored, logged or echoed
    assert '"source_api_key": "***"' in srv.audit.read_text()
    assert SECRET not in json.dumps(status) and SECRET not in srv.stderr()
    for path in [srv.audit, *srv.state_db.parent.glob("state.db*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
