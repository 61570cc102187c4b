"""Matchmaker benchmark: the in-process engine on realistic pools.

    .venv/bin/python bench/matchmaker.py [--quick]

1. One pass over a fresh pool of 1,000 / 10,000 / 50,000 tickets (time, players matched), and the
   pass right after it over what is left (the steady cost of tickets that cannot match yet).
2. An arrival stream: tickets arrive at a fixed rate into a pool, a pass runs every simulated
   second (and, once, every half second); reports pass times, players matched per second of
   pass time (throughput ceiling), the share of arrivals matched, and p50/p99 time from ticket
   to match (waiting in simulated time + the pass's real time).
3. Fairness: mean skill spread (max - min) inside matches, against random grouping.

The mix: modes duel (2), squad (4, a fifth of squad tickets are parties of 2), battle royale
(6-10, count multiple 2); regions eu/us/asia/sa weighted 4:4:2:1; skill ~ N(25, 8); queue
"ranked" with a skill window of 3 widening 2/s up to 15, relaxed min count after 10 s;
queries `+properties.mode:<m> +properties.region:<r>` plus, for a tenth, `-properties.platform:mobile`.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import statistics
import time

from overworld.matchmaking.engine import Engine
from overworld.matchmaking.models import Member, Proposal, QueueRules, Ticket
from overworld.query import parse

RULES = QueueRules(skill_window=3.0, skill_window_growth=2.0, skill_window_max=15.0, relax_after_sec=10,
                   relaxed_min_count=2)  # fmt: skip
MODES = [("duel", 2, 2, 1), ("squad", 4, 4, 1), ("br", 6, 10, 2)]
REGIONS = ["eu", "us", "asia", "sa"]
_seq = 0


def make_ticket(rng: random.Random, created: float) -> Ticket:
    global _seq
    _seq += 1
    mode, lo, hi, mult = rng.choice(MODES)
    region = rng.choices(REGIONS, weights=[4, 4, 2, 1])[0]
    platform = rng.choice(["pc", "console", "mobile"])
    skill = rng.gauss(25, 8)
    query = f"+properties.mode:{mode} +properties.region:{region}"
    if rng.random() < 0.1:
        query += " -properties.platform:mobile"
    size = 2 if mode == "squad" and rng.random() < 0.2 else 1
    members = [Member(f"s{_seq}-{k}", f"u{_seq}-{k}", "", "n") for k in range(size)]
    return Ticket(
        id=f"t{_seq}", title_id="bench", seq=_seq, created=created, query=parse(query), min_count=lo,
        max_count=hi, count_multiple=mult,
        s={"mode": mode, "region": region, "platform": platform, "queue": "ranked"},
        n={"skill": skill}, members=members, skill=skill,
    )  # fmt: skip


def engine() -> Engine:
    return Engine(lambda title, queue: RULES, max_intervals=2)


def timed_pass(e: Engine, now: float) -> tuple[list[Proposal], float]:
    """One pass (its matches leave the engine, as when the service claims them): the matches
    and the wall time."""
    proposals, elapsed, _ = timed_pass_cpu(e, now)
    return proposals, elapsed


def timed_pass_cpu(e: Engine, now: float) -> tuple[list[Proposal], float, float]:
    """`timed_pass`, and the pass's CPU time (steadier than wall time on a shared machine)."""
    gc.disable()
    started, cpu = time.perf_counter(), time.process_time()
    proposals = e.run(now)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    gc.enable()
    return proposals, elapsed, cpu


def players(proposals: list[Proposal]) -> int:
    return sum(t.size for p in proposals for t in p.tickets)


def spread(proposals: list[Proposal]) -> float:
    spreads = [max(t.skill for t in p.tickets) - min(t.skill for t in p.tickets) for p in proposals]
    return statistics.fmean(spreads) if spreads else math.nan


def pool_passes(sizes: list[int]) -> None:
    print("== one pass over a fresh pool (tickets waited 0-30 s) ==")
    for n in sizes:
        rng = random.Random(n)
        e = engine()
        now = time.time()
        for _ in range(n):
            e.add(make_ticket(rng, now - rng.random() * 30))
        gc.collect()
        proposals, first, cpu = timed_pass_cpu(e, now)
        _, steady = timed_pass(e, now)
        print(
            f"{n:>6} tickets: first pass {first * 1000:7.1f} ms (cpu {cpu * 1000:6.1f} ms), "
            f"{players(proposals):>6} players matched "
            f"in {len(proposals):>5} matches, mean skill spread {spread(proposals):.2f}; "
            f"next pass over the {len(e):>5} left {steady * 1000:6.1f} ms"
        )


def stream(rate: int, seconds: int, interval: float = 1.0) -> None:
    print(f"== arrival stream: {rate} tickets/s for {seconds} s, a pass every {interval:g} s ==")
    rng = random.Random(rate)
    e = engine()
    start = time.time()
    waits: list[float] = []
    pass_times: list[float] = []
    matched_total = 0
    arrived = 0
    all_props: list[Proposal] = []
    for step in range(1, int(seconds / interval) + 1):
        now = start + step * interval
        for _ in range(int(rate * interval)):
            t = make_ticket(rng, now - rng.random() * interval)
            e.add(t)
            arrived += t.size
        proposals, elapsed = timed_pass(e, now)
        pass_times.append(elapsed)
        matched_total += players(proposals)
        all_props.extend(proposals)
        for p in proposals:
            for t in p.tickets:
                waits.extend([now - t.created + elapsed] * t.size)
    waits.sort()
    total_pass = sum(pass_times)
    print(
        f"pass p50 {statistics.median(pass_times) * 1000:.1f} ms, max {max(pass_times) * 1000:.1f} ms; "
        f"pool at the end {len(e)} tickets; {matched_total} of {arrived} players matched "
        f"({matched_total / arrived:.1%}); {matched_total / total_pass:,.0f} players matched per second of "
        f"pass time; ticket to match p50 {waits[len(waits) // 2]:.2f} s, "
        f"p99 {waits[int(len(waits) * 0.99)]:.2f} s; mean skill spread {spread(all_props):.2f}"
    )
    # Random grouping of the same matches' sizes, for comparison.
    skills = [rng.gauss(25, 8) for _ in range(10_000)]
    rand = []
    for p in all_props[:2000]:
        k = len(p.tickets)
        group = rng.sample(skills, k)
        rand.append(max(group) - min(group))
    print(f"random grouping of the same sizes: mean skill spread {statistics.fmean(rand):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    pool_passes([1_000, 10_000] if args.quick else [1_000, 10_000, 50_000])
    stream(2_000, 10 if args.quick else 30)
    if not args.quick:
        stream(2_000, 30, interval=0.5)  # matchmaker_interval_ms 500: the p99 follows the interval
        stream(5_000, 20)


if __name__ == "__main__":
    main()
