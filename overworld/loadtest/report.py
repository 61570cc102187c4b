"""The report of a run: the summary table with each operation's verdict against its p99 objective,
`report.json` (everything, per second), `report.md`, and PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overworld.loadtest.metrics import count, maximum, merge_into, percentile
from overworld.loadtest.plan import GENERATOR_OPS, OPERATIONS, START, WHOLE_LOGIN, Plan
from overworld.loadtest.runner import Outcome


@dataclass
class Objectives:
    p99_ms: float
    matched_p99_ms: float  # add → matched waits for a matchmaker pass: its own objective
    max_error_rate: float

    def of(self, op: str) -> float:
        return self.matched_p99_ms if op == "matchmaker_matched" else self.p99_ms


def build(plan: Plan, out: Outcome, objectives: Objectives, target: str) -> dict[str, Any]:
    t = out.totals
    seconds = t.seconds()
    rows: list[dict[str, Any]] = []
    logins = count(t.overall("login")) + count(t.overall("login" + START))
    for op in (*OPERATIONS, WHOLE_LOGIN):
        h = t.overall(op)
        errors = t.errors_of(op)
        if op.startswith("login"):
            # a failed sign-up or socket open is a failed log-in
            phases = ("", START) if op == WHOLE_LOGIN else (op.removeprefix("login"),)
            errors = sum(t.errors_of("signup" + ph) + t.errors_of("socket_open" + ph) for ph in phases)
        if op == WHOLE_LOGIN:
            # every player's log-in, the start burst's and the ramp's: only when there were both
            ramp, start = t.overall("login"), t.overall("login" + START)
            if not (ramp and start):
                continue
            h = {}
            merge_into(h, ramp)
            merge_into(h, start)
        if not h and not errors:
            continue
        done = count(h)
        p99 = percentile(h, 99)
        rate = errors / (done + errors) if done + errors else 0.0
        objective = objectives.of(op)
        ok_latency = p99 is not None and p99 <= objective
        ok_errors = rate <= objectives.max_error_rate
        rows.append({
            "operation": op, "ok": done, "errors": errors, "error_rate": rate,
            "p50_ms": percentile(h, 50), "p90_ms": percentile(h, 90), "p99_ms": p99,
            "max_ms": maximum(h), "objective_p99_ms": objective,
            "pass": bool(ok_latency and ok_errors) if done else False,
            "why": "" if ok_latency and ok_errors else (
                "no successful call" if not done else
                f"p99 {p99:.1f} ms > {objective:g} ms" if not ok_latency else
                f"{rate:.1%} errors > {objectives.max_error_rate:.1%}"
            ),
        })  # fmt: skip
    closures = sum(n for kind, n in t.errors_by_kind().items() if kind.startswith("connection:"))
    if closures:
        rate = closures / logins if logins else 1.0
        rows.append({
            "operation": "connection", "ok": logins, "errors": closures, "error_rate": rate,
            "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "objective_p99_ms": None,
            "pass": rate <= objectives.max_error_rate,
            "why": "" if rate <= objectives.max_error_rate else f"{closures} sockets lost",
        })  # fmt: skip
    lag = t.overall("start_lag")
    generator = {
        "processes": plan.processes,
        "cpu_sec": out.cpu_sec,
        "cpu_cores_avg": out.cpu_sec / out.ended if out.ended else 0.0,
        "cpu_us_per_request": out.cpu_sec / out.requests * 1e6 if out.requests else None,
        "start_lag_p99_ms": percentile(lag, 99),
        "start_lag_max_ms": maximum(lag),
        "behind": bool(lag) and (percentile(lag, 99) or 0.0) > 100.0,
    }
    series: list[dict[str, Any]] = []
    every_second = list(range(seconds[0], seconds[-1] + 1)) if seconds else []
    for sec, connected in zip(every_second, t.connected_series(every_second), strict=True):
        ops = t.latency.get(sec, {})
        series.append({
            "second": sec,
            "connected": connected,
            "ops": {op: count(h) for op, h in ops.items() if op not in GENERATOR_OPS},
            "p50_ms": {op: percentile(h, 50) for op, h in ops.items()},
            "p99_ms": {op: percentile(h, 99) for op, h in ops.items()},
            "errors": dict(t.errors.get(sec, {})),
            "generator_cpu": out.cpu_by_sec.get(sec, 0.0),
        })  # fmt: skip
    fatal = list(out.fatal)
    bugs = sum(n for kind, n in t.errors_by_kind().items() if kind.startswith("generator:"))
    if bugs:  # the generator's own failures: its figures cannot be trusted
        fatal.append(f"{bugs} players stopped by an error of the generator (see errors)")
    passed = bool(rows) and all(r["pass"] for r in rows) and not fatal
    attempted = sum(r["ok"] + r["errors"] for r in rows if r["operation"] in ("login", "login" + START))
    peak = max((s["connected"] for s in series), default=0)
    return {
        "scenario": plan.scenario,
        "target": target,
        "run_id": plan.run_id,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(plan.start_wall)),
        "duration_sec": round(out.ended, 1),
        "ramp_start_sec": round(out.ramp_start, 1),
        "settings": {
            "players": plan.players,
            "start_players": plan.start_players,
            "ramp_sec": plan.ramp_sec,
            "hold_sec": plan.hold_sec,
            "auth": plan.auth,
            "ping_every": plan.ping_every,
            "chat_every": plan.chat_every,
            "chat_room_size": plan.chat_room_size,
            "leaderboard": plan.leaderboard,
            "leaderboard_every": plan.leaderboard_every,
            "matchmaker_every": plan.matchmaker_every,
            "matchmaker_size": plan.matchmaker_size,
            "wallet_every": plan.wallet_every,
            "purchase_every": plan.purchase_every,
            "duration_cap_sec": plan.duration_sec,
            "max_requests": plan.max_requests,
            "processes": plan.processes,
        },
        "objectives": {
            "p99_ms": objectives.p99_ms,
            "matchmaker_matched_p99_ms": objectives.matched_p99_ms,
            "max_error_rate": objectives.max_error_rate,
        },
        "stopped_by": sorted(set(out.stop_reasons)) + (["interrupted"] if out.interrupted else []),
        "fatal": fatal,
        "requests": out.requests,
        "players_logged_in": logins,
        "players_not_done": plan.players - attempted,  # not started, or in flight, at the end
        "peak_connected": peak,
        "leaderboard_writers": out.leaderboard_writers,
        "operations": rows,
        "errors": t.errors_by_kind(),
        "generator": generator,
        "series": series,
        "verdict": "PASS" if passed else "FAIL",
    }


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def summary_table(report: dict[str, Any]) -> str:
    """The summary as an aligned text table (also valid Markdown)."""
    head = ["operation", "ok", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "p99 objective", "verdict"]
    lines = [head]
    for r in report["operations"]:
        lines.append([
            r["operation"], f"{r['ok']:,}", f"{r['errors']:,}", _ms(r["p50_ms"]), _ms(r["p90_ms"]),
            _ms(r["p99_ms"]), _ms(r["max_ms"]),
            "-" if r["objective_p99_ms"] is None else f"{r['objective_p99_ms']:g} ms",
            "pass" if r["pass"] else f"FAIL ({r['why']})",
        ])  # fmt: skip
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    out = []
    for n, row in enumerate(lines):
        cells = [c.ljust(widths[i]) if i in (0, 8) else c.rjust(widths[i]) for i, c in enumerate(row)]
        out.append("| " + " | ".join(cells) + " |")
        if n == 0:
            out.append("|" + "|".join(("-" * (w + 2)) if i in (0, 8) else ("-" * (w + 1) + ":")
                                      for i, w in enumerate(widths)) + "|")  # fmt: skip
    return "\n".join(out)


def headline(report: dict[str, Any]) -> str:
    g = report["generator"]
    stopped = ", ".join(report["stopped_by"]) or "-"
    lines = [
        f"scenario {report['scenario']} against {report['target']}: {report['duration_sec']} s, "
        f"{report['players_logged_in']:,} players logged in"
        + (
            f" ({report['players_not_done']:,} not started or unfinished at the end)"
            if report["players_not_done"]
            else ""
        )
        + f", peak {report['peak_connected']:,} connected, "
        f"{report['requests']:,} requests (ended: {stopped})",
        f"generator: {g['processes']} process(es), {g['cpu_cores_avg']:.2f} core on average "
        f"({_ms(g['cpu_us_per_request'])} µs per request), "
        f"start lag p99 {_ms(g['start_lag_p99_ms'])} ms"
        + (
            " (BEHIND its schedule: the figures measure the generator too; try --processes)"
            if g["behind"]
            else ""
        ),
    ]
    if report["errors"]:
        lines.append("errors: " + "; ".join(f"{k} x{n:,}" for k, n in list(report["errors"].items())[:8]))
    for fatal in report["fatal"]:
        lines.append(f"generator failure: {fatal}")
    lines.append(f"verdict: {report['verdict']}")
    return "\n".join(lines)


def write(report: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    images = plot(report, out_dir)
    md = [
        f"# Load test: {report['scenario']}",
        "",
        f"Started {report['started']} against `{report['target']}`, run id `{report['run_id']}`.",
        "",
        "```",
        headline(report),
        "```",
        "",
        summary_table(report),
        "",
        "Settings: " + ", ".join(f"{k} {v}" for k, v in report["settings"].items()) + ".",
        "",
        *[f"![{p.stem}]({p.name})" for p in images],
        "",
    ]
    (out_dir / "report.md").write_text("\n".join(md))
    return [out_dir / "report.json", out_dir / "report.md", *images]


def plot(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """throughput.png (operations/s and players connected), latency.png (p50 and p99 per second),
    errors.png (errors per second by kind)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = report["series"]
    secs = [s["second"] for s in series]
    ops = [r["operation"] for r in report["operations"] if r["operation"] != "connection"]
    paths = []

    fig, ax = plt.subplots(figsize=(10, 5))
    for op in ops:
        ax.plot(secs, [s["ops"].get(op, 0) for s in series], label=op, linewidth=1.2)
    ax.set_xlabel("seconds")
    ax.set_ylabel("operations / s")
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    twin.plot(secs, [s["connected"] for s in series], color="black", linestyle="--", label="connected")
    twin.set_ylabel("players connected")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    ax.set_title(f"{report['scenario']}: throughput")
    paths.append(_save(fig, out_dir / "throughput.png"))

    fig, ax = plt.subplots(figsize=(10, 5))
    for n, op in enumerate(ops):
        color = f"C{n % 10}"
        p99 = [s["p99_ms"].get(op) for s in series]
        p50 = [s["p50_ms"].get(op) for s in series]
        ax.plot(secs, [float("nan") if v is None else v for v in p99], color=color, label=f"{op} p99")
        ax.plot(
            secs, [float("nan") if v is None else v for v in p50], color=color, linestyle=":", linewidth=1
        )
    ax.axhline(report["objectives"]["p99_ms"], color="red", linewidth=1, label="p99 objective")
    ax.set_yscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel("latency ms (p99 solid, p50 dotted)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{report['scenario']}: latency percentiles per second")
    paths.append(_save(fig, out_dir / "latency.png"))

    fig, ax = plt.subplots(figsize=(10, 4))
    kinds = sorted({k for s in series for k in s["errors"]})
    bottom = [0] * len(series)
    for kind in kinds:
        values = [s["errors"].get(kind, 0) for s in series]
        ax.bar(secs, values, bottom=bottom, label=kind[:60], width=1.0)
        bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    if not kinds:
        ax.text(0.5, 0.5, "no errors", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("seconds")
    ax.set_ylabel("errors / s")
    ax.grid(alpha=0.3)
    if kinds:
        ax.legend(loc="upper left", fontsize=7)
    ax.set_title(f"{report['scenario']}: errors")
    paths.append(_save(fig, out_dir / "errors.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    # fixed margins: tight_layout costs as much as the drawing itself
    fig.subplots_adjust(left=0.08, right=0.92, top=0.92, bottom=0.11)
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
