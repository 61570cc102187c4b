#!/usr/bin/env bash
# The rate limiter's cost on echo RPC (issue 15): the same server started with the limiter off
# (OVERWORLD_RATE_LIMITS=false) and on, alternating, REPEAT times each, fresh SQLite data dir per
# run (or PostgreSQL + Redis with CLUSTER=1: the Redis limiter with its local batches).
#
# "on" spends all three budgets of every call: per address and per title with rates too high to
# refuse anything (so that the cost is measured, not refusals), per user the default (100/s): the
# generator sends each request as the next of its 1,000 pool users (--rotate-users), ~17/s per
# user at 17,000 req/s (one user per connection would put each far above 100/s at full speed, and
# measure the limiter holding them to it). The server listens on a non-loopback address of
# this machine (HOST, default: the first of `hostname -I`), because loopback callers have no
# address budget. The sign-up limit is off in both (the generator signs up its pool from one address).
# bench/http_load.py reports req/s and the server's CPU per request.
#
#   bench/ratelimit.sh                 # REPEAT=4 DURATION=8 CONNECTIONS=64 GEN_PROCS=1 CLUSTER=0
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
OVERWORLD="${OVERWORLD:-$ROOT/.venv/bin/overworld}"
REPEAT="${REPEAT:-4}"
DURATION="${DURATION:-8}"
CONNECTIONS="${CONNECTIONS:-64}"
GEN_PROCS="${GEN_PROCS:-1}"
CLUSTER="${CLUSTER:-0}"
HOST="${HOST:-$(hostname -I | awk '{print $1}')}"
PORT="${PORT:-$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("",0)); print(s.getsockname()[1])')}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
OUT_DIR="${OUT_DIR:-$(mktemp -d /tmp/ow-ratelimit.XXXXXX)}"
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

echo "# rate limiter off/on, echo RPC: $(nproc) CPUs, commit $(git -C "$ROOT" rev-parse --short HEAD),"\
     "cluster=$CLUSTER, $CONNECTIONS connections, ${DURATION}s per run, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$REPEAT"); do
    for mode in off on; do
        env=(OVERWORLD_RUNTIME_PATH="$ROOT/examples/runtime" OVERWORLD_LOG_LEVEL=warning
             OVERWORLD_ALLOW_DEFAULT_KEYS=true OVERWORLD_SHUTDOWN_GRACE_SEC=2 OVERWORLD_SIGNUP_LIMIT_ADDRESS=off
             OVERWORLD_DATA_DIR="$OUT_DIR/data-$mode-$run")
        if [[ "$mode" == off ]]; then
            env+=(OVERWORLD_RATE_LIMITS=false)
        else
            env+=(OVERWORLD_RATE_LIMIT_ADDRESS=100000000/s OVERWORLD_RATE_LIMIT_TITLE=100000000/s)
        fi
        if [[ "$CLUSTER" == 1 ]]; then
            PG_DB="ow_bench_rl_$$_${mode}_${run}" PREFIX="owbrl$$$mode$run"
            "$PYTHON" "$ROOT/bench/pg_admin.py" create "$PG_DB" --admin-url "$PG_ADMIN_URL"
            env+=(OVERWORLD_DATABASE_URL="${PG_ADMIN_URL%/*}/$PG_DB" OVERWORLD_REDIS_URL="$REDIS_URL"
                  OVERWORLD_REDIS_PREFIX="$PREFIX")
        fi
        env "${env[@]}" "$OVERWORLD" serve --host "$HOST" --port "$PORT" >"$OUT_DIR/server-$mode-$run.log" 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 1 300); do curl -sf "http://$HOST:$PORT/readyz" >/dev/null && break; sleep 0.2; done
        "$PYTHON" "$ROOT/bench/http_load.py" --url "http://$HOST:$PORT" --scenario rpc-echo --rotate-users \
            --duration "$DURATION" --connections "$CONNECTIONS" --procs "$GEN_PROCS" --label "$mode" \
            --server-pid "$SERVER_PID" --json-out "$OUT_DIR/$mode-$run.json" >"$OUT_DIR/load-$mode-$run.txt"
        stop
        "$PYTHON" - "$OUT_DIR/$mode-$run.json" "$mode" "$run" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    cpu_us = 1e6 * r["server_cpu"] / max(1.0, r["rps"])
    print(f"limiter {sys.argv[2]:<3} run {sys.argv[3]}  {r['rps']:>8,.0f} req/s  p99 {r['p99_ms']:.1f} ms"
          f"  errors {r['errors']}  server {r['server_cpu']:.2f} cores  {cpu_us:.1f} us CPU per request"
          f"  machine {r.get('host_cpu', float('nan')):.2f} cores", flush=True)
PY
    done
done
echo "# results: $OUT_DIR"
