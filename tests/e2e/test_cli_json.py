"""The JSON of `status`, `list` and `plan` is a superset of the Go README's `migration_status`,
`list_migrations` and `schema_recommendation` outputs (same names, same nesting, same types)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vectormigrate.cli import cli
from vectormigrate.connectors.base import ConnectionConfig
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema

# Shapes copied from the Go README's examples.
GO_STATUS = {"migration_id": "mig-123", "status": "in_progress",
             "progress": {"total_records": 10000, "migrated_records": 5432, "percentage": 54.32},
             "batches_processed": 54, "started_at": "2026-02-22T10:00:00Z", "ended_at": None}
GO_LIST = {"migrations": [{"migration_id": "mig-123", "status": "in_progress", "created_at": "2026-02-22T10:00:00Z",
                           "progress": {"total": 10000, "current": 5432, "percent": 54.32}}],
           "total": 1, "limit": 10, "offset": 0}
GO_PLAN = {"source_type": "pinecone", "target_type": "qdrant",
           "field_mappings": [{"source_field": "id", "target_field": "id", "confidence": 1.0,
                               "conversion_needed": False, "notes": "Primary identifier, direct mapping"}],
           "overall_confidence": 0.9, "warnings": ["..."]}


def assert_superset(go: Any, ours: Any, path: str = "$") -> None:
    if isinstance(go, dict):
        assert isinstance(ours, dict), path
        for key, value in go.items():
            assert key in ours, f"{path}.{key} missing"
            assert_superset(value, ours[key], f"{path}.{key}")
    elif isinstance(go, list):
        assert isinstance(ours, list) and ours, path
        assert_superset(go[0], ours[0], f"{path}[0]")
    elif isinstance(go, bool):
        assert isinstance(ours, bool), path
    elif isinstance(go, int | float):
        assert isinstance(ours, int | float) and not isinstance(ours, bool), path
    elif isinstance(go, str):
        assert isinstance(ours, str), path


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    with open_connector("parquet", ConnectionConfig(url=str(tmp_path / "pq"))) as pq:
        pq.create_collection(make_schema("docs", dim=8, namespaces=("x", "y")))
        for b in iter_batches(200, batch_size=50, dim=8, namespaces=("x", "y")):
            pq.write_batch("docs", b)
    r = CliRunner().invoke(cli, ["migrate", "mig-123", "--source-type", "parquet", "--source-url",
                                 str(tmp_path / "pq"), "--source-index", "docs", "--target-type", "parquet",
                                 "--target-url", str(tmp_path / "out"), "--target-index", "docs",
                                 "--state-db", str(tmp_path / "s.db"), "--json"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.output.splitlines()]
    assert lines[0]["event"] == "plan" and lines[-1]["event"] == "result"
    assert any(line["event"] == "progress" for line in lines)
    return tmp_path


def test_status_json_is_go_superset(migrated: Path) -> None:
    r = CliRunner().invoke(cli, ["status", "mig-123", "--state-db", str(migrated / "s.db"), "--json"])
    doc = json.loads(r.output)
    assert_superset({**GO_STATUS, "ended_at": "x"}, doc)
    assert doc["progress"] == {"total_records": 200, "migrated_records": 200, "percentage": 100.0}
    assert doc["status"] == "completed" and doc["batches_processed"] == 4


def test_list_json_is_go_superset(migrated: Path) -> None:
    r = CliRunner().invoke(cli, ["list", "--state-db", str(migrated / "s.db"), "--json", "--limit", "10"])
    doc = json.loads(r.output)
    assert_superset(GO_LIST, doc)
    assert doc["migrations"][0]["progress"] == {"total": 200, "current": 200, "percent": 100.0}
    empty = json.loads(CliRunner().invoke(cli, ["list", "--state-db", str(migrated / "s.db"), "--json",
                                                "--status", "failed"]).output)
    assert empty["total"] == 0 and empty["migrations"] == []


def test_plan_json_is_go_superset(migrated: Path) -> None:
    r = CliRunner().invoke(cli, ["plan", "--source-type", "parquet", "--source-url", str(migrated / "pq"),
                                 "--source-index", "docs", "--target-type", "qdrant", "--target-url",
                                 str(migrated / "qd"), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert_superset(GO_PLAN, doc)
    assert doc["id_strategy"] == "uuid5" and doc["namespace_strategy"] == "metadata_field"
    assert 0 < doc["overall_confidence"] <= 1
    assert not (migrated / "qd" / "collection").exists()  # plan writes nothing


def test_plan_counts_ids_it_would_overwrite(migrated: Path) -> None:
    r = CliRunner().invoke(cli, ["plan", "--source-type", "parquet", "--source-url", str(migrated / "pq"),
                                 "--source-index", "docs", "--target-type", "parquet", "--target-url",
                                 str(migrated / "out"), "--json"])
    doc = json.loads(r.output)
    assert doc["target_exists"] and doc["overlapping_ids"] == 200


@pytest.mark.parametrize("name", sorted(cli.commands))  # type: ignore[attr-defined]
def test_every_command_has_help_and_is_in_readme(name: str) -> None:
    r = CliRunner().invoke(cli, [name, "--help"])
    assert r.exit_code == 0 and len(r.output) > 100
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"vectormigrate {name}" in readme
