"""One generator process: its share of the players (every `processes`-th), each a task that signs
up, opens a socket and then acts on its own schedule until the run ends. Reports to the
coordinator once a second through a queue."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import random
import signal
import time
from typing import Any
from urllib.parse import quote

import orjson

from overworld.loadtest.client import ClientError, HttpPool, WsConnection, open_socket, token_user
from overworld.loadtest.metrics import Recorder
from overworld.loadtest.plan import FUND_RPC, START, STORE_BUNDLE, Plan
from overworld.ops.gc import freeze_and_tune

DELIVERY = b'{"channel_message":'
PRESENCE = b'{"channel_presence_event":'
STAMP = b'\\"t\\":'  # the send time in a chat message's content (a JSON string inside JSON)


class Stop(Exception):
    """The run is over for this player."""


class Player:
    """One simulated player: its session, its socket and the requests it is waiting for."""

    def __init__(self, worker: Worker, index: int, phase: str = "") -> None:
        self.w = worker
        self.index = index
        self.phase = phase  # START for the players there from the start: their own log-in rows
        self.token = ""  # nosec B105 # not a secret: the load test's own throwaway accounts
        self.user_id = ""
        self.sock: WsConnection | None = None
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.cids = itertools.count(1)
        self.channel = ""
        self.ticket = ""
        self.ticket_sent = 0.0
        self.matched: asyncio.Future[None] | None = None
        self.closed = False
        self.score = 0
        self.purchases = 0  # purchases asked for: each one's idempotency key
        self.alarm: asyncio.Future[None] | None = None  # what the player sleeps on

    async def sleep(self, delay: float) -> None:
        """Sleep until `delay` has passed, the run stops, or something wakes this player."""
        self.alarm = asyncio.get_running_loop().create_future()
        await self.w.sleep(min(delay, 3600.0), self.alarm)

    def wake(self) -> None:
        if self.alarm is not None and not self.alarm.done():
            self.alarm.set_result(None)

    # -- the socket's messages ----------------------------------------------------------------

    def on_text(self, data: bytes) -> None:
        if data.startswith(DELIVERY):
            at = data.find(STAMP)
            if at >= 0:
                end = at + len(STAMP)
                stop = data.find(b"}", end)
                with contextlib.suppress(ValueError):
                    sent = int(data[end:stop]) / 1e6
                    now = time.time()
                    self.w.rec.ok("chat_delivery", now, max(now - sent, 0.0))
            return
        if data.startswith(PRESENCE):
            return
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.w.rec.error("socket", "undecodable frame", time.time())
            return
        cid = msg.get("cid")
        if cid:
            ticket = msg.get("matchmaker_ticket")
            if ticket is not None:  # known before any other frame is read: the match may follow at once
                self.ticket = ticket.get("ticket", "")
            fut = self.pending.pop(cid, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        matched = msg.get("matchmaker_matched")
        if matched is not None and matched.get("ticket") == self.ticket and self.ticket:
            self.w.rec.ok("matchmaker_matched", time.time(), time.perf_counter() - self.ticket_sent)
            self.ticket = ""
            if self.matched is not None and not self.matched.done():
                self.matched.set_result(None)

    def on_close(self, why: str) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.w.stopping:
            self.w.rec.error("connection", why, time.time())
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ClientError("closed"))
        self.pending.clear()
        if self.matched is not None and not self.matched.done():
            self.matched.set_exception(ClientError("closed"))
        self.wake()

    async def call(self, op: str, kind: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """One socket request; its reply, or None after recording the error."""
        if self.closed or self.sock is None:
            raise Stop
        self.w.count_request()
        cid = str(next(self.cids))
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[cid] = fut
        started = time.perf_counter()
        self.sock.send_text(orjson.dumps({"cid": cid, kind: body}))
        try:
            msg = await asyncio.wait_for(fut, self.w.plan.timeout_sec)
        except TimeoutError:
            self.pending.pop(cid, None)
            self.w.rec.error(op, "timeout", time.time())
            return None
        except ClientError:
            raise Stop from None
        if "error" in msg:
            err = msg["error"]
            self.w.rec.error(op, f"error {err.get('code', '?')} {err.get('message', '')}"[:120], time.time())
            return None
        self.w.rec.ok(op, time.time(), time.perf_counter() - started)
        return msg

    async def http(
        self, op: str, method: str, path: str, body: Any = None, session: bool = True
    ) -> dict[str, Any] | None:
        """One REST call with the player's session (`session`; else none: the path carries its
        key); its JSON answer, or None after recording."""
        self.w.count_request()
        data = b"" if body is None else orjson.dumps(body)
        started = time.perf_counter()
        try:
            status, answer = await self.w.pool.request(
                method, path, data, f"Authorization: Bearer {self.token}\r\n" if session else ""
            )
        except ClientError as exc:
            self.w.rec.error(op, exc.kind, time.time())
            return None
        if status != 200:
            self.w.rec.error(op, f"http {status}{_message(answer)}", time.time())
            return None
        self.w.rec.ok(op, time.time(), time.perf_counter() - started)
        try:
            out: dict[str, Any] = orjson.loads(answer) if answer else {}
        except orjson.JSONDecodeError:
            return {}
        return out

    # -- what a player does ---------------------------------------------------------------------

    async def signup(self) -> bool:
        plan = self.w.plan
        self.w.count_request()
        if plan.auth == "email":
            path = "/v2/account/authenticate/email?create=true"
            body = {
                "email": f"lt-{plan.run_id}-{self.index}@loadtest.invalid",
                "password": "loadtest-password",  # nosec B105 # not a secret: the load test's own throwaway accounts
            }
        else:
            path = "/v2/account/authenticate/device?create=true"
            body = {"id": f"lt-{plan.run_id}-{self.index}"}
        started = time.perf_counter()
        try:
            status, answer = await self.w.pool.request(
                "POST", path, orjson.dumps(body), self.w.basic, fresh=True
            )
        except ClientError as exc:
            self.w.rec.error("signup" + self.phase, exc.kind, time.time())
            return False
        if status != 200:
            self.w.rec.error("signup" + self.phase, f"http {status}{_message(answer)}", time.time())
            return False
        self.w.rec.ok("signup" + self.phase, time.time(), time.perf_counter() - started)
        self.token = orjson.loads(answer)["token"]
        self.user_id = token_user(self.token)
        return True

    async def log_in(self) -> bool:
        started = time.perf_counter()
        if not await self.signup():
            return False
        opened = time.perf_counter()
        plan = self.w.plan
        self.w.count_request()
        try:
            self.sock = await open_socket(
                plan.host, plan.port, f"/ws?token={self.token}&format=json&status=false",
                self.on_text, self.on_close, plan.timeout_sec,
            )  # fmt: skip
        except ClientError as exc:
            self.w.rec.error("socket_open" + self.phase, exc.kind, time.time())
            return False
        now = time.perf_counter()
        self.w.rec.ok("socket_open" + self.phase, time.time(), now - opened)
        self.w.rec.ok("login" + self.phase, time.time(), now - started)
        return True

    async def run(self, scheduled: float | None) -> None:
        w = self.w
        if scheduled is not None:
            w.rec.ok("start_lag", time.time(), max(time.time() - scheduled, 0.0))
        if await self.log_in():
            await self.connected_life()

    async def connected_life(self) -> None:
        self.w.connected += 1
        self.w.note_connected()
        try:
            await self.act()
        except Stop:
            pass
        finally:
            self.w.connected -= 1
            if self.sock is not None:
                self.sock.close()

    async def act(self) -> None:
        plan = self.w.plan
        loop = asyncio.get_running_loop()
        now = loop.time()
        due: dict[str, float] = {}
        intervals = {
            "ping": plan.ping_every,
            "chat": plan.chat_every,
            "leaderboard": plan.leaderboard_every,
            "matchmaker": plan.matchmaker_every,
            "wallet": plan.wallet_every,
            "purchase": plan.purchase_every,
        }
        for action, every in intervals.items():
            if every > 0:
                due[action] = now + random.uniform(0, every)  # spread the players' phases  # nosec B311 # spreading simulated players' timing and scores, not security
        if plan.chat_every > 0:
            room = f"lt-{plan.run_id}-{self.index // plan.chat_room_size}"
            joined = await self.call(
                "chat_join", "channel_join",
                {"target": room, "type": 1, "persistence": plan.chat_persist, "hidden": False},
            )  # fmt: skip
            if joined is None:
                due.pop("chat")
            else:
                self.channel = joined["channel"]["id"]
        if plan.purchase_every > 0 and not await self.fund():
            due.pop("purchase")
        while due and not self.w.stopping:
            action, at = min(due.items(), key=lambda kv: kv[1])
            delay = at - loop.time()
            if delay > 0:
                await self.sleep(delay)
                if self.w.stopping or self.closed:
                    break
                if loop.time() < due[action]:
                    continue  # woken early: a match came, the schedule changed
            every = intervals[action]
            due[action] = max(at + every, loop.time())
            if action == "ping":
                await self.call("ping", "ping", {})
            elif action == "chat":
                stamp = int(time.time() * 1e6)
                await self.call(
                    "chat_send", "channel_message_send",
                    {"channel_id": self.channel, "content": f'{{"t":{stamp}}}'},
                )  # fmt: skip
            elif action == "leaderboard":
                self.score += random.randint(1, 100)  # nosec B311 # spreading simulated players' timing and scores, not security
                if (
                    await self.http(
                        "leaderboard_write",
                        "POST",
                        f"/v2/leaderboard/{plan.leaderboard}",
                        {"score": self.score},
                    )
                    is not None
                ):
                    self.w.leaderboard_writers.add(self.index)
            elif action == "wallet":
                await self.http("wallet_get", "GET", "/v2/overworld/wallet")
            elif action == "purchase":
                self.purchases += 1
                await self.http(
                    "store_purchase", "POST", "/v2/overworld/store/purchase",
                    {"bundle_id": STORE_BUNDLE,
                     "idempotency_key": f"lt-{plan.run_id}-{self.index}-{self.purchases}"},
                )  # fmt: skip
            elif action == "matchmaker":
                # The next ticket once this one is matched: `every` after the match.
                due[action] = float("inf")
                self.w.spawn(self.matchmake(due, every))
        while not self.w.stopping and not self.closed:  # connected until the end, even idle
            await self.sleep(3600.0)

    async def fund(self) -> bool:
        """The currency for this run's purchases, once (RPC loadtest_fund of examples/loadtest,
        with the title's http key; its idempotency key makes a retried grant count once)."""
        plan = self.w.plan
        path = f"/v2/rpc/{FUND_RPC}?unwrap=true&http_key={quote(plan.http_key, safe='')}"
        body = {"user_id": self.user_id, "purchases": plan.purchases_per_player,
                "key": f"lt-{plan.run_id}-{self.index}-fund"}  # fmt: skip
        return await self.http("wallet_fund", "POST", path, body, session=False) is not None

    async def matchmake(self, due: dict[str, float], every: float) -> None:
        plan = self.w.plan
        self.matched = asyncio.get_running_loop().create_future()
        self.ticket_sent = time.perf_counter()
        try:
            answer = await self.call(
                "matchmaker_add", "matchmaker_add",
                {"min_count": plan.matchmaker_size, "max_count": plan.matchmaker_size,
                 "query": f"+properties.run:{plan.run_id}",
                 "string_properties": {"run": plan.run_id}},
            )  # fmt: skip
            if answer is not None:
                await self.matched  # on_text: the matched message names this ticket
            due["matchmaker"] = asyncio.get_running_loop().time() + every
            self.wake()
        except (Stop, ClientError):
            return


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _message(body: bytes) -> str:
    try:
        msg = orjson.loads(body).get("message", "")
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    return f" {msg}"[:100] if msg else ""


class Worker:
    def __init__(self, index: int, plan: Plan, queue: Any, stop: Any, go: Any, ramp_start: Any) -> None:
        self.index = index
        self.plan = plan
        self.queue = queue
        self.stop_event = stop
        self.go = go
        self.ramp_start = ramp_start
        self.rec = Recorder(plan.start_wall)
        self.pool = HttpPool(plan.host, plan.port, plan.http_connections, plan.timeout_sec)
        self.basic = (
            "Authorization: Basic " + base64.b64encode(f"{plan.server_key}:".encode()).decode() + "\r\n"
        )
        self.connected = 0
        self.stopping = False
        self.stop_reason = ""
        self.tasks: set[asyncio.Task[None]] = set()
        self.leaderboard_writers: set[int] = set()
        self.sleepers: set[asyncio.Future[None]] = set()
        self.share = 0 if not plan.max_requests else max(1, plan.max_requests // plan.processes)
        self.logged_in = 0

    def count_request(self) -> None:
        self.rec.requests += 1
        if self.share and self.rec.requests >= self.share and not self.stopping:
            self.finish("max requests")

    def finish(self, reason: str) -> None:
        if not self.stopping:
            self.stopping = True
            self.stop_reason = reason
            self.wake()

    def note_connected(self) -> None:
        """The most players connected in this second so far."""
        sec = self.rec.second(time.time())
        if self.rec.connected.get(sec, -1) < self.connected:
            self.rec.connected[sec] = self.connected

    def over(self) -> bool:
        return self.stopping

    def wake(self) -> None:
        for fut in self.sleepers:
            if not fut.done():
                fut.set_result(None)

    async def sleep(self, delay: float, fut: asyncio.Future[None] | None = None) -> None:
        """Sleep, cut short when the run stops (or `fut` is done)."""
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
        handle = asyncio.get_running_loop().call_later(delay, _set, fut)
        self.sleepers.add(fut)
        try:
            await fut
        finally:
            handle.cancel()
            self.sleepers.discard(fut)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guard(self, coro: Any) -> None:
        """A player's task: a bug or an unforeseen failure is counted, not lost in a log line."""
        try:
            await coro
        except (Stop, asyncio.CancelledError):
            pass
        except Exception as exc:
            self.rec.error("generator", f"{type(exc).__name__}: {exc}"[:120], time.time())

    def players(self) -> list[int]:
        return list(range(self.index, self.plan.players, self.plan.processes))

    async def ticker(self) -> None:
        """Once a second: players connected, and the seconds now complete, to the coordinator."""
        cpu = time.process_time()
        while True:
            now = time.time()
            sec = self.rec.second(now)
            if not self.stopping:  # once stopping, the players leave: not a fall of the server's
                self.note_connected()
            part = self.rec.take(before=sec)
            used = time.process_time()
            self.queue.put(("tick", self.index, part, used - cpu, self.rec.requests))
            cpu = used
            if self.stop_event.is_set():
                self.finish("stopped")
            if time.time() >= self.plan.start_wall + self.plan.duration_sec:
                self.finish("duration cap")
            await asyncio.sleep(1.0 - (time.time() - self.plan.start_wall) % 1.0)

    async def run(self) -> None:
        ticker = asyncio.get_running_loop().create_task(self.ticker())
        mine = self.players()
        first = [i for i in mine if i < self.plan.start_players]
        rest = [i for i in mine if i >= self.plan.start_players]
        # The players who are there from the start: logged in as fast as the limit allows, then
        # the ramp begins (in every process at once: the coordinator says when).
        gate = asyncio.Semaphore(self.plan.login_concurrency)
        waiting = len(first)
        all_in = asyncio.Event()
        if not waiting:
            all_in.set()

        async def first_player(i: int) -> None:
            nonlocal waiting
            player = Player(self, i, START)
            try:
                async with gate:
                    ok = not self.stopping and await player.log_in()
            finally:
                waiting -= 1
                if not waiting:
                    all_in.set()
            if ok:
                await player.connected_life()

        for i in first:
            self.spawn(first_player(i))
        await all_in.wait()
        self.queue.put(("ready", self.index))
        while not self.go.is_set() and not self.stopping:  # noqa: ASYNC110 - a multiprocessing Event
            await asyncio.sleep(0.02)
        if not self.stopping:
            await self.ramp(rest)
        end = self.ramp_start.value + self.plan.end_offset
        while not self.stopping and time.time() < end:
            await self.sleep(min(end - time.time(), 1.0))
        self.finish(self.stop_reason or "done")
        self.note_connected()  # connected until the end
        await self.close()
        ticker.cancel()
        self.queue.put((
            "done", self.index, self.rec.take(), self.stop_reason, sorted(self.leaderboard_writers),
            self.rec.requests, time.process_time(),
        ))  # fmt: skip

    async def ramp(self, rest: list[int]) -> None:
        plan = self.plan
        span = plan.players - plan.start_players
        step = plan.ramp_sec / span if span else 0.0
        base = self.ramp_start.value
        for i in rest:
            if self.stopping:
                return
            at = base + (i - plan.start_players) * step
            delay = at - time.time()
            if delay > 0:
                await self.sleep(delay)
                if self.over():
                    return
            self.spawn(Player(self, i).run(at))

    async def close(self) -> None:
        self.wake()
        tasks = list(self.tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=0.5)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        self.pool.close()


def worker_main(index: int, plan: Plan, queue: Any, stop: Any, go: Any, ramp_start: Any) -> None:
    """A generator process (multiprocessing target). Ctrl-C is the coordinator's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _raise_nofile()
    freeze_and_tune()  # the server's setting: its pauses would be in every latency measured
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency
        runner = asyncio.run
    try:
        runner(Worker(index, plan, queue, stop, go, ramp_start).run())
    except Exception as exc:  # report it rather than die silently
        queue.put(("fatal", index, f"{type(exc).__name__}: {exc}"))
        raise


def _raise_nofile() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
