"""`overworld loadtest` against a real server started here: each scenario briefly (tens of players,
a few seconds), the report against what the server holds, the plots, the verdict and exit codes,
and the refusal of a remote target."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overworld.loadtest.client import _parse_response
from overworld.loadtest.metrics import Totals, bucket, percentile
from overworld.loadtest.plan import Plan
from overworld.loadtest.report import Objectives, build, summary_table
from overworld.loadtest.runner import Outcome
from tests.deployments import Deployment, deploy
from tests.support import ROOT, run

# A quick matchmaker so that add -> matched is seen within a short run.
SERVER_ENV = {
    "OVERWORLD_RUNTIME_PATH": str(ROOT / "examples" / "loadtest"),
    "OVERWORLD_MATCHMAKER_INTERVAL_MS": "200",
}
# Objectives no loaded CI machine misses: these tests check the counting, not the server's speed.
LOOSE = ["--p99-ms", "20000", "--matched-p99-ms", "20000", "--quiet", "--timeout", "20"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One server on SQLite for the module: the tool is a client, the backend behind the API does
    not change what it does (the same checks against PostgreSQL cost CI ~30 s more)."""
    with deploy("sqlite", tmp_path_factory.mktemp("lt"), SERVER_ENV) as running:
        yield running


def loadtests(*runs: tuple[str, Path, list[str]]) -> list[tuple[int, str, dict[str, Any] | None]]:
    """Run the command once per (url, out, args), all at once (most of a short run is waiting);
    [(exit status, output, report.json or None)]."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "overworld", "loadtest", url, "--out", str(out), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        )
        for url, out, args in runs
    ]  # fmt: skip
    results = []
    for proc, (_, out, _) in zip(procs, runs, strict=True):
        output, _ = proc.communicate(timeout=120)
        report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
        results.append((proc.returncode, output, report))
    return results


def loadtest(url: str, out: Path, *args: str) -> tuple[int, str, dict[str, Any] | None]:
    return loadtests((url, out, list(args)))[0]


def query(dep: Deployment, sql: str, *params: Any) -> int:
    """One number from the server's database."""
    if dep.kind == "sqlite":
        db = sqlite3.connect(Path(dep.env["OVERWORLD_DATA_DIR"]) / "overworld.db")
        try:
            return int(db.execute(sql.replace("$1", "?"), params).fetchone()[0])
        finally:
            db.close()

    async def pg() -> int:
        import asyncpg

        conn = await asyncpg.connect(dep.env["OVERWORLD_DATABASE_URL"])
        try:
            return int(await conn.fetchval(sql, *params))
        finally:
            await conn.close()

    return int(run(pg()))


def op(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in report["operations"] if r["operation"] == name)


def assert_png(path: Path) -> None:
    from PIL import Image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size[0] >= 600 and image.size[1] >= 300


def test_surge_report_matches_what_the_server_holds(server: Deployment, tmp_path: Path) -> None:
    code, output, report = loadtest(
        server.url, tmp_path, "--scenario", "surge", "--players", "40", "--start-players", "10",
        "--ramp-sec", "2", "--hold-sec", "2", "--ping-every", "1", "--chat-every", "1",
        "--leaderboard-every", "1", "--matchmaker-every", "0.5", *LOOSE,
    )  # fmt: skip
    assert code == 0, output
    assert report is not None and report["verdict"] == "PASS"
    run_id = report["run_id"]
    # every player signed up and connected; the probe account of the checks before the run is one more
    assert report["players_logged_in"] == 40 and report["peak_connected"] == 40
    for phase, players in (("", 30), ("_start", 10)):  # the ramp's arrivals and those there from the start
        assert op(report, "login" + phase)["ok"] == op(report, "signup" + phase)["ok"] == players
        assert op(report, "socket_open" + phase)["ok"] == players
    devices = query(server, "SELECT count(*) FROM user_devices WHERE id LIKE $1", f"lt-{run_id}-%")
    assert devices == 40 + 1
    # every acknowledged leaderboard write left its player's record
    writers = query(
        server,
        "SELECT count(*) FROM leaderboard_records r JOIN user_devices d ON d.user_id = r.owner_id "
        "AND d.title_id = r.title_id WHERE r.leaderboard_id = 'loadtest' AND d.id LIKE $1",
        f"lt-{run_id}-%",
    )
    assert writers == report["leaderboard_writers"] > 0
    # every acknowledged chat message is stored (rooms join with persistence)
    stored = query(
        server, "SELECT count(*) FROM channel_messages WHERE channel_id LIKE $1", f"%lt-{run_id}-%"
    )
    assert stored == op(report, "chat_send")["ok"] > 0
    assert op(report, "chat_delivery")["ok"] >= stored  # each message reaches its sender at least
    for name in ("ping", "chat_join", "leaderboard_write", "matchmaker_add", "matchmaker_matched"):
        assert op(report, name)["ok"] > 0, name
    assert op(report, "matchmaker_matched")["ok"] <= op(report, "matchmaker_add")["ok"]
    assert report["errors"] == {}
    # the series cover the run, and the connected count reaches everyone
    assert max(s["connected"] for s in report["series"]) == 40
    for name in ("throughput.png", "latency.png", "errors.png"):
        assert_png(tmp_path / name)
    md = (tmp_path / "report.md").read_text()
    assert "| login " in md and "![latency](latency.png)" in md
    assert "verdict: PASS" in output and "| operation" in output


def test_chat_storm_matchmaking_rush_leaderboard_burst_purchases(server: Deployment, tmp_path: Path) -> None:
    common = ["--players", "24", "--hold-sec", "2", *LOOSE]
    chat, mm, lb, shop = loadtests(
        (
            server.url,
            tmp_path / "chat",
            ["--scenario", "chat-storm", "--chat-room-size", "8", "--processes", "2", *common],
        ),
        (
            server.url,
            tmp_path / "mm",
            ["--scenario", "matchmaking-rush", "--ramp-sec", "1", *common, "--hold-sec", "5"],
        ),
        (server.url, tmp_path / "lb", ["--scenario", "leaderboard-burst", *common]),
        (server.url, tmp_path / "shop", ["--scenario", "purchases", *common]),
    )
    for code, output, report in (chat, mm, lb, shop):
        assert code == 0 and report is not None, output
    code, output, report = chat
    assert report is not None
    sent = op(report, "chat_send")["ok"]
    assert sent > 0 and report["settings"]["processes"] == 2  # two generator processes, merged
    # rooms of 8: each message reaches the 8 members, but the last ones may be cut off by the end
    assert sent * 8 * 0.8 <= op(report, "chat_delivery")["ok"] <= sent * 8

    report = mm[2]
    assert report is not None and op(report, "matchmaker_matched")["ok"] >= 12

    report = lb[2]
    assert report is not None and report["leaderboard_writers"] == 24
    assert {r["operation"] for r in report["operations"]} == {  # all there from the start
        "login_start",
        "signup_start",
        "socket_open_start",
        "leaderboard_write",
    }

    report = shop[2]
    assert report is not None and op(report, "wallet_get")["ok"] >= 24
    assert report["errors"] == {} and report["settings"]["purchase_every"] == 1
    assert op(report, "wallet_fund")["ok"] == 24  # each player funded once (the probe: asked nothing)
    bought = op(report, "store_purchase")["ok"]
    assert bought >= 24
    # every acknowledged purchase is in the store's records, and charged in the wallet's ledger
    players = f"lt-{report['run_id']}-%"
    mine = "JOIN user_devices d ON d.user_id = x.user_id AND d.title_id = x.title_id WHERE d.id LIKE $1"
    purchases = query(
        server,
        f"SELECT count(*) FROM store_purchases x {mine} AND x.source = 'bundle:loadtest_token'",
        players,
    )
    assert purchases == bought
    charged = query(
        server, f"SELECT count(*) FROM wallet_ledger x {mine} AND x.metadata LIKE '%purchase_id%'", players
    )
    assert charged == bought
    funded = query(
        server, f"SELECT count(*) FROM wallet_ledger x {mine} AND x.metadata LIKE '%\"fund\"%'", players
    )
    assert funded == 24


def test_a_missed_objective_fails_and_the_run_is_bounded(server: Deployment, tmp_path: Path) -> None:
    missed, capped = loadtests(
        (server.url, tmp_path / "missed", ["--scenario", "surge", "--players", "6", "--start-players", "6",
                               "--hold-sec", "1", "--p99-ms", "0.001", "--quiet"]),
        (server.url, tmp_path / "capped", ["--scenario", "surge", "--players", "200", "--start-players", "0",
                               "--ramp-sec", "60", "--max-requests", "30", *LOOSE]),
    )  # fmt: skip
    code, output, report = missed
    assert code == 1, output
    assert report is not None and report["verdict"] == "FAIL"
    assert "FAIL (p99" in output and "verdict: FAIL" in output
    assert not op(report, "login_start")["pass"]

    _, output, report = capped
    assert report is not None, output
    assert "max requests" in report["stopped_by"]
    assert report["duration_sec"] < 30
    assert 30 <= report["requests"] <= 40  # what was in flight when the cap was reached


def test_what_the_store_lacks_is_said(server: Deployment, tmp_path: Path) -> None:
    args = ["--scenario", "purchases", "--players", "2", "--hold-sec", "1", *LOOSE]
    code, output, _ = loadtest(server.url, tmp_path / "key", *args, "--http-key", "wrong")
    assert code == 1 and "RPC loadtest_fund" in output and "http key" in output, output
    # without the bundle (deleted by an operator, then put back as examples/loadtest defines it)
    admin = f"{server.url}/v2/overworld/admin/store/bundles/loadtest_token?http_key=defaulthttpkey"
    definition = {"contents": {"items": {"loadtest_token": 1}}, "price": {"loadtest_coins": 1}}
    assert admin_call("DELETE", admin) == 200
    try:
        code, output, report = loadtest(server.url, tmp_path / "none", *args)
        assert code == 1 and report is None
        assert "no bundle 'loadtest_token'" in output and "examples/loadtest" in output
        # a run that does not buy does not need it
        code, output, _ = loadtest(server.url, tmp_path / "read", *args, "--purchase-every", "0")
        assert code == 0, output
    finally:
        assert admin_call("PUT", admin, definition) == 200


def test_only_the_load_tests_accounts_are_funded(server: Deployment) -> None:
    """loadtest_fund needs the http key, and gives currency to the load test's own accounts only."""
    import uuid

    import httpx

    from overworld.loadtest.client import token_user

    def sign_up(device: str) -> tuple[str, str]:
        res = httpx.post(
            f"{server.url}/v2/account/authenticate/device?create=true",
            json={"id": device}, auth=("defaultkey", ""), timeout=10,
        )  # fmt: skip
        token = res.json()["token"]
        return token, token_user(token)

    def fund(user_id: str, purchases: int, bearer: str = "") -> httpx.Response:
        auth = {"headers": {"Authorization": f"Bearer {bearer}"}} if bearer else {}
        key = "" if bearer else "&http_key=defaulthttpkey"
        return httpx.post(
            f"{server.url}/v2/rpc/loadtest_fund?unwrap=true{key}",
            json={"user_id": user_id, "purchases": purchases, "key": "k"}, timeout=10, **auth,
        )  # fmt: skip

    def ledger_rows(user_id: str) -> int:
        return query(server, "SELECT count(*) FROM wallet_ledger WHERE user_id = $1", user_id)

    player_token, player = sign_up(f"a-game-player-{uuid.uuid4().hex[:8]}")
    _, tester = sign_up(f"lt-{uuid.uuid4().hex[:8]}-0")
    assert fund(player, 5).status_code == 403  # not a load-test account, even with the http key
    assert fund(player, 5, bearer=player_token).status_code in (401, 403)  # a player cannot call it
    assert fund(tester, 1_000_001).status_code == 400
    assert ledger_rows(player) == ledger_rows(tester) == 0
    for _ in range(2):  # a retry with the same key grants once
        res = fund(tester, 5)
        assert res.status_code == 200 and res.json()["granted"] == {"loadtest_coins": 5}
    assert ledger_rows(tester) == 1


def admin_call(method: str, url: str, body: Any = None) -> int:
    import httpx

    return httpx.request(method, url, json=body, timeout=10).status_code


def test_what_the_target_lacks_is_said(server: Deployment, tmp_path: Path) -> None:
    args = ["--scenario", "leaderboard-burst", "--players", "4", "--hold-sec", "1", *LOOSE]
    missing, wrong_key, setup = loadtests(
        (server.url, tmp_path / "a", [*args, "--leaderboard", "nosuchboard"]),
        (server.url, tmp_path / "b", [*args, "--server-key", "wrong"]),
        # --setup creates it through the RPC of examples/loadtest (with the http key)
        (server.url, tmp_path / "c", [*args, "--leaderboard", "lt-setup", "--setup"]),
    )
    code, output, _ = missing
    assert code == 1
    assert "no leaderboard 'nosuchboard'" in output
    code, output, _ = wrong_key
    assert code == 1 and "refused the server key" in output
    code, output, report = setup
    assert code == 0, output
    assert report is not None and report["leaderboard_writers"] == 4


def test_refusals_and_usage_errors_exit_2(tmp_path: Path) -> None:
    remote, zero, more, tls, nobody = loadtests(
        ("http://203.0.113.7:7350", tmp_path / "a", ["--players", "1", "--quiet"]),
        ("http://127.0.0.1:1", tmp_path / "b", ["--players", "0"]),
        ("http://127.0.0.1:1", tmp_path / "c", ["--players", "5", "--start-players", "9"]),
        ("https://127.0.0.1:1", tmp_path / "d", []),
        ("http://127.0.0.1:1", tmp_path / "e", ["--players", "1", "--quiet"]),
    )
    code, output, report = remote
    assert code == 2 and "not this machine" in output and "--allow-remote" in output
    assert report is None
    code, output, _ = zero
    assert code == 2 and "--players" in output
    code, output, _ = more
    assert code == 2 and "--start-players 9 is more than --players 5" in output
    code, output, _ = tls
    assert code == 2 and "TLS" in output
    # nothing listens: the run cannot be made (1), said in one line
    code, output, _ = nobody
    assert code == 1 and "does not answer" in output


# -- the pieces, without a server -------------------------------------------------------------------


def test_percentiles_are_within_the_bucket_width() -> None:
    h: dict[int, int] = {}
    for ms in range(1, 1001):  # 1..1000 ms, one each
        b = bucket(ms / 1000)
        h[b] = h.get(b, 0) + 1
    for p, want in ((50, 500), (90, 900), (99, 990)):
        got = percentile(h, p)
        assert got is not None and abs(got - want) / want < 0.03, (p, got)
    assert percentile({}, 99) is None


def plan(**kw: Any) -> Plan:
    base: dict[str, Any] = dict(
        scenario="surge", host="127.0.0.1", port=1, server_key="k", run_id="r", start_wall=0.0,
        players=2, start_players=2, ramp_sec=0, hold_sec=1, duration_sec=10, max_requests=0,
        processes=1, auth="device", ping_every=1, chat_every=0, chat_room_size=2, chat_persist=True,
        leaderboard="l", leaderboard_every=0, matchmaker_every=0, matchmaker_size=2, wallet_every=0,
        purchase_every=0, http_key="h", timeout_sec=1, http_connections=1, login_concurrency=1,
    )  # fmt: skip
    return Plan(**(base | kw))


def outcome(latencies: dict[str, list[float]], errors: dict[str, int]) -> Outcome:
    t = Totals()
    part: dict[str, Any] = {"latency": {0: {}}, "errors": {0: errors}, "connected": {0: 2}}
    for name, values in latencies.items():
        h: dict[int, int] = {}
        for v in values:
            h[bucket(v / 1000)] = h.get(bucket(v / 1000), 0) + 1
        part["latency"][0][name] = h
    t.add(0, part)
    return Outcome(totals=t, ended=1.0)


def test_verdict_per_operation() -> None:
    objectives = Objectives(p99_ms=200, matched_p99_ms=2000, max_error_rate=0.01)
    fast = [10.0] * 99 + [150.0]
    report = build(
        plan(), outcome({"login": fast, "ping": fast, "matchmaker_matched": [1500.0]}, {}), objectives, "t"
    )
    assert report["verdict"] == "PASS"
    assert op(report, "matchmaker_matched")["objective_p99_ms"] == 2000
    slow = [10.0] * 98 + [300.0, 300.0]
    report = build(plan(), outcome({"login": fast, "ping": slow}, {}), objectives, "t")
    assert report["verdict"] == "FAIL" and not op(report, "ping")["pass"] and op(report, "login")["pass"]
    assert "p99" in op(report, "ping")["why"]
    # errors: 2 of 100 sign-ups failed -> the log-in fails on its error rate
    report = build(
        plan(), outcome({"login": fast[:98], "signup": fast[:98]}, {"signup: http 500": 2}), objectives, "t"
    )
    assert report["verdict"] == "FAIL" and "errors" in op(report, "login")["why"]
    assert "FAIL" in summary_table(report)
    # the players there from the start have rows of their own: their failures and their slow
    # burst are theirs, not the ramp's, and each row is judged
    report = build(
        plan(),
        outcome(
            {"login": fast, "login_start": slow[2:], "signup_start": slow[2:]},
            {"signup_start: http 503": 2},
        ),
        objectives,
        "t",
    )
    assert op(report, "login")["pass"] and op(report, "login")["errors"] == 0
    start = op(report, "login_start")
    assert not start["pass"] and start["errors"] == 2 and start["p99_ms"] > 200
    # and every log-in together (100 ramp, 98 start, 2 of them failed): the whole run's tail
    whole = op(report, "login_all")
    assert whole["ok"] == 198 and whole["errors"] == 2 and not whole["pass"]
    assert 10 < whole["p50_ms"] < 11 and whole["p99_ms"] > 200
    assert report["verdict"] == "FAIL" and report["players_logged_in"] == 100 + 98
    # sockets the server closed count against the run
    report = build(plan(), outcome({"login": fast}, {"connection: closed by the server": 5}), objectives, "t")
    assert report["verdict"] == "FAIL" and op(report, "connection")["errors"] == 5
    # a failure of the generator itself: its figures cannot be trusted
    report = build(plan(), outcome({"login": fast}, {"generator: KeyError: 'x'": 1}), objectives, "t")
    assert report["verdict"] == "FAIL" and "error of the generator" in report["fatal"][0]


def test_http_responses_with_a_length_or_chunked() -> None:
    buf = bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 204 No")
    assert _parse_response(buf) == (200, b"{}", 40, True)
    chunked = bytearray(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert _parse_response(chunked) == (200, b"abcde", len(chunked), True)
    assert _parse_response(bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")) is None
    closing = bytearray(b"HTTP/1.1 503 x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert _parse_response(closing) == (503, b"", len(closing), False)


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def _unmask(frame: bytes) -> tuple[int, bytes]:
    n = frame[1] & 0x7F
    head = 2 if n < 126 else 4
    n = n if n < 126 else int.from_bytes(frame[2:4], "big")
    key = frame[head : head + 4]
    return frame[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(frame[head + 4 : head + 4 + n]))


def test_websocket_frames_in_pieces_long_fragmented_pings_and_close() -> None:
    from overworld.loadtest.client import WsConnection, client_frame

    async def go() -> None:
        texts: list[bytes] = []
        closes: list[str] = []
        conn = WsConnection(b"GET /ws", texts.append, closes.append)
        transport = _Transport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        assert transport.written == [b"GET /ws"]
        upgrade = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        long = b"x" * 300
        stream = (
            upgrade
            + b"\x81\x05hello"  # a text frame
            + b"\x81\x7e" + len(long).to_bytes(2, "big") + long  # 16-bit length
            + b"\x01\x03abc" + b"\x80\x03def"  # fragmented: text + continuation
            + b"\x89\x02hi"  # the server's ping
        )  # fmt: skip
        for i in range(0, len(stream), 7):  # in pieces, as TCP may deliver it
            conn.data_received(stream[i : i + 7])
        assert conn.upgraded.done() and conn.open
        assert texts == [b"hello", long, b"abcdef"]
        assert _unmask(transport.written[-1]) == (0xA, b"hi")  # answered with a pong
        conn.send_text(b'{"cid":"1","ping":{}}')
        assert _unmask(transport.written[-1]) == (0x1, b'{"cid":"1","ping":{}}')
        assert _unmask(client_frame(0x1, b"y" * 200)) == (0x1, b"y" * 200)
        conn.data_received(b"\x88\x05\x03\xf0bye")  # closed by the server: 1008
        assert closes == ["closed by the server (1008: bye)"] and transport.closed

        refused = WsConnection(b"GET /ws", texts.append, closes.append)
        refused.connection_made(_Transport())  # type: ignore[arg-type]
        refused.data_received(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        with pytest.raises(Exception, match="http 401"):
            await refused.upgraded

    run(go())
