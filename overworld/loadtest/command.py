"""`overworld loadtest URL --scenario S`: the command's flags, the checks before a run (target,
keys, what the scenario needs), the run and its report. Exit status 0 when every objective is met,
1 when one is not (or the run could not be made), 2 for a usage error."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from overworld.loadtest.plan import FUND_RPC, GENERAL_DEFAULTS, SCENARIOS, STORE_BUNDLE, Plan


class UsageError(Exception):
    """Bad flags or a target we refuse (exit status 2)."""


class RunError(Exception):
    """The run could not be made (exit status 1)."""


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "loadtest",
        help="drive a server with simulated players and report against a p99 objective",
        description="Simulated players sign up, open a socket and act (ping, chat, leaderboard, "
        "matchmaker, wallet, store purchase) while a live view shows progress; at the end a summary table, "
        "report.json, report.md and PNG plots go to --out, and the exit status is 0 if every "
        "operation met its p99 objective, 1 if not, 2 for a usage error. Each scenario sets "
        "defaults for the flags below; flags given override them.",
    )
    p.add_argument("url", help="the server, e.g. http://127.0.0.1:7350")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="surge", help="default: surge")
    g = p.add_argument_group("players")
    g.add_argument("--players", type=_count, help="players in all (surge: 12000)")
    g.add_argument("--start-players", type=_count0, help="players logged in before the ramp (surge: 500)")
    g.add_argument("--ramp-sec", type=_seconds, help="seconds over which the others arrive (surge: 60)")
    g.add_argument("--hold-sec", type=_seconds, help="seconds the run goes on after the ramp (surge: 10)")
    g.add_argument("--auth", choices=("device", "email"), default="device",
                   help="how players sign up (email: the server hashes a password each time)")  # fmt: skip
    a = p.add_argument_group("actions while connected (seconds between two, per player; 0: never)")
    a.add_argument("--ping-every", type=_seconds, help="socket ping (surge: 5)")
    a.add_argument("--chat-every", type=_seconds, help="chat message to the player's room (surge: 30)")
    a.add_argument("--chat-room-size", type=_count, help="players per chat room (default 50)")
    a.add_argument("--chat-persist", action=argparse.BooleanOptionalAction, default=True,
                   help="join rooms with persistence (messages stored; default on)")  # fmt: skip
    a.add_argument("--leaderboard-every", type=_seconds, help="leaderboard record write (surge: 60)")
    a.add_argument("--leaderboard", default="loadtest", help="leaderboard id (default loadtest)")
    a.add_argument("--matchmaker-every", type=_seconds,
                   help="wait after a match before the next matchmaker ticket (surge: 60)")  # fmt: skip
    a.add_argument("--matchmaker-size", type=_count, help="players per match (default 2)")
    a.add_argument("--wallet-every", type=_seconds, help="wallet read (purchases: 1)")
    a.add_argument(
        "--purchase-every",
        type=_seconds,
        help=f"store purchase of the bundle {STORE_BUNDLE} with virtual currency (each player "
        f"funded first by the RPC {FUND_RPC} of examples/loadtest; purchases: 1)",
    )
    b = p.add_argument_group("bounds and objectives")
    b.add_argument(
        "--duration", type=_seconds, default=300.0, help="hard cap on the run, seconds (default 300)"
    )
    b.add_argument("--max-requests", type=_count0, default=5_000_000,
                   help="stop after this many requests (default 5,000,000; 0: no cap)")  # fmt: skip
    b.add_argument("--p99-ms", type=_positive, default=200.0, help="p99 objective of every operation (200)")
    b.add_argument("--matched-p99-ms", type=_positive, default=2000.0,
                   help="p99 objective of matchmaker add → matched (2000: it waits for a pass)")  # fmt: skip
    b.add_argument("--max-error-rate", type=float, default=0.01, help="errors allowed per operation (0.01)")
    b.add_argument(
        "--timeout", type=_positive, default=10.0, help="seconds before a request counts as failed"
    )
    t = p.add_argument_group("target and generator")
    t.add_argument("--server-key", default="defaultkey", help="the title's server key (default defaultkey)")
    t.add_argument("--http-key", default="defaulthttpkey",
                   help=f"the title's http key, for --setup and the RPC {FUND_RPC} (purchases)")  # fmt: skip
    t.add_argument("--setup", action="store_true",
                   help="create the leaderboard first (RPC loadtest_setup of examples/loadtest)")  # fmt: skip
    t.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a target not on this machine (a load test can bring a server down)",
    )
    t.add_argument("--processes", type=_count, default=1, help="generator processes (default 1)")
    t.add_argument("--http-connections", type=_count, default=64, help="keep-alive connections per process")
    t.add_argument("--login-concurrency", type=_count, default=64,
                   help="log-ins in flight per process for the players there from the start")  # fmt: skip
    t.add_argument("--out", type=Path, help="report folder (default ./loadtest-<scenario>-<time>)")
    t.add_argument("--quiet", action="store_true", help="no live progress")
    p.set_defaults(func=main)


def _count(v: str) -> int:
    n = _count0(v)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {v!r}")
    return n


def _count0(v: str) -> int:
    try:
        n = int(v.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {v!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {v!r}")
    return n


def _seconds(v: str) -> float:
    try:
        n = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {v!r}") from None
    if not n >= 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, got {v!r}")
    return n


def _positive(v: str) -> float:
    n = _seconds(v)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected more than 0, got {v!r}")
    return n


def target(url: str, allow_remote: bool) -> tuple[str, int]:
    """(host, port) of the URL; refuses a host that is not this machine without `allow_remote`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "ws") or not parts.hostname:
        if parts.scheme in ("https", "wss"):
            raise UsageError(f"{url}: TLS is not supported; point it at the server's plain HTTP port")
        raise UsageError(f"{url}: expected http://HOST:PORT")
    host = parts.hostname
    try:
        port = parts.port or 80
    except ValueError:
        raise UsageError(f"{url}: bad port") from None
    if not allow_remote and not is_loopback(host):
        raise UsageError(
            f"refusing {host}: not this machine, and a load test can take a server down; "
            "pass --allow-remote if it is yours to load"
        )
    return host, port


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0])).is_loopback for info in infos)


def make_plan(args: argparse.Namespace, host: str, port: int) -> Plan:
    preset = {**GENERAL_DEFAULTS, **SCENARIOS[args.scenario]}

    def pick(name: str) -> Any:
        given = getattr(args, name)
        return preset[name] if given is None else given

    players = int(pick("players"))
    if args.start_players is None:  # the scenario's share of players there from the start
        start = round(players * float(preset["start_players"]) / float(preset["players"]))
    else:
        start = args.start_players
    if start > players:
        raise UsageError(f"--start-players {start} is more than --players {players}")
    ramp = float(pick("ramp_sec")) if start < players else 0.0  # nobody left to arrive
    if start < players and ramp <= 0:
        raise UsageError("--ramp-sec must be more than 0 when --start-players is below --players")
    if not 0 <= args.max_error_rate < 1:
        raise UsageError("--max-error-rate must be from 0 to below 1")
    if args.processes > players:
        raise UsageError(f"--processes {args.processes} is more than --players {players}")
    return Plan(
        scenario=args.scenario, host=host, port=port, server_key=args.server_key,
        run_id=uuid.uuid4().hex[:8], start_wall=0.0, players=players, start_players=start,
        ramp_sec=ramp, hold_sec=float(pick("hold_sec")), duration_sec=args.duration,
        max_requests=args.max_requests, processes=args.processes, auth=args.auth,
        ping_every=float(pick("ping_every")), chat_every=float(pick("chat_every")),
        chat_room_size=int(pick("chat_room_size")), chat_persist=args.chat_persist,
        leaderboard=args.leaderboard, leaderboard_every=float(pick("leaderboard_every")),
        matchmaker_every=float(pick("matchmaker_every")), matchmaker_size=int(pick("matchmaker_size")),
        wallet_every=float(pick("wallet_every")), purchase_every=float(pick("purchase_every")),
        http_key=args.http_key, timeout_sec=args.timeout,
        http_connections=args.http_connections, login_concurrency=args.login_concurrency,
    )  # fmt: skip


async def preflight(plan: Plan, setup: bool, http_key: str) -> None:
    """One probe account: the server answers, the key is right, and what the scenario needs is
    there (the leaderboard; the wallet call; the store's bundle and the RPC that funds its buyers)."""
    import base64

    import orjson

    from overworld.loadtest.client import ClientError, HttpPool, token_user

    pool = HttpPool(plan.host, plan.port, 2, plan.timeout_sec)
    where = f"http://{plan.host}:{plan.port}"
    basic = "Authorization: Basic " + base64.b64encode(f"{plan.server_key}:".encode()).decode() + "\r\n"
    try:
        try:
            status, body = await pool.request(
                "POST", "/v2/account/authenticate/device?create=true",
                orjson.dumps({"id": f"lt-{plan.run_id}-probe"}), basic,
            )  # fmt: skip
        except ClientError as exc:
            raise RunError(f"{where} does not answer ({exc})") from None
        if status == 401:
            raise RunError(f"{where} refused the server key (401): give the title's key with --server-key")
        if status != 200:
            raise RunError(f"{where}: sign-up answered HTTP {status}: {body[:200]!r}")
        token = orjson.loads(body)["token"]
        bearer = f"Authorization: Bearer {token}\r\n"
        if plan.leaderboard_every > 0:
            if setup:
                path = f"/v2/rpc/loadtest_setup?unwrap=true&http_key={quote(http_key)}"
                status, body = await pool.request(
                    "POST", path, orjson.dumps({"leaderboard": plan.leaderboard})
                )
                if status != 200:
                    raise RunError(
                        f"--setup: RPC loadtest_setup answered HTTP {status} ({_message(body)}): load "
                        "examples/loadtest as server code on the target and give its --http-key"
                    )
            status, body = await pool.request(
                "GET", f"/v2/leaderboard/{quote(plan.leaderboard, safe='')}?limit=1", b"", bearer
            )
            if status == 404:
                raise RunError(
                    f"the target has no leaderboard {plan.leaderboard!r}: create it in its server code "
                    "(examples/loadtest does, and --setup asks it to), or name one with --leaderboard"
                )
            if status != 200:
                raise RunError(f"leaderboard {plan.leaderboard!r}: HTTP {status} ({_message(body)})")
        if plan.wallet_every > 0:
            status, body = await pool.request("GET", "/v2/overworld/wallet", b"", bearer)
            if status != 200:
                raise RunError(f"the target does not serve GET /v2/overworld/wallet (HTTP {status})")
        if plan.purchase_every > 0:
            await _check_store(plan, pool, bearer, token_user(token))
    finally:
        pool.close()


async def _check_store(plan: Plan, pool: Any, bearer: str, user_id: str) -> None:
    """The purchases' needs: the bundle for sale in the store, and the RPC that funds a player
    (asked for nothing, for the probe account: it checks the RPC and the http key)."""
    import orjson

    status, body = await pool.request("GET", "/v2/overworld/store", b"", bearer)
    if status != 200:
        raise RunError(f"the target does not serve GET /v2/overworld/store (HTTP {status} {_message(body)})")
    bundles = {b.get("id"): b for b in orjson.loads(body).get("bundles") or []}
    if STORE_BUNDLE not in bundles or not bundles[STORE_BUNDLE].get("price"):
        raise RunError(
            f"the target's store has no bundle {STORE_BUNDLE!r} for sale with virtual currency: load "
            "examples/loadtest as server code on the target (it sets the bundle up at start), or "
            "--purchase-every 0"
        )
    path = f"/v2/rpc/{FUND_RPC}?unwrap=true&http_key={quote(plan.http_key, safe='')}"
    status, body = await pool.request("POST", path, orjson.dumps({"user_id": user_id, "purchases": 0}))
    if status == 404:
        raise RunError(
            f"the target has no RPC {FUND_RPC}, which gives each player the currency it buys "
            "with: load examples/loadtest as server code on the target, or --purchase-every 0"
        )
    if status == 401:
        raise RunError(f"RPC {FUND_RPC}: the target refused the http key (401): give it with --http-key")
    if status != 200:
        raise RunError(f"RPC {FUND_RPC} answered HTTP {status} ({_message(body)})")


def _message(body: bytes) -> str:
    import orjson

    try:
        return str(orjson.loads(body).get("message", ""))[:200]
    except (orjson.JSONDecodeError, AttributeError):
        return body[:200].decode("utf-8", "replace")


def main(args: argparse.Namespace) -> int:
    try:
        return _main(args)
    except UsageError as exc:
        print(f"overworld loadtest: {exc}", file=sys.stderr)
        return 2
    except RunError as exc:
        print(f"overworld loadtest: {exc}", file=sys.stderr)
        return 1


def _main(args: argparse.Namespace) -> int:
    from overworld.loadtest import report as reporting
    from overworld.loadtest import runner

    host, port = target(args.url, args.allow_remote)
    plan = make_plan(args, host, port)
    try:
        import matplotlib  # noqa: F401 - checked before a run rather than after it
        import rich  # noqa: F401
    except ImportError as exc:
        raise RunError(f"{exc.name} is missing: install overworld[loadtest]") from None
    out_dir = args.out or Path(f"loadtest-{plan.scenario}-{time.strftime('%Y%m%d-%H%M%S')}")
    asyncio.run(preflight(plan, args.setup, args.http_key))
    plan.start_wall = time.time()
    live = not args.quiet and sys.stdout.isatty()
    if not args.quiet:
        print(
            f"overworld loadtest {plan.scenario}: {plan.players:,} players ({plan.start_players:,} at "
            f"once, the rest over {plan.ramp_sec:g} s, then {plan.hold_sec:g} s), {plan.processes} "
            f"process(es), run id {plan.run_id}, against http://{host}:{port}",
            flush=True,
        )
    outcome = runner.run(plan, live=live, progress_lines=not args.quiet and not live)
    objectives = reporting.Objectives(args.p99_ms, args.matched_p99_ms, args.max_error_rate)
    report = reporting.build(plan, outcome, objectives, f"http://{host}:{port}")
    files = reporting.write(report, out_dir)
    print(reporting.headline(report))
    print(reporting.summary_table(report))
    print("report: " + ", ".join(str(f) for f in files))
    sys.stdout.flush()
    return 0 if report["verdict"] == "PASS" else 1
