#!/usr/bin/env bash
# The rate limiter's cost on echo RPC over HTTP (issue 15), with wrk as the load generator. Two
# servers run side by side, one with the limiter off (OVERWORLD_RATE_LIMITS=false) and one with it
# on, both pinned to CPU 0; wrk (one thread, C) pinned to CPU 1 loads one of them at a time, in
# turns of DURATION seconds (off, on, on, off, ...: ABBA, so that a drift favours neither), SLICES
# turns each. On this VM a pure-Python loop's speed varies by up to 30% from one run to the next,
# which a few long runs cannot tell from a change; many short turns spread that over both. (Loading
# both at once instead doubles the limiter's apparent cost: the two processes take turns on the
# core every few ms and each turn starts with cold caches.) The cost per request is the loaded
# server's CPU time (from /proc) over the requests wrk counted; the limiter's cost is the ratio
# of the sums. Both servers run with the same hash seed and without address-space randomisation:
# otherwise each process's dict layouts and cache conflicts differ, and two servers of the same
# code differ by up to 4%, whatever the turns. REPEAT pairs of servers, with fresh SQLite data dirs (or PostgreSQL + Redis with
# CLUSTER=1: the Redis limiter with its local batches; PostgreSQL and Redis are not pinned).
#
# "on" spends the budgets BUDGETS names: "default" the address's and the user's ("all": the
# title's too; "none": the limiter is off in both, an A/A check of the method). The address's rate
# is raised to 100,000,000/s (all requests come from one address here, as a reverse proxy's many
# clients would not); the user's is its default, 100/s: each request is the next of USERS users
# (bench/wrk_tokens.py), ~18/s per user at 18,000 req/s. The servers listen on a non-loopback
# address of this machine (HOST, default: the first of `hostname -I`), because loopback callers
# have no address budget. The sign-up limit is off in both (the pool signs up from one address).
# ENV_ON="OVERWORLD_X=y ..." adds settings to the "on" server; WRK_CPU (default 1) is where wrk runs.
#
#   bench/ratelimit_wrk.sh    # REPEAT=2 SLICES=20 DURATION=2 CONNECTIONS=64 USERS=1000 BUDGETS=default CLUSTER=0
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
OVERWORLD="${OVERWORLD:-$ROOT/.venv/bin/overworld}"
REPEAT="${REPEAT:-2}" SLICES="${SLICES:-20}" DURATION="${DURATION:-2}" CONNECTIONS="${CONNECTIONS:-64}" USERS="${USERS:-1000}"
BUDGETS="${BUDGETS:-default}" CLUSTER="${CLUSTER:-0}"
HOST="${HOST:-$(hostname -I | awk '{print $1}')}"
declare -A PORTS=([off]="${PORT_OFF:-7398}" [on]="${PORT_ON:-7399}")
PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
WORK="$(mktemp -d /tmp/ow-ratelimit-wrk.XXXXXX)"
command -v wrk >/dev/null || { echo "wrk not found: apt install wrk" >&2; exit 2; }
declare -A PIDS=() DBS=() PREFIXES=()

stop() {
    for mode in "${!PIDS[@]}"; do kill -TERM "${PIDS[$mode]}" 2>/dev/null || true; wait "${PIDS[$mode]}" 2>/dev/null || true; done
    for mode in "${!DBS[@]}"; do "$PYTHON" "$ROOT/bench/pg_admin.py" drop "${DBS[$mode]}" --admin-url "$PG_ADMIN_URL"; done
    for mode in "${!PREFIXES[@]}"; do
        "$PYTHON" "$ROOT/bench/redis_drop.py" "${PREFIXES[$mode]}" --url "$REDIS_URL"
    done
    PIDS=() DBS=() PREFIXES=()
}
trap stop EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # user + system clock ticks
uticks() { awk '{print $14}' "/proc/$1/stat"; }  # user only

echo "# rate limiter off and on, echo RPC, wrk: $(nproc) CPUs, commit $(git -C "$ROOT" rev-parse --short HEAD),"\
     "cluster=$CLUSTER, budgets=$BUDGETS, $USERS users, $CONNECTIONS connections, $SLICES turns of ${DURATION}s each,"\
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$REPEAT"); do
    for mode in off on; do
        env=(OVERWORLD_RUNTIME_PATH="$ROOT/examples/runtime" OVERWORLD_LOG_LEVEL=warning OVERWORLD_ALLOW_DEFAULT_KEYS=true
             OVERWORLD_SHUTDOWN_GRACE_SEC=2 OVERWORLD_SIGNUP_LIMIT_ADDRESS=off OVERWORLD_DATA_DIR="$WORK/data-$mode-$run")
        if [[ "$mode" == off || "$BUDGETS" == none ]]; then
            env+=(OVERWORLD_RATE_LIMITS=false)
        else
            env+=(OVERWORLD_RATE_LIMIT_ADDRESS=100000000/s)
            if [[ "$BUDGETS" == all ]]; then env+=(OVERWORLD_RATE_LIMIT_TITLE=100000000/s); fi
            if [[ -n "${ENV_ON:-}" ]]; then read -r -a extra <<<"$ENV_ON"; env+=("${extra[@]}"); fi
        fi
        if [[ "$CLUSTER" == 1 ]]; then
            DBS[$mode]="ow_bench_rlwrk_$$_${mode}_${run}" PREFIXES[$mode]="owbrlwrk$$$mode$run"
            "$PYTHON" "$ROOT/bench/pg_admin.py" create "${DBS[$mode]}" --admin-url "$PG_ADMIN_URL"
            env+=(OVERWORLD_DATABASE_URL="${PG_ADMIN_URL%/*}/${DBS[$mode]}" OVERWORLD_REDIS_URL="$REDIS_URL"
                  OVERWORLD_REDIS_PREFIX="${PREFIXES[$mode]}")
        fi
        env "${env[@]}" PYTHONHASHSEED=0 setarch "$(uname -m)" -R taskset -c 0 "$OVERWORLD" serve --host "$HOST" --port "${PORTS[$mode]}" >"$WORK/server-$mode-$run.log" 2>&1 &
        PIDS[$mode]=$!
    done
    for mode in off on; do
        url="http://$HOST:${PORTS[$mode]}"
        for _ in $(seq 1 300); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.2; done
        "$PYTHON" "$ROOT/bench/wrk_tokens.py" "$url" --users "$USERS" --prefix "wrk-$mode" >"$WORK/tokens-$mode.lua"
    done
    declare -A requests=([off]=0 [on]=0) cpu=([off]=0 [on]=0) ucpu=([off]=0 [on]=0)
    for slice in $(seq 0 "$SLICES"); do  # slice 0: warm-up, not counted
        if (( slice % 2 )); then order=(on off); else order=(off on); fi
        for mode in "${order[@]}"; do
            seconds=$(( slice == 0 ? 2 : DURATION ))
            before=$(ticks "${PIDS[$mode]}") ubefore=$(uticks "${PIDS[$mode]}")
            out=$(taskset -c "${WRK_CPU:-1}" wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency -s "$ROOT/bench/wrk_users.lua" \
                "http://$HOST:${PORTS[$mode]}" -- "$WORK/tokens-$mode.lua" POST /v2/rpc/echo '"{\"hello\":\"world\"}"')
            used=$(( $(ticks "${PIDS[$mode]}") - before )) uused=$(( $(uticks "${PIDS[$mode]}") - ubefore ))
            echo "$out" >"$WORK/wrk-$run-$slice-$mode.txt"
            if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers ($mode): $WORK/wrk-$run-$slice-$mode.txt" >&2; exit 1; fi
            if (( slice > 0 )); then
                requests[$mode]=$(( requests[$mode] + $(awk '/requests in/ {print $1}' <<<"$out") ))
                cpu[$mode]=$(( cpu[$mode] + used )) ucpu[$mode]=$(( ucpu[$mode] + uused ))
            fi
        done
    done
    stop
    awk -v run="$run" -v hz="$(getconf CLK_TCK)" -v d="$(( SLICES * DURATION ))" \
        -v qa="${requests[off]}" -v ca="${cpu[off]}" -v ua="${ucpu[off]}" \
        -v qb="${requests[on]}" -v cb="${cpu[on]}" -v ub="${ucpu[on]}" 'BEGIN {
        a = 1e6 * ca / hz / qa; b = 1e6 * cb / hz / qb; ax = 1e6 * ua / hz / qa; bx = 1e6 * ub / hz / qb
        printf "pair %s: off %.0f req/s %.1f us CPU per request (user %.1f), on %.0f req/s %.1f us (user %.1f):", run, qa / d, a, ax, qb / d, b, bx
        printf " limiter %+.1f%% CPU per request, %+.1f%% user CPU\n", 100 * (b - a) / a, 100 * (bx - ax) / ax}'
    echo "${requests[off]} ${cpu[off]} ${requests[on]} ${cpu[on]}" >>"$WORK/pairs"
done
# Over every pair: the median of the pairs' figures, and the pooled one (every pair's CPU time over
# every pair's requests, so that a pair counts by its requests)
awk '{
    cost[NR] = 100 * ($4 / $3 - $2 / $1) / ($2 / $1); rate[NR] = 100 * ($3 - $1) / $1
    qa += $1; ca += $2; qb += $3; cb += $4 }
    function median(v, n,   i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    END { printf "# %d pairs: limiter %+.1f%% CPU per request (median; pooled %+.1f%%), throughput %+.1f%% (median; pooled %+.1f%%)\n",
        NR, median(cost, NR), 100 * (cb / qb - ca / qa) / (ca / qa), median(rate, NR), 100 * (qb - qa) / qa }' "$WORK/pairs"
echo "# logs and wrk output: $WORK"
