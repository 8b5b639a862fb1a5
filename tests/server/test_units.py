"""The server's building blocks on their own: rate limiter, key ring, audit redaction, metrics exposition, host
allow-list, --addr parsing, declared schemas of schema_recommendation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vectormigrate.cli.serve_cmd import parse_addr
from vectormigrate.errors import ConfigError
from vectormigrate.model import Metric
from vectormigrate.server.app import HostAllowList
from vectormigrate.server.audit import AuditLog, redact_args
from vectormigrate.server.auth import KeyRing, challenge, fingerprint, load_keys, parse_bearer
from vectormigrate.server.metrics import Counter, Histogram, ServerMetrics
from vectormigrate.server.ratelimit import RateLimiter
from vectormigrate.server.tools import declared_schema


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_the_limit_then_says_when_to_retry() -> None:
    clock = Clock()
    rl = RateLimiter(100, 60.0, clock=clock)
    assert all(rl.hit("a").allowed for _ in range(100))
    denied = rl.hit("a")
    assert not denied.allowed and denied.retry_after == 1  # one token refills in 0.6 s
    assert rl.hit("b").allowed  # per key
    clock.now += 0.6
    assert rl.hit("a").allowed and not rl.hit("a").allowed
    clock.now += 60
    assert sum(rl.hit("a").allowed for _ in range(150)) == 100  # burst is capped at the limit


def test_rate_limiter_memory_has_a_hard_cap_and_forgets_idle_keys() -> None:
    clock = Clock()
    rl = RateLimiter(10, 60.0, max_keys=1000, clock=clock)
    for i in range(100_000):
        rl.hit(f"client-{i}")
        assert len(rl) <= 1000
    assert len(rl) == 1000
    clock.now += 3600  # every bucket has refilled: each new request drops up to two idle ones
    for i in range(600):
        rl.hit(f"new-{i}")
    assert len(rl) < 1000
    off = RateLimiter(0)
    assert all(off.hit("x").allowed for _ in range(1000)) and len(off) == 0


def test_key_ring_keeps_no_plain_key_and_compares_by_digest(tmp_path: Path) -> None:
    ring = KeyRing(["alpha-key-0123456789", "beta-key-0123456789", "alpha-key-0123456789", " "])
    assert len(ring) == 2
    assert ring.verify("alpha-key-0123456789") is not None
    assert ring.verify("beta-key-0123456789").fingerprint == fingerprint("beta-key-0123456789")  # type: ignore[union-attr]
    assert ring.verify("alpha-key-012345678") is None and ring.verify(None) is None and ring.verify("") is None
    dump = repr(vars(ring)).encode() + b"".join(d for d, _ in ring._entries)
    assert b"alpha-key" not in dump and b"beta-key" not in dump
    assert re.fullmatch(r"key:[0-9a-f]{8}", fingerprint("x"))
    assert parse_bearer("Bearer abc") == "abc" and parse_bearer("bearer  abc ") == "abc"
    assert parse_bearer("Basic abc") is None and parse_bearer("Bearer") is None and parse_bearer(None) is None
    assert challenge("invalid_token", "bad") == \
        'Bearer realm="vectormigrate", error="invalid_token", error_description="bad"'


def test_load_keys_from_flags_env_and_a_private_file(tmp_path: Path) -> None:
    f = tmp_path / "keys"
    f.write_text("# comment\nk3\n\n  k4  \n")
    f.chmod(0o600)
    assert load_keys(["k1"], "k2a, k2b,", str(f)) == ["k1", "k2a", "k2b", "k3", "k4"]
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="readable or writable by other users"):
        load_keys([], None, str(f))
    with pytest.raises(ConfigError, match="cannot read the keys file"):
        load_keys([], None, str(tmp_path / "missing"))


def test_audit_redacts_secrets_everywhere(tmp_path: Path) -> None:
    args = {"source_api_key": "sk-live-123", "source_url": "https://user:pw@db.example/x?api_key=abc",
            "source_options": {"password": "hunter2", "region": "eu"}, "token": "", "batch_size": 10,
            "notes": ["Bearer abc.def"]}
    out = redact_args(args)
    text = json.dumps(out)
    for secret in ("sk-live-123", "pw@", "abc", "hunter2", "abc.def"):
        assert secret not in text, secret
    assert out["source_options"]["region"] == "eu" and out["batch_size"] == 10 and out["token"] == ""
    log = AuditLog(str(tmp_path / "audit.jsonl"))
    log.record(who="key:0000abcd", transport="mcp", tool="start_migration", args=args, outcome="ok", duration_s=0.5)
    log.close()
    line = json.loads((tmp_path / "audit.jsonl").read_text())
    assert line["who"] == "key:0000abcd" and line["duration_ms"] == 500.0 and line["outcome"] == "ok"
    assert "sk-live-123" not in json.dumps(line)


def test_metrics_exposition_format() -> None:
    m = ServerMetrics()
    m.requests.inc("migration_status", "ok", "mcp")
    m.request_duration.observe(0.02, "migration_status", "ok")
    m.request_duration.observe(7.0, "migration_status", "ok")
    m.add_counters("milvus", "qdrant", {"records_written": 500, "records_read": 500, "batches": 5})
    text = m.render()
    assert 'vectormigrate_requests_total{tool="migration_status",status="ok",transport="mcp"} 1' in text
    assert 'vectormigrate_records_written_total{source_type="milvus",target_type="qdrant"} 500' in text
    assert 'vectormigrate_request_duration_seconds_bucket{tool="migration_status",status="ok",le="0.025"} 1' in text
    assert 'vectormigrate_request_duration_seconds_bucket{tool="migration_status",status="ok",le="10"} 2' in text
    assert 'vectormigrate_request_duration_seconds_count{tool="migration_status",status="ok"} 2' in text
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+Inf-]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    c = Counter("x_total", "x", ("a",))
    with pytest.raises(ValueError, match="only goes up"):
        c.inc("v", amount=-1)
    with pytest.raises(ValueError, match="takes labels"):
        c.inc()
    h = Histogram("h", "h")
    h.observe(1e9)
    assert 'h_bucket{le="+Inf"} 1' in "\n".join(h.samples())


def test_host_allow_list() -> None:
    local = HostAllowList(["localhost", "127.0.0.1", "[::1]", "api.example:8443"])
    assert local.allows_host("localhost:8080") and local.allows_host("127.0.0.1") and local.allows_host("[::1]:80")
    assert local.allows_host("API.example:8443") and not local.allows_host("api.example:80")
    assert not local.allows_host("evil.example") and not local.allows_host(None) and not local.allows_host("")
    assert local.allows_origin(None) and local.allows_origin("http://localhost:3000")
    assert not local.allows_origin("https://evil.example") and not local.allows_origin("null")
    anything = HostAllowList(None)
    assert anything.allows_host("whatever") and anything.allows_origin("https://x") and HostAllowList(["*"]).any


def test_parse_addr() -> None:
    assert parse_addr(":8080") == ("127.0.0.1", 8080)
    assert parse_addr("0.0.0.0:9000") == ("0.0.0.0", 9000)  # noqa: S104
    assert parse_addr("[::1]:8080") == ("::1", 8080)
    assert parse_addr("8080") == ("127.0.0.1", 8080)
    for bad in ("host:", "host:http", ":99999"):
        with pytest.raises(ConfigError):
            parse_addr(bad)


def test_declared_schema_of_the_go_readme_example() -> None:
    schema, warnings = declared_schema("docs", {"id": "string", "document_id": "string", "chunk_text": "text",
                                                "embedding": "vector", "metadata": "object", "tags": "array",
                                                "dense": "vector(384)", "kw": "sparse"}, None, Metric.DOT)
    assert schema.id_kind == "str"
    assert [(v.name, v.dim, v.metric) for v in schema.vectors] == [("embedding", 768, Metric.DOT),
                                                                   ("dense", 384, Metric.DOT)]
    assert [s.name for s in schema.sparse_vectors] == ["kw"]
    assert {f.name: f.type for f in schema.fields} == {"document_id": "string", "chunk_text": "string",
                                                       "metadata": "object", "tags": "list"}
    assert any("'embedding'" in w and "768" in w for w in warnings)
    with pytest.raises(ConfigError, match="unknown type 'blob'"):
        declared_schema("d", {"x": "blob"}, None, Metric.COSINE)
    no_vec, w2 = declared_schema("d", {"id": "int"}, 12, Metric.COSINE)
    assert no_vec.id_kind == "int" and no_vec.vectors[0].dim == 12 and not w2


def test_grafana_dashboard_queries_only_metrics_the_server_exposes() -> None:
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "grafana" / "vectormigrate-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    exposed = {line.split()[2] for line in ServerMetrics().render().splitlines() if line.startswith("# TYPE")}
    used = {re.sub(r"_(bucket|sum|count)$", "", name) for e in exprs for name in re.findall(r"vectormigrate_[a-z_]+", e)}
    assert used and used <= exposed, used - exposed
    assert {"vectormigrate_records_written_total", "vectormigrate_request_duration_seconds",
            "vectormigrate_migration_duration_seconds", "vectormigrate_validations_total"} <= used
