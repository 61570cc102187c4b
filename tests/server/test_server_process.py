"""The server and the command line as a user runs them: `overworld serve`, `migrate`, `title create`."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.sync.client import connect

from tests.support import basic, bearer, running_server, unique


def overworld(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "overworld", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [[], ["serve"], ["migrate"], ["title"], ["title", "create"], ["title", "list"], ["title", "delete"]],
)
def test_every_command_has_help(args, tmp_path):
    result = overworld(*args, "--help", env={}, cwd=tmp_path)
    assert result.returncode == 0 and "usage: overworld" in result.stdout


def test_serve_first_start_creates_default_title_and_prints_addresses(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data"), "OVERWORLD_LOG_LEVEL": "debug"}
    with running_server(env, tmp_path) as server:
        session = httpx.post(
            server.url + "/v2/account/authenticate/device",
            json={"id": unique("device-")},
            headers=basic("defaultkey"),
        )
        assert session.status_code == 200 and session.json()["created"] is True
        account = httpx.get(server.url + "/v2/account", headers=bearer(session.json()["token"]))
        assert account.status_code == 200
        assert httpx.get(server.url + "/docs/openapi.json").status_code == 200
        assert "overworld_requests_total" in httpx.get(server.url + "/metrics").text
        # The realtime socket works as a user starts the server; its URL carries the token.
        ws_url = f"ws://127.0.0.1:{server.port}/ws?status=true&token={session.json()['token']}"
        with connect(ws_url) as ws:
            ws.send('{"cid": "1", "ping": {}}')
            assert orjson.loads(ws.recv(timeout=5)) == {"cid": "1", "pong": {}}
        email = httpx.post(
            server.url + "/v2/account/authenticate/email",
            json={"email": "secretive@example.com", "password": "hunter2-hunter2"},
            headers=basic("defaultkey"),
        )
        httpx.post(
            server.url + "/v2/account/authenticate/email",
            json={"email": "secretive@example.com", "password": "wrong-password"},
            headers=basic("defaultkey"),
        )
    output = server.output()
    assert f"http://127.0.0.1:{server.port}/docs" in output and "/metrics" in output
    assert (tmp_path / "data" / "overworld.db").exists()
    # Nothing secret reaches the log, even at debug level.
    for secret in (
        session.json()["token"],
        email.json()["token"],
        email.json()["refresh_token"],
        "defaultkey",
        "hunter2-hunter2",
        "wrong-password",
    ):
        assert secret not in output


def test_title_create_prints_a_key_that_works_on_a_running_server(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    with running_server(env, tmp_path) as server:
        created = overworld("title", "create", "space-game", env=env, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        key = next(
            line.split(":", 1)[1].strip()
            for line in created.stdout.splitlines()
            if line.startswith("server key")
        )
        # A running server notices titles created by another process on the first unknown key.
        deadline = time.monotonic() + 2
        while True:
            response = httpx.post(
                server.url + "/v2/account/authenticate/device",
                json={"id": unique("device-")},
                headers=basic(key),
            )
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert response.status_code == 200
        duplicate = overworld("title", "create", "space-game", env=env, cwd=tmp_path)
        assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
        listing = overworld("title", "list", env=env, cwd=tmp_path)
        assert "space-game" in listing.stdout and "default" in listing.stdout


def test_bad_configuration_stops_with_a_clear_message(tmp_path):
    result = overworld("serve", env={"OVERWORLD_PORT": "not-a-port"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "OVERWORLD_PORT" in result.stderr and "Traceback" not in result.stderr


def test_migrate_command(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    result = overworld("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 0 and "at revision" in result.stdout


def test_sigterm_finishes_in_flight_requests(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    with running_server(env, tmp_path) as server:
        # Email sign-ups hash a password (tens of milliseconds each), so several are in flight.
        # Each client connects first, so the sign-ups go out at once on open connections.
        clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(8)]
        for c in clients:
            assert c.get("/healthz").status_code == 200

        def signup(i: int) -> int:
            return (
                clients[i]
                .post(
                    "/v2/account/authenticate/email",
                    json={"email": f"user{i}-{unique()}@example.com", "password": "a long password"},
                    headers=basic("defaultkey"),
                )
                .status_code
            )

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(signup, i) for i in range(8)]
            time.sleep(0.15)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            statuses = [f.result() for f in futures]
        # uvicorn re-raises SIGTERM once its graceful shutdown is done.
        assert server.proc.wait(20) in (0, -signal.SIGTERM)
        for c in clients:
            c.close()
    assert statuses == [200] * 8
    assert "Application shutdown complete" in server.output()


def _get_healthz(conn: socket.socket) -> bytes:
    """The whole response (head and body may come in separate reads)."""
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: overworld\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += _read(conn)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += _read(conn)
    return head


def _read(conn: socket.socket) -> bytes:
    data = conn.recv(65536)
    if not data:
        raise ConnectionError("the server closed the connection without an answer")
    return data


@pytest.mark.parametrize(
    ("setting", "pause", "closed"), [({"OVERWORLD_HTTP_IDLE_TIMEOUT_SEC": "1"}, 2.5, True), ({}, 6, False)]
)
def test_an_idle_keep_alive_connection_stays_open_for_http_idle_timeout_sec(tmp_path, setting, pause, closed):
    """uvicorn's own default closes an idle connection after 5 s, and a client or balancer that
    sends on it just then gets no answer. The default (75 s) keeps it past a 6 s pause; 1 s does
    not keep it for 2.5 s."""
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data"), **setting}
    with (
        running_server(env, tmp_path) as server,
        socket.create_connection(("127.0.0.1", server.port)) as conn,
    ):
        conn.settimeout(5)
        assert _get_healthz(conn).startswith(b"HTTP/1.1 200")
        time.sleep(pause)
        if closed:
            assert conn.recv(1) == b""  # the server closed it: end of stream
        else:
            assert _get_healthz(conn).startswith(b"HTTP/1.1 200")
