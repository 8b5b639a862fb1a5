#!/usr/bin/env bash
# Start, stop or inspect a real Milvus 2.3.5 standalone server (the `milvus` PyPI package) for tests.
#
#   scripts/milvus-server.sh start  [DATA_DIR] [PORT]   # prints VM_MILVUS_URL=http://127.0.0.1:PORT
#   scripts/milvus-server.sh status [DATA_DIR] [PORT]
#   scripts/milvus-server.sh stop   [DATA_DIR] [PORT]
#
# DATA_DIR defaults to .cache/milvus-server in the repo, PORT (the gRPC proxy port) to 19541; the server also
# listens on PORT+1 .. PORT+9 (etcd and the coordinators) and on a free port from 9091 up (/healthz).
# Extra milvus-server flags go in VM_MILVUS_SERVER_ARGS (e.g. "--authorization-enabled true"). Only one server
# can run per machine: the embedded etcd always takes port 2380.
# The server lives in its own venv (.venv-milvus-server, gitignored) so it never touches the project's
# dependencies. Then:  eval "$(scripts/milvus-server.sh start)" && .venv/bin/pytest -m milvus_server
#
# Why the process-group dance: `milvus-server` is a Python wrapper that spawns the Go/C++ `milvus` binary.
# SIGTERM kills the wrapper but leaves the binary running (and the binary itself ignored SIGTERM for 40+ s
# in our tests), so we start the wrapper in its own session and signal the whole group, SIGKILL after a
# short grace period.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CMD="${1:-status}"
DATA_DIR="${2:-$REPO/.cache/milvus-server}"
PORT="${3:-19541}"
VENV="$REPO/.venv-milvus-server"
MILVUS_VERSION="2.3.5"
START_TIMEOUT="${VM_MILVUS_START_TIMEOUT:-120}"

mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
PIDFILE="$DATA_DIR/milvus-server-$PORT.pid"
LOG="$DATA_DIR/milvus-server-$PORT.log"

python_bin() {
    # Any Python >= 3.8 can host the wrapper; prefer the one on PATH.
    command -v python3 || command -v python
}

ensure_venv() {
    if [[ ! -x "$VENV/bin/milvus-server" ]]; then
        echo "creating $VENV with milvus==$MILVUS_VERSION ..." >&2
        "$(python_bin)" -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "milvus==$MILVUS_VERSION" >&2
    fi
}

port_open() {
    # bash's /dev/tcp: no dependency on nc or the project venv.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
    return 1
}

start() {
    if pid="$(running_pid)"; then
        echo "milvus-server already running (pid $pid)" >&2
        echo "VM_MILVUS_URL=http://127.0.0.1:$PORT"
        return 0
    fi
    if port_open "$PORT"; then
        echo "port $PORT is already in use by another process; pick another: $0 start DIR PORT" >&2
        return 1
    fi
    if port_open 2380; then
        # The embedded etcd's peer port is fixed at 2380 (no flag moves it): one server per machine.
        echo "port 2380 is in use (another milvus-server's embedded etcd?); stop it first" >&2
        return 1
    fi
    ensure_venv
    # setsid: the wrapper leads its own process group, so `stop` can signal the binary it spawns too.
    # The wrapper binds every internal port explicitly (etcd 2379, coordinators 53100, 19531...), so a second
    # server on this machine would fail to bind; derive them all from PORT instead (PORT+1 .. PORT+9).
    PYTHONUNBUFFERED=1 setsid "$VENV/bin/milvus-server" --data "$DATA_DIR" --proxy-port "$PORT" \
        --etcd-port $((PORT + 1)) --root-coord-port $((PORT + 2)) --proxy-internal-port $((PORT + 3)) \
        --query-coord-port $((PORT + 4)) --query-node-port $((PORT + 5)) --index-coord-port $((PORT + 6)) \
        --index-node-port $((PORT + 7)) --data-coord-port $((PORT + 8)) --data-node-port $((PORT + 9)) \
        ${VM_MILVUS_SERVER_ARGS:-} >"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    local pid waited=0 child_seen=""
    pid="$(cat "$PIDFILE")"
    # Ready = the wrapper saw /healthz OK (it then prints its banner) and the proxy port accepts connections.
    until grep -q "Welcome to use Milvus" "$LOG" 2>/dev/null && port_open "$PORT"; do
        # The wrapper keeps polling /healthz for 180 s even after its `milvus` child died (e.g. a port in use),
        # so watch the child itself.
        # (The wrapper first unpacks the binary, so the child appears only after a few seconds on a new DATA_DIR;
        # a child that died early stays a zombie, since the wrapper does not reap it.)
        local child_state
        child_state="$(ps -o stat= --ppid "$pid" 2>/dev/null | head -n 1 || true)"
        [[ -n "$child_state" ]] && child_seen=1
        if ! kill -0 "$pid" 2>/dev/null || [[ "$child_state" == Z* ]] \
            || { [[ -n "$child_seen" ]] && [[ -z "$child_state" ]]; }; then
            echo "milvus-server failed to start; errors from $DATA_DIR/logs:" >&2
            { grep -h -E "\[(ERROR|FATAL)\]|panic:" "$DATA_DIR"/logs/milvus-std*.log | tail -n 5 | cut -c1-300; } >&2 || true
            tail -n 5 "$LOG" >&2 || true
            stop >/dev/null 2>&1 || true
            return 1
        fi
        if (( waited >= START_TIMEOUT )); then
            echo "milvus-server did not become ready within ${START_TIMEOUT}s; see $LOG" >&2
            stop >/dev/null 2>&1 || true
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "milvus-server $MILVUS_VERSION ready after ~${waited}s (pid $pid, data $DATA_DIR)" >&2
    echo "VM_MILVUS_URL=http://127.0.0.1:$PORT"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        echo "milvus-server is not running (port $PORT)" >&2
        rm -f "$PIDFILE"
        return 0
    fi
    # SIGINT makes the wrapper stop its child politely; then the whole group gets SIGKILL if still there.
    kill -INT -- "-$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5; do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 -- "-$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    echo "milvus-server stopped (pid $pid)" >&2
}

status() {
    if pid="$(running_pid)"; then
        if port_open "$PORT"; then
            echo "running (pid $pid), VM_MILVUS_URL=http://127.0.0.1:$PORT"
        else
            echo "starting or unhealthy (pid $pid, port $PORT closed); see $LOG"
        fi
    else
        echo "not running (port $PORT)"
        return 3
    fi
}

case "$CMD" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status [DATA_DIR] [PORT]" >&2; exit 2 ;;
esac
