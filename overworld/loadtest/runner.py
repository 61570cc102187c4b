"""The coordinator: starts the generator processes, merges what they report each second, shows
the live progress, and stops them at the end (or on Ctrl-C)."""

from __future__ import annotations

import contextlib
import multiprocessing
import queue as queue_module
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from overworld.loadtest.metrics import Totals, count, percentile
from overworld.loadtest.plan import OPERATIONS, START, Plan
from overworld.loadtest.worker import worker_main


@dataclass
class Outcome:
    totals: Totals
    ramp_start: float = 0.0  # seconds after the start
    ended: float = 0.0  # seconds after the start
    stop_reasons: list[str] = field(default_factory=list)
    leaderboard_writers: int = 0
    requests: int = 0
    cpu_sec: float = 0.0  # the generator processes' CPU time
    cpu_by_sec: dict[int, float] = field(default_factory=dict)
    fatal: list[str] = field(default_factory=list)
    interrupted: bool = False


def run(plan: Plan, live: bool, progress_lines: bool) -> Outcome:
    # fork: a generator starts at once (nothing to import again); this process has no thread yet
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx: Any = multiprocessing.get_context(method)
    q: Any = ctx.Queue()
    stop = ctx.Event()
    go = ctx.Event()
    ramp_start = ctx.Value("d", 0.0)
    procs = [
        ctx.Process(
            target=worker_main, args=(i, plan, q, stop, go, ramp_start), name=f"loadtest-{i}", daemon=True
        )
        for i in range(plan.processes)
    ]
    out = Outcome(totals=Totals())
    for p in procs:
        p.start()
    # the report's plotting library, imported while the run goes on (it takes a second or more)
    threading.Thread(target=_import_plotting, name="import-matplotlib", daemon=True).start()
    ready = done = 0
    display = _Display(plan, out) if live else None
    last_line = 0.0
    hard_end = plan.start_wall + plan.duration_sec + 30.0
    interrupts = 0
    try:
        if display is not None:
            display.start()
        while done < len(procs):
            try:
                try:
                    msg = q.get(timeout=0.25)
                except queue_module.Empty:
                    msg = None
                if msg is not None:
                    kind = msg[0]
                    if kind == "tick":
                        _, worker, part, cpu, _requests = msg
                        out.totals.add(worker, part)
                        sec = int(time.time() - plan.start_wall)
                        out.cpu_by_sec[sec] = out.cpu_by_sec.get(sec, 0.0) + cpu
                    elif kind == "ready":
                        ready += 1
                        if ready == len(procs):
                            ramp_start.value = time.time()
                            out.ramp_start = ramp_start.value - plan.start_wall
                            go.set()
                    elif kind == "done":
                        _, worker, part, reason, writers, requests, cpu_total = msg
                        out.cpu_sec += cpu_total
                        out.totals.add(worker, part)
                        out.stop_reasons.append(reason)
                        out.leaderboard_writers += len(writers)
                        out.requests += requests
                        done += 1
                    elif kind == "fatal":
                        out.fatal.append(f"process {msg[1]}: {msg[2]}")
                        done += 1
                if any(not p.is_alive() and p.exitcode not in (0, None) for p in procs) and not out.fatal:
                    out.fatal.append("a generator process died")
                    break
                if time.time() > hard_end:
                    out.fatal.append("the generator processes did not stop in time")
                    break
                if display is not None:
                    display.update()
                elif progress_lines and time.time() - last_line >= 10.0:
                    last_line = time.time()
                    print(_line(plan, out), flush=True)
            except KeyboardInterrupt:
                interrupts += 1
                out.interrupted = True
                stop.set()
                if interrupts > 1:
                    break
    finally:
        if display is not None:
            display.stop()
        stop.set()
        for p in procs:
            p.join(timeout=5.0)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2.0)
        with contextlib.suppress(Exception):
            q.close()
    out.ended = time.time() - plan.start_wall
    return out


def _import_plotting() -> None:
    with contextlib.suppress(Exception):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot


def _fmt(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:,.1f}" if ms < 100 else f"{ms:,.0f}"


def _line(plan: Plan, out: Outcome) -> str:
    t = out.totals
    secs = t.seconds()
    last = secs[-1] if secs else 0
    start, login = t.overall("login" + START), t.overall("login")
    shown = login or start  # the ramp's log-ins once it has begun
    which = "" if login else "start, "
    errors = sum(t.errors_by_kind().values())
    return (
        f"[{last:>4d} s] connected {t.connected_now():,}/{plan.players:,}  "
        f"log-ins {count(start) + count(login):,} "
        f"({which}p50 {_fmt(percentile(shown, 50))} / p99 {_fmt(percentile(shown, 99))} ms)  "
        f"errors {errors:,}"
    )


class _Display:
    """The live view (rich), redrawn twice a second."""

    def __init__(self, plan: Plan, out: Outcome) -> None:
        from rich.console import Console
        from rich.live import Live

        self.plan = plan
        self.out = out
        self.console = Console(file=sys.stdout)
        self.live = Live(console=self.console, refresh_per_second=2, transient=False, auto_refresh=False)
        self.last = 0.0

    def start(self) -> None:
        self.live.start()

    def stop(self) -> None:
        self.update(force=True)
        self.live.stop()

    def update(self, force: bool = False) -> None:
        if not force and time.time() - self.last < 0.5:
            return
        self.last = time.time()
        self.live.update(self.render(), refresh=True)

    def render(self) -> Any:
        from rich.table import Table

        t = self.out.totals
        secs = t.seconds()
        last = secs[-1] if secs else 0
        elapsed = time.time() - self.plan.start_wall
        table = Table(
            title=f"overworld loadtest {self.plan.scenario} → {self.plan.host}:{self.plan.port}   "
            f"{elapsed:5.0f} s   connected {t.connected_now():,} / {self.plan.players:,}",
            title_justify="left",
        )
        for name in ("operation", "done", "per s", "p50 ms", "p99 ms", "errors"):
            table.add_column(name, justify="left" if name == "operation" else "right")
        for op in OPERATIONS:
            h = t.overall(op)
            errors = t.errors_of(op)
            if not h and not errors:
                continue
            recent = t.latency.get(last - 1, {}).get(op, {})
            table.add_row(
                op, f"{count(h):,}", f"{count(recent):,}", _fmt(percentile(h, 50)), _fmt(percentile(h, 99)),
                f"{errors:,}",
            )  # fmt: skip
        other = sum(n for kind, n in t.errors_by_kind().items() if kind.startswith("connection:"))
        if other:
            table.add_row("connection", "", "", "", "", f"{other:,}")
        return table
