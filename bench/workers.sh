#!/usr/bin/env bash
# `overworld serve --workers N` against one process: the same deployment (PostgreSQL + Redis on this
# machine, examples/runtime for the echo RPC) started with --workers 1 and --workers 2, REPEAT times
# each, alternating; bench/http_load.py runs echo RPC and account fetch against each, each request as
# the next of 1,000 users (--rotate-users: within the default per-user rate limit). Nothing is
# pinned: the servers, the load generator (--procs 2), PostgreSQL and Redis share the machine's cores.
# The chat fan-out of the same comparison: bench/sockets.py --scenario workers --server-workers N.
#
#   bench/workers.sh                   # WORKERS="1 2" REPEAT=3 DURATION=8 CONNECTIONS=64 GEN_PROCS=2
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
OVERWORLD="${OVERWORLD:-$ROOT/.venv/bin/overworld}"
WORKERS="${WORKERS:-1 2}"
REPEAT="${REPEAT:-3}"
DURATION="${DURATION:-8}"
CONNECTIONS="${CONNECTIONS:-64}"
GEN_PROCS="${GEN_PROCS:-2}"
SCENARIOS="${SCENARIOS:-rpc-echo,account-get}"
PORT="${PORT:-7391}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
OUT_DIR="${OUT_DIR:-$(mktemp -d /tmp/ow-workers.XXXXXX)}"
mkdir -p "$OUT_DIR"
SERVER_PID="" PG_DB="" PREFIX=""

stop() {
    if [[ -n "$SERVER_PID" ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
    if [[ -n "$PG_DB" ]]; then "$PYTHON" "$ROOT/bench/pg_admin.py" drop "$PG_DB" --admin-url "$PG_ADMIN_URL"; PG_DB=""; fi
    if [[ -n "$PREFIX" ]]; then "$PYTHON" "$ROOT/bench/redis_drop.py" "$PREFIX" --url "$REDIS_URL"; PREFIX=""; fi
}
trap stop EXIT

echo "# overworld serve --workers: $(nproc) CPUs, commit $(git -C "$ROOT" rev-parse --short HEAD); nothing pinned;"\
     "load generator: $GEN_PROCS processes, $CONNECTIONS connections, ${DURATION}s per scenario, on the same cores"
for run in $(seq 1 "$REPEAT"); do
    for n in $WORKERS; do
        busy=$("$PYTHON" -c 'import time
def s():
    v=[int(x) for x in open("/proc/stat").readline().split()[1:9]]; return sum(v)-v[3]-v[4], sum(v)
a,b=s(); time.sleep(1); c,d=s(); import os; print(f"{(os.cpu_count() or 1)*(c-a)/max(1,d-b):.2f}")')
        PG_DB="ow_bench_workers_$$_${n}_${run}" PREFIX="owbw$$n$run"
        "$PYTHON" "$ROOT/bench/pg_admin.py" create "$PG_DB" --admin-url "$PG_ADMIN_URL"
        OVERWORLD_DATABASE_URL="${PG_ADMIN_URL%/*}/$PG_DB" OVERWORLD_REDIS_URL="$REDIS_URL" \
            OVERWORLD_REDIS_PREFIX="$PREFIX" OVERWORLD_RUNTIME_PATH="$ROOT/examples/runtime" \
            OVERWORLD_LOG_LEVEL=warning OVERWORLD_SHUTDOWN_GRACE_SEC=2 \
            "$OVERWORLD" serve --host 127.0.0.1 --port "$PORT" --workers "$n" >"$OUT_DIR/server-$n-$run.log" 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
        sleep 3  # every worker listening
        "$PYTHON" "$ROOT/bench/http_load.py" --url "http://127.0.0.1:$PORT" --scenario "$SCENARIOS" --rotate-users \
            --duration "$DURATION" --connections "$CONNECTIONS" --procs "$GEN_PROCS" --label "workers$n" \
            --server-pid "$SERVER_PID" --db-cpu --db-name "$PG_DB" --json-out "$OUT_DIR/workers-$n-$run.json" >"$OUT_DIR/load-$n-$run.txt"
        stop
        "$PYTHON" - "$OUT_DIR/workers-$n-$run.json" "$n" "$run" "$busy" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"workers={sys.argv[2]} run={sys.argv[3]} {r['scenario']:<12} {r['rps']:>9,.0f} req/s  p50 {r['p50_ms']:.2f}"
          f"  p99 {r['p99_ms']:.2f} ms  errors {r['errors']}  cores: server {r['server_cpu']:.2f} gen {r['gen_cpu']:.2f}"
          f" db {r.get('db_cpu', 0):.2f} machine {r.get('host_cpu', float('nan')):.2f} (before start {sys.argv[4]});"
          f"  {r['rps'] / max(0.01, r['server_cpu']):,.0f} req per server core-second", flush=True)
PY
    done
done
echo "# results: $OUT_DIR"
