#!/usr/bin/env python3
"""HTTP load generator for a running Overworld (or Nakama) server.

Drives the server over many concurrent keep-alive HTTP/1.1 connections with a deliberately tiny
client (asyncio protocol, pre-built request bytes, a status-line + Content-Length parser), so the
generator costs far less CPU per request than the server does. The load can be spread over
several worker processes (--procs); their latency samples are merged.

Scenarios (see bench/README.md):
  auth-new       POST /v2/account/authenticate/device?create=true, a new device id every request
  auth-existing  the same with device ids from a pre-created pool (log-ins of existing accounts)
  account-get    GET /v2/account with bearer tokens of the pool
  storage-write  PUT /v2/storage, one object per request, keys k0..k<keys-1> per connection
  storage-read   POST /v2/storage, one object per request, objects written beforehand
  healthz        GET /healthz (not in "all"): the HTTP stack alone, a ceiling for the others
  rpc-echo       POST /v2/rpc/echo with a session (not in "all"; the server needs
                 OVERWORLD_RUNTIME_PATH=examples/runtime)

Only the standard library plus uvloop and orjson (both optional) are used.

    python bench/http_load.py --url http://127.0.0.1:7350 --scenario all --duration 10 -c 64
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import time
import urllib.parse
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

try:
    import orjson

    def jdumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    jloads = orjson.loads
except ImportError:  # pragma: no cover

    def jdumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    jloads = json.loads

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

SCENARIOS = ["auth-new", "auth-existing", "account-get", "storage-write", "storage-read"]
# Not part of "all": GET /healthz, the cost of the HTTP stack alone (a floor for the others).
EXTRA_SCENARIOS = ["healthz", "rpc-echo"]
MAX_ERROR_BODIES = 5


# --------------------------------------------------------------------------------------------
# Minimal HTTP/1.1 keep-alive client
# --------------------------------------------------------------------------------------------


class HttpError(Exception):
    pass


class Conn(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time (no pipelining)."""

    __slots__ = ("_buf", "_closed", "_fut", "_loop", "transport")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buf = bytearray()
        self._fut: asyncio.Future[tuple[int, bytes]] | None = None
        self._closed = False
        self.transport: asyncio.Transport | None = None

    # asyncio callbacks ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_exception(HttpError(f"connection lost: {exc!r}"))
        self._fut = None

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        fut = self._fut
        if fut is None:
            return
        # Parse one response: status line + headers, then a Content-Length (or chunked) body.
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end])
        body_start = end + 4
        # "HTTP/1.1 200 OK"
        try:
            status = int(head[9:12])
        except ValueError:
            fut.set_exception(HttpError(f"bad status line {head[:40]!r}"))
            self._fut = None
            return
        lower = head.lower()
        i = lower.find(b"\r\ncontent-length:")
        if i >= 0:
            j = lower.find(b"\r\n", i + 17)
            length = int(lower[i + 17 : j if j >= 0 else len(lower)])
            if len(buf) < body_start + length:
                return
            body = bytes(buf[body_start : body_start + length])
            del buf[: body_start + length]
        elif b"\r\ntransfer-encoding: chunked" in lower:
            body_parts = []
            pos = body_start
            while True:
                k = buf.find(b"\r\n", pos)
                if k < 0:
                    return
                size = int(bytes(buf[pos:k]).split(b";")[0], 16)
                if size == 0:
                    t = buf.find(b"\r\n\r\n", k)  # trailers end
                    if t < 0:
                        return
                    del buf[: t + 4]
                    break
                if len(buf) < k + 2 + size + 2:
                    return
                body_parts.append(bytes(buf[k + 2 : k + 2 + size]))
                pos = k + 2 + size + 2
            body = b"".join(body_parts)
        else:  # no body (204/304) or close-delimited; treat as empty
            body = b""
            del buf[:body_start]
        self._fut = None
        fut.set_result((status, body))

    # API ---------------------------------------------------------------------------------
    def request(self, raw: bytes) -> asyncio.Future[tuple[int, bytes]]:
        if self._closed or self.transport is None:
            raise HttpError("connection closed")
        fut = self._loop.create_future()
        self._fut = fut
        self.transport.write(raw)
        return fut

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int) -> Conn:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: Conn(loop), host, port)
    return proto


def build_request(method: str, path: str, host_header: bytes, headers: bytes, body: bytes = b"") -> bytes:
    """Raw HTTP/1.1 request; `headers` is pre-formatted 'Name: value\\r\\n' lines."""
    out = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s" % (method.encode(), path.encode(), host_header, headers)
    if body or method in ("POST", "PUT"):
        out += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return out + b"\r\n" + body


# --------------------------------------------------------------------------------------------
# Scenarios: each produces, per connection, a function seq -> raw request bytes
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    host: str
    port: int
    host_header: bytes
    server_key: str

    @property
    def basic(self) -> bytes:
        return b"Authorization: Basic " + base64.b64encode(self.server_key.encode() + b":") + b"\r\n"


@dataclass
class Pool:
    """Pre-created accounts: device id, session token, user id."""

    device_ids: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    rotate: int = 0  # --rotate-users: the connections' count, else 0 (one user per connection)


def user_id_of(token: str) -> str:
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return str(jloads(base64.urlsafe_b64decode(payload))["uid"])


RequestFn = Callable[[int], bytes]


def make_request_fn(
    scenario: str, t: Target, pool: Pool, conn_id: int, run_tag: str, keys: int, read_keys: int
) -> RequestFn:
    hh = t.host_header
    if scenario == "healthz":
        raw = build_request("GET", "/healthz", hh, b"")
        return lambda seq: raw
    if scenario == "auth-new":
        path = "/v2/account/authenticate/device?create=true"
        prefix = build_request("POST", path, hh, t.basic)  # ends with ...Content-Length: 0\r\n\r\n
        prefix = prefix[: prefix.rfind(b"Content-Length:")]
        dev_prefix = f"bench-{run_tag}-{conn_id}-"

        def fn(seq: int) -> bytes:
            body = b'{"id":"%s%d"}' % (dev_prefix.encode(), seq)
            return prefix + b"Content-Length: %d\r\n\r\n" % len(body) + body

        return fn
    if scenario == "auth-existing":
        path = "/v2/account/authenticate/device?create=true"
        reqs = [build_request("POST", path, hh, t.basic, jdumps({"id": d})) for d in pool.device_ids]
        n = len(reqs)
        offset = (conn_id * 7919) % n

        def fn(seq: int) -> bytes:
            return reqs[(offset + seq) % n]

        return fn
    token = pool.tokens[conn_id % len(pool.tokens)]
    uid = pool.user_ids[conn_id % len(pool.user_ids)]
    bearer = b"Authorization: Bearer " + token.encode() + b"\r\n"
    if scenario in ("account-get", "rpc-echo") and pool.rotate:
        # every request as the next user: connection c sends as users c, c + C, c + 2C, ...
        def one(token: str) -> bytes:
            auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
            if scenario == "account-get":
                return build_request("GET", "/v2/account", hh, auth)
            body = jdumps(jdumps({"hello": "world"}).decode())
            return build_request("POST", "/v2/rpc/echo", hh, auth, body)

        every = [one(tok) for tok in pool.tokens]
        n, step = len(every), pool.rotate

        def rotated(seq: int) -> bytes:
            return every[(conn_id + seq * step) % n]

        return rotated
    if scenario == "account-get":
        raw = build_request("GET", "/v2/account", hh, bearer)
        return lambda seq: raw
    if scenario == "rpc-echo":
        raw = build_request("POST", "/v2/rpc/echo", hh, bearer, jdumps(jdumps({"hello": "world"}).decode()))
        return lambda seq: raw
    if scenario == "storage-write":
        reqs = []
        for n in range(keys):
            value = jdumps({"score": n}).decode()
            body = jdumps({"objects": [{"collection": "bench", "key": f"k{n}", "value": value}]})
            reqs.append(build_request("PUT", "/v2/storage", hh, bearer, body))
        start = conn_id % keys

        def fn(seq: int) -> bytes:
            return reqs[(start + seq) % keys]

        return fn
    if scenario == "storage-read":
        reqs = []
        for n in range(read_keys):
            body = jdumps({"object_ids": [{"collection": "bench", "key": f"k{n}", "user_id": uid}]})
            reqs.append(build_request("POST", "/v2/storage", hh, bearer, body))
        start = conn_id % read_keys

        def fn(seq: int) -> bytes:
            return reqs[(start + seq) % read_keys]

        return fn
    raise ValueError(f"unknown scenario {scenario}")


# --------------------------------------------------------------------------------------------
# Worker: C connections, each a closed loop of request -> response until the deadline
# --------------------------------------------------------------------------------------------


@dataclass
class WorkerResult:
    requests: int = 0
    errors: int = 0
    error_bodies: list[str] = field(default_factory=list)
    status_counts: dict[int, int] = field(default_factory=dict)
    latencies: bytes = b""  # array('d') of seconds
    t_start: float = 0.0
    t_end: float = 0.0
    cpu_sec: float = 0.0


async def _run_worker(
    scenario: str,
    t: Target,
    pool: Pool,
    conn_ids: list[int],
    run_tag: str,
    start_at: float,
    duration: float,
    keys: int,
    read_keys: int,
) -> WorkerResult:
    conns = await asyncio.gather(*(connect(t.host, t.port) for _ in conn_ids))
    fns = [make_request_fn(scenario, t, pool, cid, run_tag, keys, read_keys) for cid in conn_ids]
    res = WorkerResult()
    lat = array("d")
    statuses: dict[int, int] = {}
    errors = 0
    error_bodies: list[str] = []
    # Wall clock to align processes, then the monotonic clock.
    delay = start_at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    perf = time.perf_counter
    t0 = perf()
    deadline = t0 + duration
    cpu0 = time.process_time()

    async def drive(conn: Conn, fn: RequestFn) -> None:
        nonlocal errors
        seq = 0
        append = lat.append
        while True:
            s = perf()
            if s >= deadline:
                return
            raw = fn(seq)
            seq += 1
            try:
                status, body = await conn.request(raw)
            except HttpError as exc:
                errors += 1
                if len(error_bodies) < MAX_ERROR_BODIES:
                    error_bodies.append(str(exc))
                return
            append(perf() - s)
            statuses[status] = statuses.get(status, 0) + 1
            if status >= 300:
                errors += 1
                if len(error_bodies) < MAX_ERROR_BODIES:
                    error_bodies.append(f"HTTP {status}: {body[:300].decode(errors='replace')}")

    await asyncio.gather(*(drive(c, f) for c, f in zip(conns, fns, strict=True)))
    t1 = perf()
    res.cpu_sec = time.process_time() - cpu0
    for c in conns:
        c.close()
    res.requests = len(lat)
    res.errors = errors
    res.error_bodies = error_bodies
    res.status_counts = statuses
    res.latencies = lat.tobytes()
    res.t_start = t0
    res.t_end = t1
    # Express times relative to the shared wall-clock start so processes can be merged.
    wall_offset = time.time() - t1
    res.t_start = t0 + wall_offset
    res.t_end = t1 + wall_offset
    return res


def _new_loop() -> asyncio.AbstractEventLoop:
    if uvloop is not None:
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _worker_main(args: tuple[Any, ...], out: Any) -> None:
    loop = _new_loop()
    try:
        res = loop.run_until_complete(_run_worker(*args))
        out.send(res)
    except BaseException as exc:
        out.send(exc)
    finally:
        out.close()
        loop.close()


# --------------------------------------------------------------------------------------------
# Setup (not timed): a pool of accounts and, for storage-read, objects to read
# --------------------------------------------------------------------------------------------


async def _setup_calls(t: Target, reqs: list[bytes], concurrency: int) -> list[tuple[int, bytes]]:
    conns = await asyncio.gather(*(connect(t.host, t.port) for _ in range(min(concurrency, len(reqs)))))
    out: list[tuple[int, bytes]] = [(0, b"")] * len(reqs)
    it = iter(range(len(reqs)))

    async def drive(conn: Conn) -> None:
        for i in it:
            out[i] = await conn.request(reqs[i])

    await asyncio.gather(*(drive(c) for c in conns))
    for c in conns:
        c.close()
    bad = [(s, b) for s, b in out if s >= 300]
    if bad:
        raise SystemExit(
            f"setup failed: {len(bad)} of {len(reqs)} calls, first: {bad[0][0]} {bad[0][1][:300]!r}"
        )
    return out


async def create_pool(t: Target, size: int, run_tag: str, concurrency: int) -> Pool:
    path = "/v2/account/authenticate/device?create=true"
    ids = [f"pool-{run_tag}-{i:06d}" for i in range(size)]
    reqs = [build_request("POST", path, t.host_header, t.basic, jdumps({"id": d})) for d in ids]
    res = await _setup_calls(t, reqs, concurrency)
    pool = Pool(device_ids=ids)
    for _, body in res:
        token = jloads(body)["token"]
        pool.tokens.append(token)
        pool.user_ids.append(user_id_of(token))
    return pool


async def write_read_objects(t: Target, pool: Pool, read_keys: int, concurrency: int) -> None:
    reqs = []
    for token in pool.tokens:
        objs = [
            {"collection": "bench", "key": f"k{n}", "value": jdumps({"score": n}).decode()}
            for n in range(read_keys)
        ]
        bearer = b"Authorization: Bearer " + token.encode() + b"\r\n"
        reqs.append(build_request("PUT", "/v2/storage", t.host_header, bearer, jdumps({"objects": objs})))
    await _setup_calls(t, reqs, concurrency)


# --------------------------------------------------------------------------------------------
# Server CPU (optional, /proc/<pid>/stat)
# --------------------------------------------------------------------------------------------


def proc_cpu_sec(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def tree_cpu_sec(pid: int) -> float | None:
    """CPU seconds of a process and its children (the workers of `overworld serve --workers N`)."""
    own = proc_cpu_sec(pid)
    if own is None:
        return None
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            children = [int(c) for c in fh.read().split()]
    except OSError:
        children = []
    return own + sum(proc_cpu_sec(c) or 0.0 for c in children)


def db_cpu_sec(dbname: str = "") -> float:
    """CPU seconds of the local PostgreSQL: its shared processes (WAL writer, checkpointer, ...) and
    the client backends of `dbname` (every database's backends when empty; other databases'
    backends are left out so that other work on the machine is not counted)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                raw = fh.read()
            if raw[raw.find("(") + 1 : raw.rfind(")")] != "postgres":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        is_backend = "(" in cmd.split(":", 2)[-1] or "[local]" in cmd  # "... db 127.0.0.1(5432) idle"
        if dbname and is_backend and f" {dbname} " not in cmd:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_idle(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (up to max_wait s) until the machine is idle; return the busy cores last measured."""
    deadline = time.time() + max_wait
    while True:
        a = host_busy_cpus()
        time.sleep(1.0)
        b = host_busy_cpus()
        if a is None or b is None or b[1] <= a[1]:
            return 0.0
        busy = (os.cpu_count() or 1) * (b[0] - a[0]) / (b[1] - a[1])
        if busy <= threshold or time.time() >= deadline:
            return round(busy, 2)
        print(f"#   machine busy ({busy:.2f} cores used by other processes), waiting", flush=True)


def host_busy_cpus() -> tuple[float, float] | None:
    """(busy jiffies, total jiffies) summed over all CPUs, from /proc/stat."""
    try:
        with open("/proc/stat") as fh:
            vals = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])  # guest time is already counted in user
    return float(total - idle), float(total)


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def percentile(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(p / 100.0 * len(sorted_vals) + 0.5) - 1))
    return sorted_vals[k]


def run_scenario(
    scenario: str, t: Target, pool: Pool, args: argparse.Namespace, run_tag: str
) -> dict[str, Any]:
    procs = max(1, args.procs)
    conns = args.connections
    if conns < procs:
        raise SystemExit("--connections must be at least --procs")
    split = [list(range(p, conns, procs)) for p in range(procs)]
    idle_before = wait_idle(args.wait_idle) if args.wait_idle > 0 else None
    ctx = mp.get_context("fork")
    start_at = time.time() + 0.5 + 0.002 * conns / procs
    workers = []
    for ids in split:
        recv, send = ctx.Pipe(duplex=False)
        w_args = (
            scenario,
            t,
            pool,
            ids,
            f"{run_tag}-{scenario}",
            start_at,
            args.duration,
            args.keys,
            args.read_keys,
        )
        p = ctx.Process(target=_worker_main, args=(w_args, send), daemon=True)
        p.start()
        send.close()
        workers.append((p, recv))
    server_cpu0 = tree_cpu_sec(args.server_pid) if args.server_pid else None
    # Sample the server's CPU time at the start and end of the timed window.
    while time.time() < start_at:
        time.sleep(0.005)
    if args.server_pid:
        server_cpu0 = tree_cpu_sec(args.server_pid)
    host0 = host_busy_cpus()
    db0 = db_cpu_sec(args.db_name) if args.db_cpu else 0.0
    w0 = time.time()
    results: list[WorkerResult] = []
    for p, recv in workers:
        try:
            r = recv.recv()
        except EOFError:
            raise SystemExit(f"worker {p.pid} died without a result") from None
        if isinstance(r, BaseException):
            raise SystemExit(f"worker failed: {r!r}")
        results.append(r)
        p.join()
    server_cpu1 = tree_cpu_sec(args.server_pid) if args.server_pid else None
    host1 = host_busy_cpus()
    db1 = db_cpu_sec(args.db_name) if args.db_cpu else 0.0
    w1 = time.time()

    lat = array("d")
    for r in results:
        a = array("d")
        a.frombytes(r.latencies)
        lat.extend(a)
    vals = sorted(lat)
    t_start = min(r.t_start for r in results)
    t_end = max(r.t_end for r in results)
    elapsed = max(1e-9, t_end - t_start)
    statuses: dict[int, int] = {}
    for r in results:
        for s, n in r.status_counts.items():
            statuses[s] = statuses.get(s, 0) + n
    requests = sum(r.requests for r in results)
    errors = sum(r.errors for r in results)
    ok = requests - sum(n for s, n in statuses.items() if s >= 300)
    out: dict[str, Any] = {
        "scenario": scenario,
        "connections": conns,
        "procs": procs,
        "duration_s": round(elapsed, 3),
        "requests": requests,
        "ok": ok,
        "errors": errors,
        "rps": round(ok / elapsed, 1),
        "p50_ms": round(percentile(vals, 50) * 1000, 2),
        "p90_ms": round(percentile(vals, 90) * 1000, 2),
        "p99_ms": round(percentile(vals, 99) * 1000, 2),
        "max_ms": round(vals[-1] * 1000, 2) if vals else float("nan"),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "error_bodies": [b for r in results for b in r.error_bodies][:MAX_ERROR_BODIES],
        # Generator CPU: seconds of CPU per second of wall clock, summed over processes (1.0 = a core).
        "gen_cpu": round(sum(r.cpu_sec for r in results) / elapsed, 2),
    }
    if host0 is not None and host1 is not None and host1[1] > host0[1]:
        # Busy share of all CPUs, expressed in cores (2.00 = both cores of a 2-core machine busy).
        ncpu = os.cpu_count() or 1
        out["host_cpu"] = round(ncpu * (host1[0] - host0[0]) / (host1[1] - host0[1]), 2)
    if args.db_cpu:
        out["db_cpu"] = round((db1 - db0) / max(1e-9, w1 - w0), 2)
    if server_cpu0 is not None and server_cpu1 is not None:
        out["server_cpu"] = round((server_cpu1 - server_cpu0) / max(1e-9, w1 - w0), 2)
    if "host_cpu" in out:
        # CPU used by anything else on the machine during the run: large values mean the figures
        # are disturbed by other work (the server was not alone on its core).
        other = out["host_cpu"] - out["gen_cpu"] - out.get("server_cpu", 0.0) - out.get("db_cpu", 0.0)
        out["other_cpu"] = round(max(0.0, other), 2)
    if idle_before is not None:
        out["busy_before"] = idle_before
    return out


def fmt_row(r: dict[str, Any]) -> str:
    srv = f"{r['server_cpu']:.2f}" if "server_cpu" in r else "-"
    db = f"{r['db_cpu']:.2f}" if "db_cpu" in r else "-"
    other = f"{r['other_cpu']:.2f}" if "other_cpu" in r else "-"
    return (
        f"{r['scenario']:<14} {r['rps']:>10,.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
        f"{r['errors']:>7} {r['requests']:>9} {r['gen_cpu']:>7.2f} {srv:>7} {db:>7} {other:>7}"
    )


HEADER = (
    f"{'scenario':<14} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'requests':>9} "
    f"{'gen cpu':>7} {'srv cpu':>7} {'db cpu':>7} {'other':>7}"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:7350")
    ap.add_argument("--server-key", default="defaultkey")
    ap.add_argument(
        "--scenario",
        default="all",
        help=f"'all' or a comma-separated list of: {', '.join(SCENARIOS + EXTRA_SCENARIOS)} "
        "(healthz is not part of 'all')",
    )
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per scenario (default 10)")
    ap.add_argument("-c", "--connections", type=int, default=64, help="concurrent connections (default 64)")
    ap.add_argument("--procs", type=int, default=1, help="load-generator processes (default 1)")
    ap.add_argument("--pool", type=int, default=1000, help="pre-created accounts (default 1000)")
    ap.add_argument(
        "--rotate-users",
        action="store_true",
        help="account-get, rpc-echo: each request as the next pool user (default: one user per"
        " connection, which puts each user far above a per-user rate limit at full speed)",
    )
    ap.add_argument("--keys", type=int, default=100, help="storage-write: keys cycled per connection")
    ap.add_argument("--read-keys", type=int, default=10, help="storage-read: objects written per pool user")
    ap.add_argument(
        "--server-pid",
        type=int,
        default=0,
        help="report this process's CPU use (with its children's) per scenario",
    )
    ap.add_argument(
        "--db-cpu", action="store_true", help="report the CPU use of local 'postgres' processes per scenario"
    )
    ap.add_argument("--db-name", default="", help="with --db-cpu: count only this database's backends")
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        help="before each scenario wait up to this many seconds for the machine to be idle (default 0)",
    )
    ap.add_argument("--after-setup", help="shell command to run after the set-up, before the timed runs")
    ap.add_argument("--label", default="", help="label stored with the results (e.g. sqlite, postgres)")
    ap.add_argument("--json-out", help="also write the results as JSON to this file")
    args = ap.parse_args(argv)

    scenarios = SCENARIOS if args.scenario == "all" else [s.strip() for s in args.scenario.split(",")]
    for s in scenarios:
        if s not in SCENARIOS + EXTRA_SCENARIOS:
            ap.error(f"unknown scenario {s!r}")
    u = urllib.parse.urlsplit(args.url)
    if u.scheme != "http":
        ap.error("only http:// URLs are supported")
    host = u.hostname or "127.0.0.1"
    port = u.port or 80
    t = Target(host=host, port=port, host_header=f"{host}:{port}".encode(), server_key=args.server_key)
    run_tag = f"{int(time.time()):x}{random.getrandbits(24):06x}"

    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        affinity = []
    print(
        f"# target {args.url}  label={args.label or '-'}  connections={args.connections}  "
        f"procs={args.procs}  duration={args.duration:g}s  generator CPUs={affinity}  "
        f"loop={'uvloop' if uvloop else 'asyncio'}",
        flush=True,
    )

    pool = Pool()
    needs_pool = any(s not in ("auth-new", "healthz") for s in scenarios)
    if needs_pool:
        loop = _new_loop()
        try:
            t0 = time.perf_counter()
            pool = loop.run_until_complete(create_pool(t, args.pool, run_tag, min(args.connections, 64)))
            pool.rotate = args.connections if args.rotate_users else 0
            print(f"# setup: {len(pool.tokens)} pool accounts in {time.perf_counter() - t0:.1f}s", flush=True)
            if "storage-read" in scenarios:
                t0 = time.perf_counter()
                loop.run_until_complete(
                    write_read_objects(t, pool, args.read_keys, min(args.connections, 64))
                )
                print(
                    f"# setup: {args.read_keys} objects for each of {len(pool.tokens)} users in "
                    f"{time.perf_counter() - t0:.1f}s",
                    flush=True,
                )
        finally:
            loop.close()
    if args.after_setup:
        t0 = time.perf_counter()
        subprocess.run(args.after_setup, shell=True, check=True)  # noqa: S602 - the operator's own command
        print(f"# after setup: ran {args.after_setup!r} in {time.perf_counter() - t0:.1f}s", flush=True)

    print(HEADER, flush=True)
    results = []
    for s in scenarios:
        r = run_scenario(s, t, pool, args, run_tag)
        results.append(r)
        print(fmt_row(r), flush=True)
        for body in r["error_bodies"]:
            print(f"    error: {body}", flush=True)
    print(
        "# gen cpu / srv cpu: CPU-seconds per wall-second of the load generator (all procs) and of "
        "--server-pid (1.00 = one core busy); db cpu: local PostgreSQL (--db-cpu); other: every other "
        "process on the machine (should be ~0; if not, the figures are disturbed)",
        flush=True,
    )

    if args.json_out:
        doc = {
            "label": args.label,
            "url": args.url,
            "connections": args.connections,
            "procs": args.procs,
            "duration_s": args.duration,
            "generator_cpus": affinity,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "results": results,
        }
        with open(args.json_out, "w") as fh:
            json.dump(doc, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
