"""What a run measures, per second: a latency histogram per operation, errors by kind, players
connected; cheap to record (one dict increment) and to merge across processes.

Latencies go into logarithmic buckets 5% wide (HDR-like: the relative error of a percentile is at
most ~2.5%, whatever the magnitude), from 10 µs up; a bucket is `int(log(µs) * 20)`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

BUCKETS_PER_E = 20  # buckets per factor e: each ~5.1% wide


def bucket(seconds: float) -> int:
    us = seconds * 1e6
    return int(math.log(us) * BUCKETS_PER_E) if us > 10.0 else int(math.log(10.0) * BUCKETS_PER_E)


def bucket_ms(b: int) -> float:
    """The middle of bucket `b`, in milliseconds."""
    return math.exp((b + 0.5) / BUCKETS_PER_E) / 1000.0


Histogram = dict[int, int]  # bucket -> count


def merge_into(into: Histogram, other: Histogram) -> None:
    for b, n in other.items():
        into[b] = into.get(b, 0) + n


def count(h: Histogram) -> int:
    return sum(h.values())


def percentile(h: Histogram, p: float) -> float | None:
    """The p-th percentile (0-100) in ms, None when empty."""
    total = sum(h.values())
    if not total:
        return None
    rank = max(1, math.ceil(total * p / 100.0))
    seen = 0
    for b in sorted(h):
        seen += h[b]
        if seen >= rank:
            return bucket_ms(b)
    return bucket_ms(max(h))  # pragma: no cover - the loop always reaches rank


def maximum(h: Histogram) -> float | None:
    return bucket_ms(max(h)) if h else None


class Recorder:
    """One process's measurements, second by second (seconds since the run's start)."""

    def __init__(self, start: float) -> None:
        self.start = start  # time.time() of second 0, the same in every process
        self.latency: dict[int, dict[str, Histogram]] = defaultdict(lambda: defaultdict(dict))
        self.errors: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.connected: dict[int, int] = {}
        self.requests = 0  # requests sent (HTTP and socket), for --max-requests

    def second(self, now: float) -> int:
        return int(now - self.start)

    def ok(self, op: str, now: float, seconds: float) -> None:
        h = self.latency[int(now - self.start)][op]
        b = bucket(seconds)
        h[b] = h.get(b, 0) + 1

    def error(self, op: str, kind: str, now: float) -> None:
        self.errors[int(now - self.start)][f"{op}: {kind}"] += 1

    def take(self, before: int | None = None) -> dict[str, Any]:
        """The seconds recorded so far (before second `before`, when given), as plain data, and
        forget them: what a worker sends the coordinator."""
        out: dict[str, Any] = {"latency": {}, "errors": {}, "connected": {}}
        for sec in [s for s in self.latency if before is None or s < before]:
            out["latency"][sec] = {op: dict(h) for op, h in self.latency.pop(sec).items()}
        for sec in [s for s in self.errors if before is None or s < before]:
            out["errors"][sec] = dict(self.errors.pop(sec))
        for sec in [s for s in self.connected if before is None or s < before]:
            out["connected"][sec] = self.connected.pop(sec)
        return out


class Totals:
    """Every process's seconds merged (the coordinator's view)."""

    def __init__(self) -> None:
        self.latency: dict[int, dict[str, Histogram]] = defaultdict(lambda: defaultdict(dict))
        self.errors: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.connected: dict[int, dict[int, int]] = defaultdict(dict)  # sec -> worker -> count

    def add(self, worker: int, part: dict[str, Any]) -> None:
        for sec, ops in part["latency"].items():
            for op, h in ops.items():
                merge_into(self.latency[int(sec)][op], h)
        for sec, kinds in part["errors"].items():
            for kind, n in kinds.items():
                self.errors[int(sec)][kind] += n
        for sec, n in part["connected"].items():
            self.connected[int(sec)][worker] = n

    def seconds(self) -> list[int]:
        return sorted(set(self.latency) | set(self.errors) | set(self.connected))

    def connected_series(self, seconds: list[int]) -> list[int]:
        """Players connected at each of `seconds` (ascending): each process's last count at or
        before that second (a process whose report of a second was late still counts)."""
        last: dict[int, int] = {}
        out = []
        for sec in seconds:
            last.update(self.connected.get(sec, {}))
            out.append(sum(last.values()))
        return out

    def connected_now(self) -> int:
        """Players connected by the latest report of each process."""
        latest: dict[int, tuple[int, int]] = {}
        for sec, workers in self.connected.items():
            for w, n in workers.items():
                if w not in latest or latest[w][0] < sec:
                    latest[w] = (sec, n)
        return sum(n for _, n in latest.values())

    def ops(self) -> list[str]:
        return sorted({op for ops in self.latency.values() for op in ops})

    def overall(self, op: str, since: int | None = None) -> Histogram:
        h: Histogram = {}
        for sec, ops in self.latency.items():
            if (since is None or sec >= since) and op in ops:
                merge_into(h, ops[op])
        return h

    def errors_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for kinds in self.errors.values():
            for kind, n in kinds.items():
                out[kind] += n
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def errors_of(self, op: str) -> int:
        return sum(
            n for kinds in self.errors.values() for kind, n in kinds.items() if kind.startswith(op + ":")
        )
