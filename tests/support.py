"""Helpers shared by the tests: databases per backend, a live server process, small API calls."""

from __future__ import annotations

import asyncio
import base64
import contextvars
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

PG_URL = os.environ.get("OVERWORLD_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("OVERWORLD_TEST_REDIS_URL", "")
ROOT = Path(__file__).resolve().parent.parent
_inside = contextvars.ContextVar("inside", default=False)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


# The Redis key prefixes this test process handed out (`redis_prefix`): their keys are deleted
# when the process's session ends (tests/conftest.py), whatever the servers left behind (a rank
# index written by a node's background task, a scheduler's lease ...).
REDIS_PREFIXES: set[str] = set()


def redis_prefix(name: str) -> str:
    """A fresh Redis key prefix for a test's nodes or servers, deleted with its keys at the end."""
    prefix = unique(name)
    REDIS_PREFIXES.add(prefix)
    return prefix


def drop_redis_prefixes() -> int:
    """Delete every key under the prefixes `redis_prefix` handed out; returns how many."""
    if not REDIS_URL or not REDIS_PREFIXES:
        return 0
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    dropped = 0
    try:
        for prefix in sorted(REDIS_PREFIXES):
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                dropped += int(client.delete(*keys[start : start + 500]))
        REDIS_PREFIXES.clear()
    except redis.RedisError:
        pass  # Redis gone: nothing to clean
    finally:
        client.close()
    return dropped


async def create_pg_database(admin_url: str) -> str:
    """A fresh, empty database on the server of `admin_url`; returns its URL."""
    import asyncpg

    name = f"ow_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


async def drop_pg_database(admin_url: str, url: str) -> None:
    import asyncpg

    name = url.rpartition("/")[2]
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`overworld serve` in a child process, as a user starts it."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "OVERWORLD_PORT": str(self.port), "OVERWORLD_HOST": "127.0.0.1"}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = cwd / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "overworld", "serve"],
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become ready:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@contextmanager
def running_server(env: dict[str, str], cwd: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(env, cwd).start()
    try:
        yield server
    finally:
        server.stop()


def have_node() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


T = TypeVar("T")


async def gather_all(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Their results, in order, as `asyncio.gather`; but the first failure cancels the others
    (an ExceptionGroup then names it), where gather would leave them running past the test's
    end: their connections, never closed, would then raise ResourceWarnings in a later test."""
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(c) for c in coroutines]
    return [t.result() for t in tasks]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def title_jobs(node: Any, title_id: str) -> list[str]:
    """The scheduler's jobs of one title (server code's cron jobs), without the node's own
    (retention, inventory expiry, ...)."""
    return [name for name in node.scheduler.names() if name.startswith(f"{title_id}:")]


def count_reads(node: Any, monkeypatch: pytest.MonkeyPatch, *tables: str) -> dict[str, list[str]]:
    """The queries sent to the database that read each of `tables` (a call made inside another,
    such as SQLite's fetchval through fetchrow, counted once)."""
    sent: dict[str, list[str]] = {table: [] for table in tables}
    for name in ("fetch", "fetchrow", "fetchval"):
        real = getattr(node.db, name)

        async def counted(sql: str, *args: Any, _real: Any = real) -> Any:
            if not _inside.get() and sql.startswith("SELECT"):
                for table in tables:
                    if table in sql:
                        sent[table].append(sql)
            token = _inside.set(True)
            try:
                return await _real(sql, *args)
            finally:
                _inside.reset(token)

        monkeypatch.setattr(node.db, name, counted)
    return sent
