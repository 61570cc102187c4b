#!/usr/bin/env bash
# `overworld serve --workers 2` against `--workers 1` with wrk as the load generator: a C client
# costs the shared cores far less than bench/http_load.py (~0.3 core at 35,000 req/s, against ~0.5
# core at 24,000), so more of this 2-core machine is left to the servers. Echo RPC and account
# fetch, each request as the next of 1,000 users (within the default per-user rate limit), 64
# connections, one wrk thread; PostgreSQL + Redis, nothing pinned (wrk, the servers, PostgreSQL and
# Redis share the cores). `bench/workers.sh` is the same comparison with the Python generator.
#
#   bench/workers_wrk.sh                # REPEAT=2 DURATION=8 CONNECTIONS=64 (needs wrk: apt install wrk)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
OVERWORLD="${OVERWORLD:-$ROOT/.venv/bin/overworld}"
REPEAT="${REPEAT:-2}" DURATION="${DURATION:-8}" CONNECTIONS="${CONNECTIONS:-64}"
PORT="${PORT:-7397}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
WORK="$(mktemp -d /tmp/ow-workers-wrk.XXXXXX)"
command -v wrk >/dev/null || { echo "wrk not found: apt install wrk" >&2; exit 2; }
SERVER_PID="" PG_DB="" PREFIX=""

stop() {
    if [[ -n "$SERVER_PID" ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; fi
    if [[ -n "$PG_DB" ]]; then "$PYTHON" "$ROOT/bench/pg_admin.py" drop "$PG_DB" --admin-url "$PG_ADMIN_URL"; PG_DB=""; fi
    if [[ -n "$PREFIX" ]]; then "$PYTHON" "$ROOT/bench/redis_drop.py" "$PREFIX" --url "$REDIS_URL"; PREFIX=""; fi
}
trap stop EXIT

cpu_ticks() {  # user + system clock ticks of a process and its children
    local total=0
    for pid in "$1" $(pgrep -P "$1"); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}

echo "# overworld serve --workers with wrk: $(nproc) CPUs, commit $(git -C "$ROOT" rev-parse --short HEAD), nothing pinned, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$REPEAT"); do
    for n in 1 2; do
        PG_DB="ow_bench_wrk_$$_${n}_${run}" PREFIX="owbwrk$$n$run"
        "$PYTHON" "$ROOT/bench/pg_admin.py" create "$PG_DB" --admin-url "$PG_ADMIN_URL"
        OVERWORLD_DATABASE_URL="${PG_ADMIN_URL%/*}/$PG_DB" OVERWORLD_REDIS_URL="$REDIS_URL" OVERWORLD_REDIS_PREFIX="$PREFIX" \
            OVERWORLD_RUNTIME_PATH="$ROOT/examples/runtime" OVERWORLD_LOG_LEVEL=warning OVERWORLD_SHUTDOWN_GRACE_SEC=2 \
            "$OVERWORLD" serve --host 127.0.0.1 --port "$PORT" --workers "$n" >"$WORK/server-$n-$run.log" 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
        sleep 3  # every worker listening
        "$PYTHON" "$ROOT/bench/wrk_tokens.py" "http://127.0.0.1:$PORT" >"$WORK/tokens.lua"
        for scenario in rpc-echo account-get; do
            if [[ "$scenario" == rpc-echo ]]; then
                call=(POST /v2/rpc/echo '"{\"hello\":\"world\"}"')
            else
                call=(GET /v2/account)
            fi
            before=$(cpu_ticks "$SERVER_PID")
            out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$ROOT/bench/wrk_users.lua" \
                "http://127.0.0.1:$PORT" -- "$WORK/tokens.lua" "${call[@]}")
            after=$(cpu_ticks "$SERVER_PID")
            echo "$out" >"$WORK/wrk-$scenario-$n-$run.txt"
            rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
            p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
            bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
            cores=$(awk -v a="$after" -v b="$before" -v d="$DURATION" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (a - b) / hz / d}')
            printf 'workers=%s run=%s %-12s %10.0f req/s  p99 %s  non-2xx %s  server cores %s\n' "$n" "$run" "$scenario" "$rps" "$p99" "${bad:-0}" "$cores"
        done
        stop
    done
done
echo "# logs and wrk output: $WORK"
