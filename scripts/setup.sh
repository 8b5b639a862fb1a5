#!/usr/bin/env bash
# Create ./.venv with VectorMigrate and every connector, at the versions the test suite was run with.
#   bash scripts/setup.sh          # runtime: all connectors
#   bash scripts/setup.sh dev      # plus pytest, mypy, ruff
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "VectorMigrate needs Python 3.11 or newer")'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extra=all
[ "${1:-}" = dev ] && extra=dev
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip
# constraints.txt pins every transitive version that was tested (pymilvus/protobuf/grpc ranges break across releases).
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$extra]"
