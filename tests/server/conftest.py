"""Fixtures for the server tests: a seeded Parquet source, a `vectormigrate serve` subprocess on a free port,
and helpers to talk to it (the SDK's own client, plain HTTP, curl). Every test uses real sockets and
processes; nothing of the server is mocked."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vectormigrate.connectors.base import ConnectionConfig
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_schema

pytest.importorskip("mcp", reason="the server tests need the server extra: pip install 'vectormigrate[server]'")

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
KEY = "test-key-0123456789abcdef0123456789abcdef"
DIM = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_parquet(path: Path, name: str = "docs", n: int = 600, seed: int = 1, dim: int = DIM) -> None:
    """A Parquet source collection of ``n`` realistic records (rich metadata, unicode, nulls)."""
    with open_connector("parquet", ConnectionConfig(url=str(path))) as pq:
        if not pq.exists(name):
            pq.create_collection(make_schema(name, dim=dim))
        for batch in iter_batches(n, batch_size=200, dim=dim, seed=seed):
            pq.write_batch(name, batch)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECTORMIGRATE_")}
    env.update(extra)
    return env


def vm_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def post(url: str, body: bytes | str | dict[str, Any], key: str | None = KEY,
         headers: dict[str, str] | None = None, timeout: float = 30.0) -> HttpResult:
    """One POST with urllib (a plain HTTP client, independent of the server's stack)."""
    data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    req = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 - the test's own server
    req.add_header("Content-Type", "application/json")
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the test's own http:// server
            return HttpResult(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as exc:
        return HttpResult(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


def get(url: str, headers: dict[str, str] | None = None) -> HttpResult:
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - the test's own server
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the test's own server
            return HttpResult(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as exc:
        return HttpResult(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


def rpc(url: str, method: str, params: dict[str, Any], rid: int = 1, key: str | None = KEY) -> HttpResult:
    return post(url, {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}, key=key)


@dataclass
class Server:
    """A running `vectormigrate serve` child process."""

    proc: subprocess.Popen[bytes]
    port: int
    state_db: Path
    audit: Path
    stderr_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def audit_lines(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines() if line.strip()]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def start_server(tmp: Path, *extra: str, port: int | None = None, state_db: Path | None = None,
                 env: dict[str, str] | None = None, name: str = "server", addr: str | None = None,
                 key: str | None = KEY) -> Server:
    port = port or free_port()
    state_db = state_db or tmp / "state.db"
    audit = tmp / f"{name}-audit.jsonl"
    err = tmp / f"{name}.stderr"
    args = [PY, "-m", "vectormigrate", "serve", "--addr", addr or f"127.0.0.1:{port}", "--state-db", str(state_db),
            "--audit-log", str(audit), *(["--api-key", key] if key else []), *extra]
    with err.open("wb") as errf:
        proc = subprocess.Popen(args, cwd=tmp, env=env or child_env(), stdout=subprocess.DEVNULL, stderr=errf)
    server = Server(proc, port, state_db, audit, err, args)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {server.stderr()}")
        try:
            if get(f"{server.url}/healthz").status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"server did not come up: {server.stderr()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
