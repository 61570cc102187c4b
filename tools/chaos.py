"""Chaos run of a three-node cluster under load: `scripts/chaos` (issue 16).

What it does, in order:

1. starts a private PostgreSQL (initdb into a temporary folder, its own port and unix-socket
   folder; as root, the server runs as the `postgres` user) and a private Redis (no persistence),
   never the machine's shared services;
2. starts three `overworld serve` nodes in cluster mode on them, and a round-robin TCP balancer
   (tools/balancer.py) in front of them;
3. runs clients through the balancer: each signs in, opens a socket, joins a chat room, then in
   a loop writes a storage object (a version-checked update of one of a few keys; every write the
   server acknowledged is recorded with its version) and sends a chat message (every
   acknowledged message is recorded). A client whose socket drops reconnects at once and
   records how long that took;
4. injects faults in turn, spread over the run: kill -9 of a node (restarted after `--hold`
   seconds), a restart of PostgreSQL (`pg_ctl stop -m fast`, then start), a restart of Redis
   (stopped, then started empty: it has no persistence). After each it measures the time until
   every node's `/readyz` answers 200 again;
5. stops the load, then checks through the API that every acknowledged storage write is readable
   with its value and version (or a later write of the same client), and every acknowledged chat
   message is in its room's history.

It prints a table and writes a JSON report (`--json`), and exits 1 when anything acknowledged was
lost, a fault was not recovered from or a request was answered with an internal error (HTTP 500,
socket code 13: an outage must answer UNAVAILABLE), 2 when the cluster could not be set up. Every process it
started and every temporary folder is removed at the end, also on Ctrl-C, SIGTERM or failure.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import pwd
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from tools.balancer import Balancer

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("OVERWORLD_CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_KEY = "defaultkey"
COLLECTION = "chaos"
KEYS = 4  # storage keys each client updates in turn
READY_TIMEOUT = 90.0  # a fault not recovered from within this is reported as not recovered
REQUEST_TIMEOUT = 10.0


class Events:
    """What went wrong on the clients' side (retried, never counted as acknowledged), counted and
    timed so that each fault's share can be reported."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.times: list[tuple[float, str]] = []

    def __call__(self, kind: str) -> None:
        self.counts[kind] += 1
        self.times.append((now(), kind))

    def between(self, start: float, end: float) -> dict[str, int]:
        return dict(sorted(Counter(k for t, k in self.times if start <= t < end).items()))


class ReadFailed(Exception):
    """A storage read answered something else than 200."""


class SetupError(Exception):
    """The cluster could not be started (exit status 2)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def now() -> float:
    return time.monotonic()


VERBOSE = False


def debug(text: str) -> None:
    if VERBOSE:
        print(f"[chaos debug {now():.3f}] {text}", file=sys.stderr, flush=True)


# -- the private services ------------------------------------------------------------------------


def postgres_parent() -> str:
    """Where PostgreSQL's temporary folder goes: the usual temporary folder, unless running as
    root and some folder above it is closed to others (the `postgres` user could not reach its
    data); then /tmp."""
    base = Path(tempfile.gettempdir()).resolve()
    if os.geteuid() != 0:
        return str(base)
    for folder in [base, *base.parents]:
        if not folder.stat().st_mode & 0o001:
            return "/tmp"  # noqa: S108 - a private mkdtemp folder inside it, chowned to postgres
    return str(base)


class PrivatePostgres:
    """A PostgreSQL server of its own in a temporary folder, on a free port of 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.sockets = folder / "sockets"
        self.log = folder / "postgresql.log"
        self.port = free_port()
        self._as_user: list[str] = []
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/overworld"

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [*self._as_user, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise SetupError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-800:]}")

    def setup(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise SetupError(f"no PostgreSQL binaries in {PG_BIN} (set OVERWORLD_CHAOS_PG_BIN)")
        self.sockets.mkdir(parents=True)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as `postgres`
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise SetupError(
                    "running as root, and there is no `postgres` user to run PostgreSQL as"
                ) from None
            for path in (self.folder, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        self.start()
        self._run(
            str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "overworld"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c max_connections=300"
        self._run(
            str(PG_BIN / "pg_ctl"), "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", options,
        )  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")
        self.running = False

    def close(self) -> None:
        if self.running or (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self.stop("immediate")


class PrivateRedis:
    """A redis-server of its own, without persistence, on a free port of 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SetupError("redis-server not found on PATH")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = now() + 30
        while now() < deadline:
            if self.proc.poll() is not None:
                raise SetupError(
                    f"redis-server exited with {self.proc.returncode}; see {self.folder}/redis.log"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise SetupError("redis-server did not answer within 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class NodeProcess:
    """One `overworld serve` of the cluster. It keeps its port across restarts, so the balancer's
    upstream list stays right."""

    def __init__(self, index: int, env: dict[str, str], folder: Path) -> None:
        self.index = index
        self.port = free_port()
        self.name = f"chaos-{index}"
        self.env = {
            **os.environ, **env, "OVERWORLD_PORT": str(self.port), "OVERWORLD_HOST": "127.0.0.1",
            "OVERWORLD_NODE_NAME": self.name, "OVERWORLD_DATA_DIR": str(folder / f"data-{index}"),
        }  # fmt: skip
        self.folder = folder
        self.log_path = folder / f"node-{index}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "overworld", "serve"], env=self.env, cwd=ROOT, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# -- the clients ---------------------------------------------------------------------------------


@dataclass
class Reconnect:
    dropped_at: float
    seconds: float


@dataclass
class KeyState:
    seq: int = 0  # the last acknowledged write's sequence number (0: none yet)
    version: str = ""  # its version
    uncertain: bool = False  # a write's outcome is unknown: read the key before the next one
    attempted: set[int] = field(default_factory=set)  # sequence numbers sent, acknowledged or not


class Client:
    """One player: a session, a socket in a chat room, storage writes and chat messages."""

    def __init__(self, index: int, base_url: str, room: str, interval: float, errors: Events) -> None:
        self.index = index
        self.base_url = base_url
        self.room = room
        self.interval = interval
        self.errors = errors
        self.device = f"chaos-device-{uuid.uuid4().hex}"
        self.token = ""
        self.user_id = ""
        self.channel_id = ""
        self.keys = {f"k{i}": KeyState() for i in range(KEYS)}
        self.writes_acked = 0
        self.messages: list[tuple[str, str]] = []  # (channel id, message id) acknowledged
        self.received: set[str] = set()  # ids of the channel messages pushed to this client
        self.reconnects: list[Reconnect] = []
        self.unrecovered_since: float | None = None  # a drop not yet reconnected from
        self._seq = itertools.count(1)
        self._cids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._joined = asyncio.Event()
        self._stopping = False
        self._keeper: asyncio.Task[None] | None = None
        self.http = httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT)

    # sign-in and the socket

    async def sign_in(self) -> None:
        basic = base64.b64encode(f"{SERVER_KEY}:".encode()).decode()
        deadline = now() + 60
        while True:
            try:
                response = await self.http.post(
                    "/v2/account/authenticate/device", json={"id": self.device},
                    headers={"Authorization": f"Basic {basic}"}, params={"create": "true"},
                )  # fmt: skip
                if response.status_code == 200:
                    self.token = response.json()["token"]
                    payload = self.token.split(".")[1]
                    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                    self.user_id = claims["uid"]
                    self.http.headers["Authorization"] = f"Bearer {self.token}"
                    return
                self.errors(f"sign-in HTTP {response.status_code}")
            except httpx.HTTPError as error:
                self.errors(f"sign-in {type(error).__name__}")
            if now() > deadline:
                raise SetupError(f"client {self.index} could not sign in within 60 s")
            await asyncio.sleep(0.2)

    async def _open(self) -> ClientConnection:
        ws_url = self.base_url.replace("http", "ws", 1) + f"/ws?status=true&token={self.token}"
        ws = await connect(
            ws_url, compression=None, open_timeout=REQUEST_TIMEOUT, ping_interval=5, ping_timeout=10
        )
        self._ws = ws
        reader = asyncio.create_task(self._read(ws))
        try:
            reply = await self._request("channel_join", {"target": self.room, "type": 1, "persistence": True})
            if "channel" not in reply:
                raise ConnectionError(f"channel_join answered {reply}")
        except BaseException:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            with contextlib.suppress(Exception):
                await ws.close()
            raise
        self.channel_id = reply["channel"]["id"]
        self._reader = reader
        return ws

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                message = orjson.loads(raw)
                cid = message.get("cid")
                if cid and cid in self._replies:
                    self._replies.pop(cid).set_result(message)
                elif "channel_message" in message:
                    self.received.add(message["channel_message"]["message_id"])
        except Exception:  # noqa: S110 - a dropped connection ends the reader; the keeper reconnects
            pass
        finally:
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(ConnectionError("socket closed"))
            self._replies.clear()

    async def request(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send a socket message and wait for its answer (ConnectionError if the socket drops)."""
        return await self._request(kind, body)

    async def _request(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        ws = self._ws
        if ws is None:
            raise ConnectionError("no socket")
        cid = str(next(self._cids))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[cid] = future
        try:
            await ws.send(orjson.dumps({"cid": cid, kind: body}).decode())
            return await asyncio.wait_for(future, REQUEST_TIMEOUT)
        finally:
            self._replies.pop(cid, None)

    async def keep_socket(self) -> None:
        """Hold a joined socket open; when it drops, reconnect at once and record how long it took."""
        dropped_at: float | None = None
        while not self._stopping:
            try:
                ws = await self._open()
            except Exception as error:
                self.errors(f"socket open {type(error).__name__}")
                debug(f"client {self.index}: socket open failed: {error!r}")
                if dropped_at is None:  # the first connection of the run: no drop to time
                    await asyncio.sleep(0.2)
                    continue
                await asyncio.sleep(random.uniform(0.05, 0.15))
                continue
            if dropped_at is not None:
                self.reconnects.append(Reconnect(dropped_at, now() - dropped_at))
                self.unrecovered_since = None
            self._joined.set()
            await self._reader
            self._joined.clear()
            self._ws = None
            if self._stopping:
                return  # type: ignore[unreachable]  # close() sets it while this task waits
            dropped_at = now()
            debug(f"client {self.index}: socket dropped")
            self.unrecovered_since = dropped_at
            self.errors("socket dropped")
            with contextlib.suppress(Exception):
                await ws.close()

    # the load

    async def run(self, stop: asyncio.Event) -> None:
        """The load, until `stop` is set; the socket stays open (close() closes it)."""
        self._keeper = asyncio.create_task(self.keep_socket())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._joined.wait(), 60)
        while not stop.is_set():
            started = now()
            await self.write_once()
            if self._joined.is_set():
                await self.send_once()
            await asyncio.sleep(max(0.0, self.interval - (now() - started)))

    @property
    def joined(self) -> bool:
        return self._joined.is_set()

    async def close(self) -> None:
        self._stopping = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(BaseException):
                await self._keeper
        await self.http.aclose()

    async def write_once(self) -> None:
        seq = next(self._seq)
        key = f"k{seq % KEYS}"
        state = self.keys[key]
        if state.uncertain and not await self._refresh(key, state):
            return
        value = orjson.dumps({"seq": seq, "client": self.index}).decode()
        obj: dict[str, Any] = {
            "collection": COLLECTION, "key": key, "value": value, "permission_read": 1, "permission_write": 1,
            "version": state.version or "*",  # only over the write this client knows of
        }  # fmt: skip
        state.attempted.add(seq)
        try:
            response = await self.http.put("/v2/storage", json={"objects": [obj]})
        except httpx.HTTPError as error:
            self.errors(f"storage write {type(error).__name__}")
            state.uncertain = True
            return
        if response.status_code != 200:
            self.errors(f"storage write HTTP {response.status_code}")
            state.uncertain = True
            return
        ack = response.json()["acks"][0]
        state.seq, state.version, state.uncertain = seq, ack["version"], False
        self.writes_acked += 1

    async def _refresh(self, key: str, state: KeyState) -> bool:
        """After a write whose outcome is unknown, learn the key's current version (the write may
        have been applied, or may still be) so the next version-checked write can succeed."""
        try:
            found = await self.read([key])
        except httpx.HTTPError as error:
            self.errors(f"storage read {type(error).__name__}")
            return False
        except ReadFailed as error:
            self.errors(f"storage read {error}")
            return False
        current = found.get(key)
        if current is None:
            state.version = ""
        else:
            state.version = current[1]
        state.uncertain = False
        return True

    async def read(self, keys: list[str]) -> dict[str, tuple[dict[str, Any], str]]:
        """The client's objects of `keys`: key -> (value, version)."""
        ids = [{"collection": COLLECTION, "key": k, "user_id": self.user_id} for k in keys]
        response = await self.http.post("/v2/storage", json={"object_ids": ids})
        if response.status_code != 200:
            raise ReadFailed(f"HTTP {response.status_code}")
        return {o["key"]: (json.loads(o["value"]), o["version"]) for o in response.json().get("objects", [])}

    async def send_once(self) -> None:
        try:
            reply = await self._request(
                "channel_message_send",
                {"channel_id": self.channel_id, "content": orjson.dumps({"c": self.index}).decode()},
            )
        except Exception as error:  # the socket dropped, or no answer in time
            self.errors(f"chat send {type(error).__name__}")
            return
        ack = reply.get("channel_message_ack")
        if ack is None:
            refused = reply.get("error", {})
            self.errors(f"chat send error code {refused.get('code', 0)} ({refused.get('message', '')[:60]})")
            return
        self.messages.append((ack["channel_id"], ack["message_id"]))


# -- faults --------------------------------------------------------------------------------------


@dataclass
class FaultResult:
    name: str
    started_at: float  # monotonic
    held_sec: float  # how long the part was down before being started again
    restored_at: float = 0.0
    ready_at: float | None = None  # every node /readyz 200
    reconnects: list[float] = field(default_factory=list)
    unrecovered_clients: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # the clients' errors until the next fault

    def summary(self) -> dict[str, Any]:
        times = sorted(self.reconnects)
        return {
            "fault": self.name,
            "down_sec": round(self.held_sec, 3),
            "recovered": self.ready_at is not None and self.unrecovered_clients == 0,
            "ready_after_restart_sec": None
            if self.ready_at is None
            else round(self.ready_at - self.restored_at, 3),
            "ready_after_fault_sec": None
            if self.ready_at is None
            else round(self.ready_at - self.started_at, 3),
            "reconnects": len(times),
            "reconnect_p50_sec": round(percentile(times, 50), 3) if times else None,
            "reconnect_p99_sec": round(percentile(times, 99), 3) if times else None,
            "reconnect_max_sec": round(times[-1], 3) if times else None,
            "clients_not_reconnected": self.unrecovered_clients,
            "client_errors": self.errors,
        }


def percentile(values: list[float], p: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, int(p) - 1))]


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Options:
    duration: float
    clients: int
    rooms: int
    hold: float
    interval: float
    json_path: Path | None
    keep: bool
    verbose: bool


class Chaos:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.folder = Path(tempfile.mkdtemp(prefix="overworld-chaos-"))
        self.pg_folder = Path(tempfile.mkdtemp(prefix="overworld-chaos-pg-", dir=postgres_parent()))
        self.postgres = PrivatePostgres(self.pg_folder)
        self.redis = PrivateRedis(self.folder / "redis")
        self.nodes: list[NodeProcess] = []
        self.balancer: Balancer | None = None
        self.errors = Events()
        self.clients: list[Client] = []
        self.faults: list[FaultResult] = []
        self.t0 = now()

    def log(self, text: str) -> None:
        print(f"[chaos {now() - self.t0:6.1f}s] {text}", file=sys.stderr, flush=True)

    # setting up and tearing down

    def setup(self) -> None:
        self.log(f"private PostgreSQL in {self.pg_folder} on port {self.postgres.port}")
        self.postgres.setup()
        self.log(f"private Redis on port {self.redis.port}")
        self.redis.start()
        env = {
            "OVERWORLD_DATABASE_URL": self.postgres.url, "OVERWORLD_REDIS_URL": self.redis.url,
            "OVERWORLD_REDIS_PREFIX": "chaos", "OVERWORLD_LOG_LEVEL": "warning",
            "OVERWORLD_DATABASE_POOL_SIZE": "10",
        }  # fmt: skip
        self.nodes = [NodeProcess(i + 1, env, self.folder) for i in range(3)]
        # One first: it runs the migrations the others then find done.
        self.nodes[0].start()
        self.wait_started([self.nodes[0]])
        for node in self.nodes[1:]:
            node.start()
        self.wait_started(self.nodes[1:])
        self.balancer = Balancer([n.port for n in self.nodes]).start()
        self.log(f"nodes on ports {[n.port for n in self.nodes]}, balancer on {self.balancer.port}")

    def wait_started(self, nodes: list[NodeProcess], timeout: float = 90) -> None:
        deadline = now() + timeout
        waiting = list(nodes)
        while waiting and now() < deadline:
            for node in list(waiting):
                if node.exited() is not None:
                    raise SetupError(f"node {node.index} exited with {node.exited()}:\n{node.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(node.url + "/readyz", timeout=2).status_code == 200:
                        waiting.remove(node)
            time.sleep(0.1)
        if waiting:
            raise SetupError(
                f"node {waiting[0].index} not ready within {timeout:.0f} s:\n{waiting[0].tail()}"
            )

    def close(self) -> None:
        if self.balancer is not None:
            self.balancer.stop()
        for node in self.nodes:
            node.stop()
        self.redis.stop()
        self.postgres.close()
        if self.options.keep:
            self.log(f"kept {self.folder} and {self.pg_folder}")
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        shutil.rmtree(self.pg_folder, ignore_errors=True)

    # faults

    async def fault_kill_node(self) -> FaultResult:
        node = self.nodes[1]  # the middle one: the balancer skips it while it is down
        result = FaultResult(f"kill -9 node {node.index}", now(), self.options.hold)
        await asyncio.to_thread(node.kill)
        debug(f"node {node.index} killed")
        await asyncio.sleep(self.options.hold)
        result.restored_at = now()
        await asyncio.to_thread(node.start)
        return result

    async def fault_restart_postgres(self) -> FaultResult:
        result = FaultResult("restart PostgreSQL", now(), 0.0)
        await asyncio.to_thread(self.postgres.stop, "fast")
        await asyncio.sleep(self.options.hold)
        result.restored_at = now()
        result.held_sec = result.restored_at - result.started_at
        await asyncio.to_thread(self.postgres.start)
        return result

    async def fault_restart_redis(self) -> FaultResult:
        result = FaultResult("restart Redis", now(), 0.0)
        await asyncio.to_thread(self.redis.stop)
        await asyncio.sleep(self.options.hold)
        result.restored_at = now()
        result.held_sec = result.restored_at - result.started_at
        await asyncio.to_thread(self.redis.start)
        return result

    async def all_ready(self, probe: httpx.AsyncClient) -> bool:
        async def ready(node: NodeProcess) -> bool:
            try:
                return (await probe.get(node.url + "/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        return all(await asyncio.gather(*(ready(n) for n in self.nodes)))

    async def inject(
        self, fault: Callable[[], Awaitable[FaultResult]], probe: httpx.AsyncClient
    ) -> FaultResult:
        result = await fault()
        self.log(f"{result.name}: down {result.held_sec:.1f} s, restarted; waiting for /readyz")
        deadline = result.restored_at + READY_TIMEOUT
        while now() < deadline:
            if await self.all_ready(probe):
                result.ready_at = now()
                break
            await asyncio.sleep(0.05)
        if result.ready_at is None:
            self.log(f"{result.name}: not every node ready within {READY_TIMEOUT:.0f} s")
        else:
            seconds = result.ready_at - result.restored_at
            self.log(f"{result.name}: every node ready {seconds:.2f} s after the restart")
        return result

    # the whole run

    async def run(self) -> dict[str, Any]:
        assert self.balancer is not None
        base_url = f"http://127.0.0.1:{self.balancer.port}"
        rooms = [f"chaos-room-{i}" for i in range(self.options.rooms)]
        self.clients = [
            Client(i, base_url, rooms[i % len(rooms)], self.options.interval, self.errors)
            for i in range(self.options.clients)
        ]
        await asyncio.gather(*(c.sign_in() for c in self.clients))
        stop = asyncio.Event()
        load = [asyncio.create_task(c.run(stop)) for c in self.clients]
        faults = [self.fault_kill_node, self.fault_restart_postgres, self.fault_restart_redis]
        gap = self.options.duration / (len(faults) + 1)
        self.log(f"{len(self.clients)} clients running; a fault every {gap:.1f} s")
        started = now()
        async with httpx.AsyncClient(timeout=2) as probe:
            for i, fault in enumerate(faults):
                await asyncio.sleep(max(0.0, started + gap * (i + 1) - now()))
                self.faults.append(await self.inject(fault, probe))
            await asyncio.sleep(max(0.0, started + self.options.duration - now()))
        # Clients still reconnecting after the last fault get a while to do it before the load stops.
        settle = now() + 30
        while now() < settle and any(c.unrecovered_since is not None for c in self.clients):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(*load, return_exceptions=True)
        self.attribute_reconnects()
        for result, following in itertools.zip_longest(self.faults, self.faults[1:]):
            end = following.started_at if following else now()
            result.errors = self.errors.between(result.started_at, end)
        try:
            delivery = await self.delivery_check(rooms)
            verified = await self.verify(rooms)
        finally:
            for client in self.clients:
                await client.close()
        return {**verified, **delivery}

    async def delivery_check(self, rooms: list[str]) -> dict[str, Any]:
        """After every fault: a message sent in each room reaches every member's socket, whatever
        node each sits on (presences and pub/sub recovered, not only /readyz)."""
        expected: dict[str, list[Client]] = {}
        for room in rooms:
            members = [c for c in self.clients if c.room == room and c.joined]
            if not members:
                continue
            reply = await members[0].request(
                "channel_message_send", {"channel_id": members[0].channel_id, "content": '{"check":true}'}
            )
            ack = reply.get("channel_message_ack")
            if ack is None:
                self.log(f"delivery check: sending in {room} failed: {reply}")
                expected[f"failed-{room}"] = members
                continue
            expected[ack["message_id"]] = members
        deadline = now() + 10
        missing: list[str] = []
        while True:
            missing = [f"client {c.index}" for m, cs in expected.items() for c in cs if m not in c.received]
            if not missing or now() > deadline:
                break
            await asyncio.sleep(0.05)
        total = sum(len(cs) for cs in expected.values())
        return {
            "delivery_check_expected": total,
            "delivery_check_received": total - len(missing),
            "delivery_check_missing": missing[:20],
        }

    def attribute_reconnects(self) -> None:
        """Each reconnection belongs to the fault during which (or after which) its socket dropped."""
        for client in self.clients:
            for reconnect in client.reconnects:
                owner = None
                for fault in self.faults:
                    if reconnect.dropped_at >= fault.started_at:
                        owner = fault
                if owner is None:
                    self.errors("socket dropped before any fault")
                else:
                    owner.reconnects.append(reconnect.seconds)
            if client.unrecovered_since is not None and self.faults:
                self.faults[-1].unrecovered_clients += 1

    async def verify(self, rooms: list[str]) -> dict[str, Any]:
        lost_writes: list[str] = []
        checked_writes = 0
        for client in self.clients:
            acked = {k: s for k, s in client.keys.items() if s.seq}
            if not acked:
                continue
            found = await client.read(list(acked))
            for key, state in acked.items():
                checked_writes += 1
                item = found.get(key)
                if item is None:
                    lost_writes.append(
                        f"client {client.index} {key}: seq {state.seq} acknowledged, object missing"
                    )
                    continue
                value, version = item
                seq = int(value.get("seq", 0))
                later = seq > state.seq and seq in state.attempted
                if not (seq == state.seq and version == state.version) and not later:
                    lost_writes.append(
                        f"client {client.index} {key}: seq {state.seq} version {state.version} acknowledged, "
                        f"read seq {seq} version {version}"
                    )
        acked_messages = {(c, m) for client in self.clients for c, m in client.messages}
        history: set[tuple[str, str]] = set()
        channels = {c for c, _ in acked_messages}
        reader = self.clients[0]
        for channel in sorted(channels):
            cursor = ""
            while True:
                params = {"limit": "100", "forward": "true", **({"cursor": cursor} if cursor else {})}
                response = await reader.http.get(f"/v2/channel/{channel}", params=params)
                if response.status_code != 200:
                    raise RuntimeError(
                        f"channel history answered HTTP {response.status_code}: {response.text[:200]}"
                    )
                page = response.json()
                history.update((channel, m["message_id"]) for m in page.get("messages", []))
                cursor = page.get("next_cursor", "")
                if not cursor or not page.get("messages"):
                    break
        lost_messages = sorted(acked_messages - history)
        return {
            "storage_writes_acknowledged": sum(c.writes_acked for c in self.clients),
            "storage_keys_checked": checked_writes,
            "storage_writes_lost": len(lost_writes),
            "storage_lost_detail": lost_writes[:20],
            "chat_messages_acknowledged": len(acked_messages),
            "chat_messages_lost": len(lost_messages),
            "chat_lost_detail": [f"{c} {m}" for c, m in lost_messages[:20]],
        }


def report(chaos: Chaos, verified: dict[str, Any], options: Options, seconds: float) -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    faults = [f.summary() for f in chaos.faults]
    result = {
        "clients": options.clients,
        "rooms": options.rooms,
        "duration_sec": options.duration,
        "hold_sec": options.hold,
        "wall_sec": round(seconds, 1),
        "machine": {"cores": os.cpu_count(), "load_1min": round(load1, 2), "load_5min": round(load5, 2)},
        **verified,
        "faults": faults,
        "client_errors": dict(sorted(chaos.errors.counts.items())),
        "balancer_refused": chaos.balancer.refused if chaos.balancer else 0,
        "ports": {
            "postgresql": chaos.postgres.port,
            "redis": chaos.redis.port,
            "nodes": [n.port for n in chaos.nodes],
            "balancer": chaos.balancer.port if chaos.balancer else 0,
        },
    }
    # An internal error is a bug whatever the fault: an outage must answer UNAVAILABLE (503 / 14).
    result["internal_errors"] = sum(
        n for kind, n in chaos.errors.counts.items() if "HTTP 500" in kind or "error code 13 " in kind
    )
    result["ok"] = (
        result["internal_errors"] == 0
        and verified["storage_writes_lost"] == 0
        and verified["chat_messages_lost"] == 0
        and all(f["recovered"] for f in faults)
        and verified["delivery_check_received"] == verified["delivery_check_expected"]
    )
    return result


def print_table(result: dict[str, Any]) -> None:
    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    header = ("fault", "down s", "ready s", "reconnects", "p50 s", "p99 s", "max s", "recovered")
    rows = [
        (
            f["fault"], sec(f["down_sec"]), sec(f["ready_after_restart_sec"]), str(f["reconnects"]),
            sec(f["reconnect_p50_sec"]), sec(f["reconnect_p99_sec"]), sec(f["reconnect_max_sec"]),
            "yes" if f["recovered"] else "NO",
        )
        for f in result["faults"]
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print()
    print(
        f"storage writes acknowledged {result['storage_writes_acknowledged']}, "
        f"lost {result['storage_writes_lost']}"
        f" ({result['storage_keys_checked']} keys checked); chat messages acknowledged "
        f"{result['chat_messages_acknowledged']}, lost {result['chat_messages_lost']}"
    )
    for line in result["storage_lost_detail"] + result["chat_lost_detail"]:
        print(f"  LOST {line}")
    print(
        f"after the faults, a message in each room reached {result['delivery_check_received']} of "
        f"{result['delivery_check_expected']} members' sockets"
        + (
            f" (missing: {', '.join(result['delivery_check_missing'])})"
            if result["delivery_check_missing"]
            else ""
        )
    )
    for fault in result["faults"]:
        during = ", ".join(f"{k}: {v}" for k, v in fault["client_errors"].items()) or "none"
        print(f"during {fault['fault']}: {during}")
    if result["internal_errors"]:
        print(f"INTERNAL ERRORS (HTTP 500 or socket code 13, a bug): {result['internal_errors']}")
    errors = ", ".join(f"{k}: {v}" for k, v in result["client_errors"].items()) or "none"
    print(f"client-side errors (retried, never counted as acknowledged): {errors}")
    machine = result["machine"]
    print(
        f"{result['clients']} clients, {result['duration_sec']:.0f} s of load, "
        f"{result['wall_sec']:.0f} s in all; "
        f"load average {machine['load_1min']} on {machine['cores']} cores"
    )
    print("RESULT: " + ("ok, nothing acknowledged was lost" if result["ok"] else "FAILED"))


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/chaos",
        description="Three Overworld nodes on a private PostgreSQL and Redis, behind a balancer, under "
        "load; kill -9 of a node, restart of PostgreSQL, restart of Redis; checks that nothing "
        "acknowledged was lost and reports the time to ready and the clients' reconnection times.",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--clients", type=int, default=24, help="concurrent clients (default 24)")
    parser.add_argument("--rooms", type=int, default=3, help="chat rooms the clients share (default 3)")
    parser.add_argument("--hold", type=float, default=2.0, help="seconds a part stays down (default 2)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between writes (default 0.5)")
    parser.add_argument("--short", action="store_true", help="the CI version: 8 clients, 24 s, 1 s down")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (logs) at the end")
    parser.add_argument("--verbose", action="store_true", help="log every socket drop and failed reconnect")
    args = parser.parse_args(argv)
    if args.short:
        args.duration, args.clients, args.hold = min(args.duration, 24.0), min(args.clients, 8), 1.0
    for name in ("duration", "clients", "rooms", "interval"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    if args.hold < 0:
        parser.error("--hold must not be negative")
    if args.clients > 500:
        parser.error("--clients is at most 500")
    return Options(
        args.duration, args.clients, args.rooms, args.hold, args.interval, args.json, args.keep, args.verbose
    )


def main(argv: list[str] | None = None) -> int:
    global VERBOSE
    options = parse(argv)
    VERBOSE = options.verbose
    started = now()
    chaos = Chaos(options)

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, terminate)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        try:
            chaos.setup()
        except SetupError as error:
            print(f"chaos: could not set up the cluster: {error}", file=sys.stderr)
            return 2
        verified = loop.run_until_complete(chaos.run())
        result = report(chaos, verified, options, now() - started)
        print_table(result)
        if options.json_path is not None:
            options.json_path.write_text(json.dumps(result, indent=2) + "\n")
        if not result["ok"]:
            for node in chaos.nodes:
                print(f"--- node {node.index} (last lines) ---\n{node.tail()}", file=sys.stderr)
        return 0 if result["ok"] else 1
    except KeyboardInterrupt:
        print("chaos: interrupted; cleaning up", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("chaos: the run failed (not a verdict on the server); cleaning up", file=sys.stderr)
        return 2
    finally:
        try:
            chaos.close()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
