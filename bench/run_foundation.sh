#!/usr/bin/env bash
# Foundation load benchmark: one server process on SQLite (fresh temp data dir), then one on a
# fresh PostgreSQL database; runs bench/http_load.py against each and prints a combined table.
#
#   bench/run_foundation.sh [extra http_load.py args, e.g. --scenario auth-new,account-get]
#
# Environment (all optional):
#   BACKENDS="sqlite postgres"   which backends to run
#   DURATION=10 CONNECTIONS=64 PROCS=1   passed to http_load.py
#   PORT=7350                    server port (loopback only)
#   PG_ADMIN_URL=postgresql://postgres@127.0.0.1:5432/postgres   where to create/drop the bench DB
#   PYTHON=.venv/bin/python OVERWORLD=.venv/bin/overworld
#   OUT_DIR=<dir>                keep the JSON results and server logs here (default: a temp dir)
#   RUNTIME_PATH=<dir>           server code for the server (OVERWORLD_RUNTIME_PATH), e.g. examples/runtime
#                                for the rpc-echo scenario; empty (default): no server code
#   PG_ANALYZE=0|1               1: run ANALYZE on the bench database after the (untimed) set-up, so
#                                the planner has statistics (this PostgreSQL has autovacuum off)
#   PIN=auto|off                 taskset pinning: server on CPU 0, load generator on CPU 1
#   WAIT_IDLE=120                seconds to wait for other load on the machine to stop before each
#                                backend and each scenario (0: do not wait); the "other" column shows
#                                CPU used by other processes during each scenario
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
OVERWORLD="${OVERWORLD:-$ROOT/.venv/bin/overworld}"
BACKENDS="${BACKENDS:-sqlite postgres}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
PROCS="${PROCS:-1}"
PORT="${PORT:-7350}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
PIN="${PIN:-auto}"
WAIT_IDLE="${WAIT_IDLE:-120}"
PG_ANALYZE="${PG_ANALYZE:-0}"
RUNTIME_PATH="${RUNTIME_PATH:-}"
OUT_DIR="${OUT_DIR:-$(mktemp -d /tmp/ow-bench.XXXXXX)}"
mkdir -p "$OUT_DIR"

SERVER_PID=""
PG_DB=""
DATA_DIR=""

log() { printf '%s\n' "$*" >&2; }

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

pg_admin() {  # pg_admin create|drop|analyze NAME
    "$PYTHON" "$BENCH/pg_admin.py" "$1" "$2" --admin-url "$PG_ADMIN_URL"
}

cleanup() {
    stop_server
    if [[ -n "$PG_DB" ]]; then
        pg_admin drop "$PG_DB" && log "# dropped database $PG_DB" || log "# could not drop database $PG_DB"
        PG_DB=""
    fi
    if [[ -n "$DATA_DIR" ]]; then rm -rf "$DATA_DIR"; DATA_DIR=""; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU pinning: the server (one process) on CPU 0, the load generator on CPU 1.
SERVER_PIN=()
GEN_PIN=()
if [[ "$PIN" != "off" ]] && command -v taskset >/dev/null 2>&1 && [[ "$(nproc)" -ge 2 ]]; then
    SERVER_PIN=(taskset -c 0)
    GEN_PIN=(taskset -c 1)
    PIN_NOTE="server pinned to CPU 0, load generator pinned to CPU 1 (taskset); PostgreSQL unpinned"
else
    PIN_NOTE="no CPU pinning (taskset missing, PIN=off or fewer than 2 CPUs)"
fi

COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then COMMIT="$COMMIT+dirty"; fi
echo "# Overworld foundation benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //'),"\
     "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo 2>/dev/null); commit $COMMIT"
echo "# $PIN_NOTE"
echo "# postgres: autovacuum=$("$PYTHON" - "$PG_ADMIN_URL" <<'EOF' 2>/dev/null || echo unknown
import asyncio, sys, asyncpg
async def main():
    c = await asyncpg.connect(sys.argv[1]); print(await c.fetchval("SHOW autovacuum")); await c.close()
asyncio.run(main())
EOF
)"
echo "# server: one process (uvicorn, uvloop, httptools); $CONNECTIONS connections, $PROCS generator process(es), ${DURATION}s per scenario"
echo "# results and server logs: $OUT_DIR"

wait_ready() {
    "$PYTHON" - "$PORT" "$SERVER_PID" <<'EOF'
import os, sys, time, urllib.request
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 60
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("server exited during start")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit("server not ready after 60s")
EOF
}

busy_cores() {  # busy cores of the whole machine over one second, from /proc/stat
    "$PYTHON" - <<'EOF'
import os, time
def snap():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(v) - v[3] - v[4], sum(v)
b0, t0 = snap(); time.sleep(1); b1, t1 = snap()
print(f"{(os.cpu_count() or 1) * (b1 - b0) / max(1, t1 - t0):.2f}")
EOF
}

wait_idle() {
    local waited=0 busy
    busy="$(busy_cores)"
    while awk -v b="$busy" 'BEGIN { exit !(b > 0.25) }' && [[ "$waited" -lt "$WAIT_IDLE" ]]; do
        log "# machine busy ($busy cores in use by other processes); waiting for it to go idle"
        sleep 4; waited=$((waited + 5)); busy="$(busy_cores)"
    done
    echo "# background load before the run: $busy busy cores"
}

run_backend() {
    local backend="$1"; shift
    DATA_DIR="$(mktemp -d /tmp/ow-bench-data.XXXXXX)"
    local env_db=() extra=()
    if [[ "$backend" == "postgres" ]]; then
        PG_DB="ow_bench_$(date +%s)_$$"
        pg_admin create "$PG_DB"
        env_db=(OVERWORLD_DATABASE_URL="${PG_ADMIN_URL%/*}/$PG_DB")
        echo "# postgres: fresh database $PG_DB"
        extra=(--db-cpu --db-name "$PG_DB")
        if [[ "$PG_ANALYZE" == "1" ]]; then
            extra+=(--after-setup "$PYTHON $BENCH/pg_admin.py analyze $PG_DB --admin-url $PG_ADMIN_URL")
            echo "# postgres: ANALYZE after the set-up (PG_ANALYZE=1)"
        fi
    else
        echo "# sqlite: fresh data dir $DATA_DIR"
    fi
    env OVERWORLD_DATA_DIR="$DATA_DIR" OVERWORLD_LOG_LEVEL=warning OVERWORLD_SHUTDOWN_GRACE_SEC=2 \
        OVERWORLD_RUNTIME_PATH="$RUNTIME_PATH" \
        "${env_db[@]}" "${SERVER_PIN[@]}" "$OVERWORLD" serve --host 127.0.0.1 --port "$PORT" \
        >"$OUT_DIR/server-$backend.log" 2>&1 &
    SERVER_PID=$!
    wait_ready
    wait_idle
    echo "## $backend (server pid $SERVER_PID)"
    "${GEN_PIN[@]}" "$PYTHON" "$BENCH/http_load.py" --url "http://127.0.0.1:$PORT" \
        --duration "$DURATION" --connections "$CONNECTIONS" --procs "$PROCS" --wait-idle "$WAIT_IDLE" \
        --server-pid "$SERVER_PID" --label "$backend" --json-out "$OUT_DIR/$backend.json" "${extra[@]}" "$@"
    stop_server
    if [[ -n "$PG_DB" ]]; then pg_admin drop "$PG_DB"; echo "# dropped database $PG_DB"; PG_DB=""; fi
    rm -rf "$DATA_DIR"; DATA_DIR=""
}

for backend in $BACKENDS; do
    run_backend "$backend" "$@"
done

echo
echo "## Combined results"
"$PYTHON" - "$OUT_DIR" $BACKENDS <<'EOF'
import json, os, sys
out_dir, backends = sys.argv[1], sys.argv[2:]
print(f"{'backend':<9} {'scenario':<14} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'gen cpu':>8} {'srv cpu':>8} {'db cpu':>7} {'other':>7}")
for b in backends:
    path = os.path.join(out_dir, f"{b}.json")
    if not os.path.exists(path):
        continue
    for r in json.load(open(path))["results"]:
        print(f"{b:<9} {r['scenario']:<14} {r['rps']:>10,.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
              f"{r['errors']:>7} {r['gen_cpu']:>8.2f} {r.get('server_cpu', float('nan')):>8.2f} "
              f"{r.get('db_cpu', float('nan')):>7.2f} {r.get('other_cpu', float('nan')):>7.2f}")
print("# cpu columns: busy cores of the load generator, the server process, PostgreSQL, and everything else "
      "on the machine (other > ~0.1 means the row was disturbed by other work)")
EOF
