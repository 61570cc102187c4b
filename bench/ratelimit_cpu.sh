#!/usr/bin/env bash
# The rate limiter's CPU per echo RPC, in process (bench/edge_cost.py: this process's CPU time,
# best of its rounds), alternating REPEAT times: the limiter off, on with the default budgets
# (address and user) and on with all three (address, user, title). Budgets too high to refuse
# anything, so that the cost is measured rather than refusals; requests from 192.0.2.7 (loopback
# has no address budget).
#
#   bench/ratelimit_cpu.sh            # REPEAT=8 ROUNDS=5 N=3000
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
REPEAT="${REPEAT:-8}" ROUNDS="${ROUNDS:-5}" N="${N:-3000}"
HIGH=100000000/s
run() {
    "$PYTHON" "$ROOT/bench/edge_cost.py" --rounds "$ROUNDS" --n "$N" --only "rpc echo" --client 192.0.2.7 \
        --set signup_limit_address=off "$@" 2>/dev/null | awk '/us\/request/ {print $(NF-1)}'
}
echo "# rate limiter CPU per echo RPC in process: commit $(git -C "$ROOT" rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$REPEAT"); do
    off=$(run --set rate_limits=false)
    two=$(run --set rate_limit_address=$HIGH --set rate_limit_user=$HIGH)
    three=$(run --set rate_limit_address=$HIGH --set rate_limit_user=$HIGH --set rate_limit_title=$HIGH)
    echo "run $i: off $off us, address+user $two us, address+user+title $three us"
done
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
