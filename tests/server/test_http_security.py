"""Bad requests get the right status and JSON-RPC error and never crash the server; the rate limiter answers 429
with Retry-After and keeps its memory bounded; thousands of concurrent requests leave the server's RSS flat."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import KEY, Server, get, post, rpc, start_server, vm_rss_kb


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("security")
    server = start_server(tmp, "--rate-limit", "100000", "--max-body-bytes", "65536")
    yield server
    assert server.alive(), server.stderr()
    assert server.stop() in (0, -signal.SIGTERM), server.stderr()  # uvicorn re-raises SIGTERM after a clean stop
    assert "Traceback" not in server.stderr(), server.stderr()


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            if head == name or head.startswith(name + "{"):
                total += float(value)
    return total


def test_unauthenticated_and_wrong_key_get_401_with_a_challenge(srv: Server) -> None:
    none = rpc(srv.url, "list_migrations", {}, key=None)
    assert none.status == 401
    assert none.headers["www-authenticate"] == 'Bearer realm="vectormigrate"'
    assert none.json()["error"]["code"] == -32001
    wrong = rpc(srv.url, "list_migrations", {}, key="not-the-key")
    assert wrong.status == 401
    assert wrong.headers["www-authenticate"].startswith('Bearer realm="vectormigrate", error="invalid_token"')
    basic = post(srv.url, {"jsonrpc": "2.0", "id": 1, "method": "list_migrations"}, key=None,
                 headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status == 401
    mcp = post(srv.url + "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}, key="nope",
               headers={"Accept": "application/json, text/event-stream"})
    assert mcp.status == 401  # MCP is behind the same key check
    audit = [a for a in srv.audit_lines() if a["outcome"] in ("missing_key", "invalid_key")]
    assert len(audit) >= 4 and all(a["http_status"] == 401 for a in audit)
    assert "not-the-key" not in srv.audit.read_text()


def test_malformed_json_oversized_unknown_method_and_bad_params(srv: Server) -> None:
    broken = post(srv.url, b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert broken.status == 400 and broken.json()["error"]["code"] == -32700
    binary = post(srv.url, os.urandom(200))
    assert binary.status == 400 and binary.json()["error"]["code"] == -32700
    not_rpc = post(srv.url, [1, 2, 3])  # type: ignore[arg-type]
    assert not_rpc.status == 400 and not_rpc.json()["error"]["code"] == -32600
    scalar = post(srv.url, b"42")
    assert scalar.status == 400 and scalar.json()["error"]["code"] == -32600
    big = post(srv.url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "list_migrations",
                                    "params": {"pad": "x" * 100_000}}))
    assert big.status == 413 and big.json()["error"]["code"] == -32003
    unknown = rpc(srv.url, "drop_everything", {}, rid=7)
    assert unknown.status == 404
    assert unknown.json()["id"] == 7 and unknown.json()["error"]["code"] == -32601
    assert "migration_status" in unknown.json()["error"]["message"]
    bad = rpc(srv.url, "migration_status", {})
    assert bad.status == 400 and bad.json()["error"]["code"] == -32602
    assert "migration_id" in bad.json()["error"]["message"]
    wrong_type = rpc(srv.url, "list_migrations", {"limit": "lots"})
    assert wrong_type.status == 400 and wrong_type.json()["error"]["code"] == -32602
    positional = post(srv.url, {"jsonrpc": "2.0", "id": 1, "method": "list_migrations", "params": [10]})
    assert positional.status == 400 and positional.json()["error"]["code"] == -32602
    no_version = post(srv.url, {"id": 1, "method": "list_migrations", "params": {}})
    assert no_version.status == 400 and no_version.json()["error"]["code"] == -32600
    tool_error = rpc(srv.url, "rollback_migration", {"migration_id": "x"})
    assert tool_error.status == 200 and tool_error.json()["error"]["code"] == -32000
    assert "confirm=true" in json.dumps(tool_error.json()["error"])
    notification = post(srv.url, {"jsonrpc": "2.0", "method": "list_migrations", "params": {}})
    assert notification.status == 202 and notification.body == b""
    put = urllib.request.Request(srv.url, data=b"{}", method="PUT",  # noqa: S310 - the test's own server
                                 headers={"Authorization": f"Bearer {KEY}"})
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(put, timeout=10)  # noqa: S310 - the test's own server
    assert excinfo.value.code == 405
    assert get(f"{srv.url}/healthz").status == 200 and srv.alive()


def test_host_and_origin_allow_list(srv: Server) -> None:
    evil_host = post(srv.url, {"jsonrpc": "2.0", "id": 1, "method": "list_migrations"}, headers={"Host": "evil.example"})
    assert evil_host.status == 421
    assert get(f"{srv.url}/metrics", headers={"Host": "evil.example:80"}).status == 421
    evil_origin = post(srv.url, {"jsonrpc": "2.0", "id": 1, "method": "list_migrations"},
                       headers={"Origin": "http://evil.example"})
    assert evil_origin.status == 403
    ok = post(srv.url, {"jsonrpc": "2.0", "id": 1, "method": "list_migrations"},
              headers={"Origin": f"http://localhost:{srv.port}"})
    assert ok.status == 200


def test_health_ready_and_metrics(srv: Server) -> None:
    assert get(f"{srv.url}/healthz").json() == {"status": "ok"}
    ready = get(f"{srv.url}/readyz")
    assert ready.status == 200 and ready.json()["state_db"] is True
    rpc(srv.url, "list_migrations", {})
    m = get(f"{srv.url}/metrics")
    assert m.status == 200 and m.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = m.body.decode()
    for name in ("vectormigrate_records_read_total", "vectormigrate_records_written_total",
                 "vectormigrate_records_failed_total", "vectormigrate_batches_total", "vectormigrate_retries_total",
                 "vectormigrate_bytes_written_total", "vectormigrate_migration_duration_seconds",
                 "vectormigrate_validations_total", "vectormigrate_requests_total",
                 "vectormigrate_request_duration_seconds", "vectormigrate_http_responses_total"):
        assert f"# TYPE {name} " in text, name
    assert 'vectormigrate_requests_total{tool="list_migrations",status="ok",transport="jsonrpc"}' in text
    assert 'vectormigrate_request_duration_seconds_bucket{tool="list_migrations",status="ok",le="+Inf"}' in text
    assert metric(text, "vectormigrate_up") == 1


def test_rate_limit_429_with_retry_after_per_key(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--rate-limit", "5", "--api-key", "second-key-0123456789abcdef0123456789ab")
    try:
        codes = [rpc(server.url, "list_migrations", {}).status for _ in range(5)]
        assert codes == [200] * 5
        limited = rpc(server.url, "list_migrations", {})
        assert limited.status == 429 and limited.json()["error"]["code"] == -32002
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # another key has its own budget
        assert rpc(server.url, "list_migrations", {}, key="second-key-0123456789abcdef0123456789ab").status == 200
        # MCP requests count against the same key
        mcp = post(server.url + "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
                   headers={"Accept": "application/json, text/event-stream"})
        assert mcp.status == 429
        # guessing keys is limited too (per client address)
        guesses = [rpc(server.url, "list_migrations", {}, key=f"guess-{i}").status for i in range(7)]
        assert guesses[:5] == [401] * 5 and guesses[5:] == [429, 429]
        assert any(a["outcome"] == "rate_limited" for a in server.audit_lines())
        assert get(f"{server.url}/healthz").status == 200  # not rate limited
    finally:
        server.stop()


def test_rate_limiter_memory_is_capped_across_many_keys(tmp_path: Path) -> None:
    keys = [f"k{i:04d}-0123456789abcdef0123456789abcdef" for i in range(300)]
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("# one key per line\n" + "\n".join(keys) + "\n")
    keys_file.chmod(0o600)
    server = start_server(tmp_path, "--keys-file", str(keys_file), "--rate-limit-keys", "50", key=None)
    try:
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda k: rpc(server.url, "list_migrations", {}, key=k).status, keys))
        assert codes == [200] * len(keys)
        tracked = metric(get(f"{server.url}/metrics").body.decode(), "vectormigrate_ratelimit_tracked_keys")
        assert 1 <= tracked <= 50
    finally:
        server.stop()


def test_thousands_of_concurrent_requests_leave_memory_flat(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--rate-limit", "1000000")
    bodies = [
        (KEY, {"jsonrpc": "2.0", "id": 1, "method": "list_migrations", "params": {"limit": 5}}),
        (KEY, {"jsonrpc": "2.0", "id": 2, "method": "migration_status", "params": {"migration_id": "nope"}}),
        (KEY, {"jsonrpc": "2.0", "id": 3, "method": "nonexistent", "params": {}}),
        (KEY, b'{"broken'),
        (None, {"jsonrpc": "2.0", "id": 4, "method": "list_migrations", "params": {}}),
        ("wrong", {"jsonrpc": "2.0", "id": 5, "method": "list_migrations", "params": {}}),
    ]
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    local = threading.local()  # one keep-alive connection per client thread, like a real client pool

    def one(i: int) -> None:
        key, body = bodies[i % len(bodies)]
        if key == "wrong":
            key = f"wrong-{random.random()}"
        headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {})
        conn = getattr(local, "conn", None) or http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        local.conn = conn
        conn.request("POST", "/", body=body if isinstance(body, bytes) else json.dumps(body), headers=headers)
        resp = conn.getresponse()
        resp.read()
        with lock:
            statuses[resp.status] += 1

    def burst(n: int) -> float:
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(one, range(n)))
        return time.monotonic() - started

    try:
        burst(400)  # warm up: imports, caches, thread pools, allocator arenas
        before = vm_rss_kb(server.proc.pid)
        n = 2400
        elapsed = burst(n)
        after = vm_rss_kb(server.proc.pid)
        print(f"\nRSS before {before} kB, after {n} requests {after} kB (+{after - before} kB); "
              f"{n / elapsed:.0f} requests/s with 16 client threads (keep-alive); statuses {dict(statuses)}")
        assert set(statuses) <= {200, 400, 401, 404}, statuses
        assert statuses[200] > 0 and statuses[401] > 0
        assert after - before < max(8 * 1024, before // 10), (before, after)
        tracked = metric(get(f"{server.url}/metrics").body.decode(), "vectormigrate_ratelimit_tracked_keys")
        assert tracked <= 2  # the key and the client address (for failed attempts)
        assert server.alive() and get(f"{server.url}/healthz").status == 200
    finally:
        server.stop()
