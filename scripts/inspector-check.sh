#!/usr/bin/env bash
# An independent MCP client checks VectorMigrate's MCP server: the MCP Inspector CLI (npm
# @modelcontextprotocol/inspector) starts `vectormigrate mcp` over stdio, lists the tools (with --strict schema
# portability checks) and calls list_connectors, in both protocol eras (legacy handshake and 2026-07-28).
#
# The Inspector needs Node >= 22.19; npm installs Node 22 as a package next to it, in .cache/inspector/
# (gitignored), so nothing outside the repository changes. Needs: npm, and the repository's .venv (or $PYTHON).
# Exit status: 0 when every check passed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/inspector"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
INSPECTOR_VERSION="2.12.0"
NODE_PACKAGE="node@22"

command -v npm >/dev/null || { echo "inspector-check: npm is not installed" >&2; exit 127; }
[ -x "$PY" ] || { echo "inspector-check: no Python at $PY (run scripts/setup.sh, or set PYTHON)" >&2; exit 2; }

if [ ! -x "$CACHE/node_modules/.bin/mcp-inspector" ] || [ ! -x "$CACHE/node_modules/.bin/node" ] \
   || ! grep -q "\"version\": \"$INSPECTOR_VERSION\"" "$CACHE/node_modules/@modelcontextprotocol/inspector/package.json" 2>/dev/null; then
  echo "inspector-check: installing Node 22 and @modelcontextprotocol/inspector@$INSPECTOR_VERSION into $CACHE" >&2
  mkdir -p "$CACHE"
  [ -f "$CACHE/package.json" ] || printf '{"name": "vectormigrate-inspector-cache", "private": true}\n' > "$CACHE/package.json"
  (cd "$CACHE" && npm install --no-audit --no-fund --loglevel=error "$NODE_PACKAGE" \
      "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >&2)
fi
export PATH="$CACHE/node_modules/.bin:$PATH"
case "$(node --version)" in
  v22.*|v23.*|v24.*) ;;
  *) echo "inspector-check: expected Node >= 22 in $CACHE, got $(node --version)" >&2; exit 2 ;;
esac

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
STATE="$WORK/state.db"

inspect() {  # inspect ERA ARGS... : one Inspector CLI call against `vectormigrate mcp` over stdio
  local era="$1"; shift
  mcp-inspector --cli --protocol-era "$era" --cwd "$ROOT" --format json -q "$@" \
    -- "$PY" -m vectormigrate mcp --state-db "$STATE"
}

check_json() {  # check_json FILE PYTHON-EXPRESSION-OVER-doc
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2], {"doc": doc})  # noqa: S307 - a fixed expression from this script
if not ok:
    sys.exit(f"check failed: {sys.argv[2]}\n{json.dumps(doc)[:2000]}")
EOF
}

TOOLS='{"list_connectors", "describe_collection", "schema_recommendation", "start_migration", "migration_status", "list_migrations", "stop_migration", "resume_migration", "validate_migration", "rollback_migration", "start_dual_write", "sync_migration", "cutover_migration"}'

# tools/list in both eras, then a tools/call of list_connectors (legacy era, the Inspector's default for ad-hoc
# targets). Each call starts the server afresh, as a desktop client would.
for era in legacy modern; do
  inspect "$era" --method tools/list --strict > "$WORK/tools-$era.json"
  check_json "$WORK/tools-$era.json" "{t['name'] for t in doc['result']['tools']} == $TOOLS"
  check_json "$WORK/tools-$era.json" "all(t.get('outputSchema') and t.get('annotations') for t in doc['result']['tools'])"
  check_json "$WORK/tools-$era.json" \
    "[t for t in doc['result']['tools'] if t['name'] == 'rollback_migration'][0]['annotations']['destructiveHint'] is True"
  echo "inspector-check: $era: tools/list ok ($(node --version), inspector $INSPECTOR_VERSION)"
done

inspect legacy --method tools/call --tool-name list_connectors > "$WORK/call.json"
check_json "$WORK/call.json" \
  "not doc['result'].get('isError') and 'parquet' in {c['type'] for c in doc['result']['structuredContent']['connectors']}"
echo "inspector-check: legacy: tools/call list_connectors ok"

echo "inspector-check: all checks passed"
