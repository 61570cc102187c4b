"""The rate limiter's hot path in a loop: `RateLimits.spend` on the embedded limiter, the way a
request calls it (one call name, one title, USERS users taking turns, one address), in µs per
call, best of --rounds.

Between two calls a request does ~50 µs of other work that pushes the buckets out of the CPU's
caches; `--evict KB` copies that many KB of other memory between calls to imitate it (the copy's
own time is measured apart, without the limiter, and taken off). Without it the loop measures
the code alone, every bucket in cache.

    .venv/bin/python bench/ratelimit_loop.py [--users 1000] [--evict 0] [--budgets default|all]
"""

from __future__ import annotations

import argparse
import time
import uuid

from overworld.config import Rate
from overworld.subsystems.ratelimit import EmbeddedRateLimiter, RateLimits

HIGH = Rate(100_000_000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=200_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--evict", type=int, default=0, help="KB of other memory copied between calls")
    parser.add_argument("--budgets", choices=("default", "all"), default="default")
    args = parser.parse_args()
    title_rate = HIGH if args.budgets == "all" else None
    limits = RateLimits(EmbeddedRateLimiter(), (HIGH, HIGH, title_rate))
    title = str(uuid.uuid4())
    # each user's id is one string object for the whole run, as the session cache hands it out
    users = [str(uuid.uuid4()) for _ in range(args.users)]
    order = [users[i % len(users)] for i in range(args.calls)]
    source, junk = bytes(args.evict * 1024), bytearray(args.evict * 1024)
    spend = limits.spend

    def evict() -> None:
        junk[:] = source  # a memcpy: both buffers pass through the caches

    def with_limiter() -> float:
        started = time.perf_counter()
        for user in order:
            spend("rpc", title, user, "192.0.2.7")
            if junk:
                evict()
        return time.perf_counter() - started

    def without() -> float:
        started = time.perf_counter()
        for _user in order:
            if junk:
                evict()
        return time.perf_counter() - started

    # the best of each, alternating (the machine's speed drifts): the copy's time taken off
    timed = [(with_limiter(), without()) for _ in range(args.rounds)]
    best = min(w for w, _ in timed) - min(o for _, o in timed)
    print(
        f"spend: {1e6 * best / args.calls:.3f} us per call ({args.users} users, budgets {args.budgets},"
        f" {args.evict} KB copied between calls)"
    )


if __name__ == "__main__":
    main()
