"""SIGTERM closes every open socket with 1001 "Server shutting down" (docs/operations.md), before
uvicorn's own shutdown (which would close them with 1012 and no reason)."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.realtime_support import FORMATS, Socket, authenticate, open_socket
from tests.support import running_server


@pytest.mark.parametrize("fmt", FORMATS)
def test_sigterm_closes_sockets_with_1001_and_the_reason(tmp_path, fmt):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    with running_server(env, tmp_path) as server:
        host = f"127.0.0.1:{server.port}"

        async def scenario() -> list[tuple[int | None, str]]:
            sockets: list[Socket] = []
            for _ in range(5):
                sockets.append(await open_socket(host, await authenticate(host, "defaultkey"), fmt=fmt))
            for sock in sockets:
                assert "pong" in await sock.request("ping")
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            return list(await asyncio.wait_for(asyncio.gather(*(s.closed for s in sockets)), 20))

        closes = asyncio.run(scenario())
        assert server.proc is not None and server.proc.wait(20) in (0, -signal.SIGTERM)
    assert closes == [(1001, "Server shutting down")] * 5


@pytest.mark.cluster
def test_sigterm_to_workers_closes_every_workers_sockets_with_1001(tmp_path):
    from tests.server.test_workers import workers

    with workers(tmp_path) as running:
        host = f"127.0.0.1:{running.port}"

        async def scenario() -> tuple[set[str], list[tuple[int | None, str]]]:
            sockets: list[Socket] = []
            nodes: set[str] = set()
            while len(nodes) < 2 and len(sockets) < 40:  # the kernel spreads connections over workers
                sock = await open_socket(host, await authenticate(host, "defaultkey"))
                nodes.add((await sock.request("rpc", {"id": "whoami", "payload": ""}))["rpc"]["payload"])
                sockets.append(sock)
            running.proc.send_signal(signal.SIGTERM)
            closes = await asyncio.wait_for(asyncio.gather(*(s.closed for s in sockets)), 30)
            return nodes, list(closes)

        nodes, closes = asyncio.run(scenario())
        assert running.proc.wait(30) == 0, running.output()
    assert nodes == {"box-0", "box-1"}
    assert closes == [(1001, "Server shutting down")] * len(closes)
