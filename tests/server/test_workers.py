"""`overworld serve --workers N`: N processes on one port forming a cluster, run as a user runs them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.realtime_support import Socket, authenticate, open_socket
from tests.support import (
    PG_URL,
    REDIS_URL,
    create_pg_database,
    drop_pg_database,
    free_port,
    redis_prefix,
    run,
)

WHOAMI = """
import asyncio


def init(ctx, nk, initializer):
    @initializer.rpc("whoami")
    def whoami(ctx, payload):
        return ctx.node

    @initializer.rpc("sleepy")
    async def sleepy(ctx, payload):
        await asyncio.sleep(30)
        return ""
"""


def overworld(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "overworld", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_workers_on_sqlite_are_refused_with_what_is_needed(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    result = overworld("serve", "--workers", "2", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "PostgreSQL" in result.stderr and "Redis" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before touching anything


def test_workers_without_redis_are_refused_with_what_is_needed(tmp_path):
    env = {"OVERWORLD_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = overworld("serve", "--workers", "auto", env=env, cwd=tmp_path)
    if os.sched_getaffinity(0) == {0} or len(os.sched_getaffinity(0)) == 1:
        pytest.skip("auto is one worker on a single core")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Redis" in result.stderr and "PostgreSQL" not in result.stderr
    bad = overworld("serve", "--workers", "0", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "--workers" in bad.stderr


def test_workers_on_a_port_taken_by_another_program_stop_in_one_line(tmp_path):
    env = {
        "OVERWORLD_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "OVERWORLD_REDIS_URL": "redis://x",
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = overworld(
            "serve", "--workers", "2", "--host", "127.0.0.1", "--port", port, env=env, cwd=tmp_path
        )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == f"overworld: cannot listen on 127.0.0.1:{port}: [Errno 98] Address already in use"
    )


class Workers:
    """`overworld serve --workers 2` in a child process, with its workers' pids."""

    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self) -> list[int]:
        match = re.search(r"workers: pids ([\d ]+)", self.output())
        assert match, self.output()
        return [int(p) for p in match.group(1).split()]

    def whoami(self) -> str:
        """The node answering a request on a new connection (the kernel picks a worker for each)."""
        with httpx.Client(base_url=self.url) as http:
            response = http.post("/v2/rpc/whoami?http_key=defaulthttpkey&unwrap=true", content=b"")
            assert response.status_code == 200, response.text
            return response.text


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@contextmanager
def workers(tmp_path: Path, count: int = 2, env_extra: dict[str, str] | None = None) -> Iterator[Workers]:
    if not (PG_URL and REDIS_URL):
        pytest.skip("workers form a cluster: needs OVERWORLD_TEST_DATABASE_URL and OVERWORLD_TEST_REDIS_URL")
    runtime = tmp_path / "runtime"
    runtime.mkdir(exist_ok=True)
    (runtime / "whoami.py").write_text(WHOAMI)
    database = run(create_pg_database(PG_URL))
    port = free_port()
    env = {
        **os.environ,
        "OVERWORLD_DATABASE_URL": database,
        "OVERWORLD_REDIS_URL": REDIS_URL,
        "OVERWORLD_REDIS_PREFIX": redis_prefix("owworkers"),
        "OVERWORLD_RUNTIME_PATH": str(runtime),
        "OVERWORLD_NODE_NAME": "box",
        "OVERWORLD_HOST": "127.0.0.1",
        "OVERWORLD_LOG_LEVEL": "info",
        **(env_extra or {}),
    }
    log = tmp_path / f"workers-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "overworld", "serve", "--workers", str(count), "--port", str(port)],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    running = Workers(proc, port, log)
    try:
        deadline = time.monotonic() + 60
        seen: set[str] = set()
        while len(seen) < count:
            assert proc.poll() is None, running.output()
            assert time.monotonic() < deadline, f"saw only {seen}:\n{running.output()}"
            try:
                seen.add(running.whoami())
            except (httpx.HTTPError, AssertionError):
                time.sleep(0.2)
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in running.pids() if "pids" in running.output() else []:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        run(drop_pg_database(PG_URL, database))


async def _socket_on(url_host: str, node: str, others: list[Socket]) -> Socket:
    """A signed-in socket that the kernel gave to worker `node` (new connections until one is)."""
    for _ in range(50):
        session = await authenticate(url_host, "defaultkey")
        sock = await open_socket(url_host, session)
        reply = await sock.request("rpc", {"id": "whoami", "payload": ""})
        if reply["rpc"]["payload"] == node:
            return sock
        others.append(sock)
    raise AssertionError(f"no socket reached {node}")


@pytest.mark.cluster
def test_two_workers_serve_requests_chat_across_and_stop_on_sigterm(tmp_path):
    with workers(tmp_path) as running:
        pids = running.pids()
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        # Requests on new connections are served by both workers, each its own node.
        answered = [running.whoami() for _ in range(40)]
        assert set(answered) == {"box-0", "box-1"}, answered
        assert min(answered.count("box-0"), answered.count("box-1")) >= 4, answered

        async def chat() -> None:
            host = f"127.0.0.1:{running.port}"
            spare: list[Socket] = []
            alice = await _socket_on(host, "box-0", spare)
            bob = await _socket_on(host, "box-1", spare)
            try:
                room = "lobby-" + uuid.uuid4().hex[:8]
                channel = (await alice.request("channel_join", {"target": room, "type": 1}))["channel"]
                await bob.request("channel_join", {"target": room, "type": 1})
                joined = await alice.push("channel_presence_event")  # alice's own join first
                if joined["joins"][0]["user_id"] == alice.user_id:
                    joined = await alice.push("channel_presence_event")
                assert joined["joins"][0]["user_id"] == bob.user_id  # heard across the workers
                await alice.request(
                    "channel_message_send", {"channel_id": channel["id"], "content": '{"hi":1}'}
                )
                message = await bob.push("channel_message")
                assert message["content"] == '{"hi":1}' and message["sender_id"] == alice.user_id
                await bob.request(
                    "channel_message_send", {"channel_id": channel["id"], "content": '{"hi":2}'}
                )
                assert (await alice.push("channel_message"))["content"] == '{"hi":1}'  # her own
                assert (await alice.push("channel_message"))["content"] == '{"hi":2}'
            finally:
                for sock in (alice, bob, *spare):
                    await sock.close()

        asyncio.run(chat())

        # SIGTERM to the supervisor: every worker drains and stops, and the supervisor exits 0.
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(30) == 0, running.output()
        assert not any(_alive(p) for p in pids)
        output = running.output()
        assert output.count("Application shutdown complete") == 2, output
        assert "Traceback" not in output and '"level": "error"' not in output, output
        assert output.count("ready: PostgreSQL, cluster") == 1  # one banner, by the first worker


@pytest.mark.cluster
def test_a_worker_that_dies_stops_the_others_and_the_supervisor_fails(tmp_path):
    with workers(tmp_path) as running:
        first, second = running.pids()
        os.kill(second, signal.SIGKILL)
        assert running.proc.wait(30) == 1, running.output()
        assert not _alive(first)
        assert f"worker 1 (pid {second}) was killed by signal 9; stopping the others" in running.output()


@pytest.mark.cluster
def test_workers_stop_when_the_supervisor_is_killed(tmp_path):
    with workers(tmp_path) as running:
        pids = running.pids()
        running.proc.kill()
        running.proc.wait()
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in pids)


@pytest.mark.cluster
def test_a_second_signal_stops_the_workers_at_once(tmp_path):
    slow = {"OVERWORLD_RUNTIME_TIMEOUT_MS": "60000", "OVERWORLD_SHUTDOWN_GRACE_SEC": "40"}
    with workers(tmp_path, env_extra=slow) as running, concurrent.futures.ThreadPoolExecutor(4) as pool:
        # Requests in flight on every worker keep a graceful stop waiting (up to 40 s).
        calls = [
            pool.submit(
                httpx.post, running.url + "/v2/rpc/sleepy?http_key=defaulthttpkey", content=b'""', timeout=60
            )
            for _ in range(4)
        ]
        time.sleep(1.0)
        running.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert running.proc.poll() is None, [c.result().text for c in calls if c.done()]  # draining
        started = time.monotonic()
        running.proc.send_signal(signal.SIGINT)  # the second signal
        code = running.proc.wait(20)
        assert time.monotonic() - started < 10 and code == 0, running.output()  # a stop asked for
        assert not any(_alive(p) for p in running.pids())
        for call in calls:
            call.exception(timeout=30)
