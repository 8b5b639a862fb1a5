"""An independent MCP client from npm, the MCP Inspector CLI, lists and calls the tools over stdio in both
protocol eras (scripts/inspector-check.sh installs Node 22 and the Inspector into .cache/inspector/)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import PY, REPO, child_env


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed: the MCP Inspector comes from npm")
def test_mcp_inspector_cli_lists_and_calls_the_tools() -> None:
    out = subprocess.run(["bash", str(REPO / "scripts" / "inspector-check.sh")], capture_output=True, text=True,
                         timeout=600, env=child_env(PYTHON=PY), cwd=REPO)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    assert "inspector-check: all checks passed" in out.stdout
    for line in ("legacy: tools/list ok", "modern: tools/list ok", "tools/call list_connectors ok"):
        assert line in out.stdout, out.stdout
