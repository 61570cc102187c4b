"""The uvicorn adapter: the direct write paths only under a tested uvicorn, plain ASGI sends under
any other (everything still works), and uvicorn kept out of the layers below the transports."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from structlog.testing import capture_logs

from overworld.api import uvicorn_adapter
from overworld.api.http.app import create_app
from overworld.config import Settings
from overworld.node import Node
from tests.realtime_support import Socket, authenticate, open_socket, serve_app
from tests.support import basic, bearer, running_server, unique

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "examples" / "runtime"
UNTESTED = "0.53.0"  # a uvicorn release outside the adapter's tested range


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_tested_range() -> None:
    assert uvicorn_adapter.TESTED == ((0, 54), (0, 55))
    for version in ("0.54.0", "0.54.7", "0.54.1rc1"):
        assert uvicorn_adapter.supported(version), version
    for version in ("0.53.9", "0.55.0", "0.30.0", "1.54.0", "", "dev"):
        assert not uvicorn_adapter.supported(version), version
    # The installed (locked) uvicorn is a tested one: the suite exercises the direct paths.
    assert uvicorn_adapter.supported(uvicorn.__version__)


def test_realtime_and_transports_load_without_uvicorn() -> None:
    out = _python(
        """
        import importlib, pkgutil, sys
        import overworld.realtime
        for info in pkgutil.iter_modules(overworld.realtime.__path__):
            importlib.import_module("overworld.realtime." + info.name)
        below = sorted(m for m in sys.modules if m.split(".")[0] == "uvicorn" or m.startswith("overworld.api"))
        import overworld.api.http.edge, overworld.api.socket.endpoint
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "uvicorn" or "uvicorn" in m)
        print(below, loaded)
        """
    )
    assert out.split() == ["[]", "[]"]


def test_an_untested_uvicorn_never_loads_the_internals() -> None:
    out = _python(
        f"""
        import sys
        from overworld.api import uvicorn_adapter
        from overworld.api.http.edge import Edge
        from overworld.api.origins import Cors
        from overworld.config import Settings
        edge = Edge(None, 1024, Cors(Settings()))
        print(uvicorn_adapter.enable(edge, {UNTESTED!r}), edge.direct_respond)
        print(sorted(m for m in sys.modules if m.startswith(("uvicorn.protocols", "overworld.api.uvicorn_"))))
        """
    )
    assert out.splitlines()[-2:] == ["websockets-sansio None", "['overworld.api.uvicorn_adapter']"]


async def _round_trip(host: str, node: Node) -> Socket:
    """Sign up and fetch the account over HTTP (the edge's fast path), then a socket: ping, join a
    room, send a message and get it back as a push."""
    key = node.default_title.server_key
    session = await authenticate(host, key)
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        account = await http.get("/v2/account", headers=bearer(session["token"]))
        assert account.status_code == 200
        assert account.json()["user"]["id"] == session["user_id"]
        assert len(account.headers["x-request-id"]) == 32
    sock = await open_socket(host, session)
    assert "pong" in await sock.request("ping")
    reply = await sock.request("channel_join", {"target": unique("room"), "type": 1})
    channel = reply["channel"]["id"]
    await sock.request("channel_message_send", {"channel_id": channel, "content": '{"hi": 1}'})
    assert (await sock.push("channel_message"))["content"] == '{"hi": 1}'
    return sock


@pytest.mark.anyio
@pytest.mark.parametrize("version", [None, UNTESTED], ids=["tested", "untested"])
async def test_round_trip_with_and_without_the_direct_paths(
    settings: Settings, node: Node, version: str | None
) -> None:
    app = create_app(settings, node=node)
    with capture_logs() as logs:
        ws = uvicorn_adapter.enable(app, version)
    wrote: list[bool] = []
    if version is None:
        assert logs == []
        assert not isinstance(ws, str) and app.direct_respond is not None
        respond = app.direct_respond

        def counted(*args: Any) -> bool:
            wrote.append(respond(*args))
            return wrote[-1]

        app.direct_respond = counted
    else:
        assert ws == "websockets-sansio" and app.direct_respond is None
        assert [(entry["log_level"], entry["uvicorn"]) for entry in logs] == [("info", UNTESTED)]
    async with serve_app(app, settings, ws) as host:
        sock = await _round_trip(host, node)
        (conn,) = list(node.hub.registry)
        if version is None:
            assert conn._direct is not None  # frames written straight to the transport
            assert wrote and all(wrote)  # and HTTP responses in one write
        else:
            assert conn._direct is None  # ASGI websocket.send
        await sock.close()


def test_overworld_serve_under_an_untested_uvicorn(tmp_path: Path) -> None:
    """`overworld serve` itself, with uvicorn reporting a version outside the tested range (set at
    interpreter start by a `sitecustomize` module): one info line, and HTTP and sockets work."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(f"import uvicorn\nuvicorn.__version__ = {UNTESTED!r}\n")
    env = {
        "OVERWORLD_DATA_DIR": str(tmp_path / "data"),
        "OVERWORLD_RUNTIME_PATH": str(RUNTIME),
        "PYTHONPATH": str(shim),
    }
    with running_server(env, tmp_path) as server:
        echo = httpx.post(
            server.url + "/v2/rpc/echo?http_key=defaulthttpkey",
            content=b'"x"',
            headers={"X-Request-Id": "r1"},
        )
        assert echo.status_code == 200 and echo.json() == {"id": "echo", "payload": "x"}
        assert sorted(echo.headers) == [
            "access-control-allow-origin", "cache-control", "content-length", "content-security-policy",
            "content-type", "date", "referrer-policy", "x-content-type-options", "x-frame-options",
            "x-request-id",
        ]  # fmt: skip
        assert echo.headers["x-request-id"] == "r1"

        async def socket_round_trip() -> None:
            host = f"127.0.0.1:{server.port}"
            async with httpx.AsyncClient(base_url=server.url) as http:
                session = (
                    await http.post(
                        "/v2/account/authenticate/device",
                        json={"id": unique("d-")},
                        headers=basic("defaultkey"),
                    )
                ).json()
            sock = await open_socket(host, session)
            assert "pong" in await sock.request("ping")
            await sock.close()

        asyncio.run(socket_round_trip())
        output = server.output()
    lines = [line for line in output.splitlines() if "direct writes off" in line]
    assert len(lines) == 1 and UNTESTED in lines[0], output
