"""A live server in the test's event loop, and a small realtime socket client for tests.

The client speaks either format of the socket. In protobuf it converts with the protobuf
library's own protojson mapping (`google.protobuf.json_format`), independent of the server's
codec: requests are given and replies returned as the same dicts as with JSON, so a test runs
unchanged in both formats (the `socket_format` fixture of tests/conftest.py parametrizes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import uvicorn
from google.protobuf import json_format
from websockets.asyncio.client import ClientConnection, connect

from overworld.api import uvicorn_adapter
from overworld.api.http.app import create_app
from overworld.api.http.edge import Edge
from overworld.config import Settings
from overworld.node import Node
from overworld.protocol.pb import realtime_pb2
from tests.support import basic, free_port, unique


@contextlib.asynccontextmanager
async def live_server(settings: Settings, node: Node) -> AsyncIterator[str]:
    """Serve the node's app with uvicorn on a free port, as `overworld serve` does: with the uvicorn
    adapter's direct write paths (responses and frames written straight to the transport)."""
    app = create_app(settings, node=node)
    async with serve_app(app, settings, uvicorn_adapter.enable(app)) as host:
        yield host


@contextlib.asynccontextmanager
async def serve_app(app: Edge, settings: Settings, ws: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn and the WebSocket protocol `ws` on a free port."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws=ws, ws_per_message_deflate=False, lifespan="off",
        log_config=None, access_log=False, ws_max_size=max(65_536, 2 * settings.socket_max_message_bytes),
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


FORMATS = ("json", "protobuf")
# The format open_socket uses when none is given (set by the `socket_format` fixture).
default_format = "json"


def to_protobuf(envelope: dict[str, Any]) -> bytes:
    """A protojson envelope as protobuf bytes (unknown fields are an error)."""
    return json_format.ParseDict(envelope, realtime_pb2.Envelope()).SerializeToString()


def from_protobuf(data: bytes) -> dict[str, Any]:
    """Protobuf envelope bytes as protojson (int64 as strings, bytes as base64, field names kept)."""
    message = realtime_pb2.Envelope.FromString(data)
    result: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return result


class Socket:
    """One client socket: `request()` sends an envelope and returns its reply; `push()` waits for
    the next message the server sent on its own (no cid) of a given kind."""

    def __init__(self, ws: ClientConnection, session: dict[str, Any], fmt: str = "json") -> None:
        self.ws = ws
        self.format = fmt
        self.frames: list[str | bytes] = []  # every frame received, as it came
        self.session = session
        self.user_id: str = session.get("user_id", "")
        self._cids = itertools.count(1)
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())
        self.closed: asyncio.Future[tuple[int | None, str]] = asyncio.get_running_loop().create_future()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(raw)
                if self.format == "protobuf":
                    assert isinstance(raw, bytes), f"a text frame on a protobuf socket: {raw!r}"
                    message = from_protobuf(raw)
                else:
                    assert isinstance(raw, str), f"a binary frame on a JSON socket: {raw!r}"
                    message = orjson.loads(raw)
                cid = message.get("cid")
                if cid and cid in self._replies:
                    self._replies.pop(cid).set_result(message)
                else:
                    self.pushes.put_nowait(message)
        except Exception:  # noqa: S110 - a dropped connection ends the reader; `closed` says how
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result((self.ws.close_code, self.ws.close_reason or ""))

    async def request(
        self,
        kind: str,
        body: dict[str, Any] | None = None,
        timeout: float = 5,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        cid = str(next(self._cids))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[cid] = future
        await self.send({"cid": cid, kind: body or {}})
        return await asyncio.wait_for(future, timeout)

    async def send(self, envelope: dict[str, Any]) -> None:
        """Send an envelope given in protojson form, in the socket's format."""
        if self.format == "protobuf":
            await self.ws.send(to_protobuf(envelope))
        else:
            await self.ws.send(orjson.dumps(envelope).decode())

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def push(self, kind: str, timeout: float = 5) -> dict[str, Any]:  # noqa: ASYNC109
        """The next pushed message of `kind` (others before it are dropped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.pushes.get()
                if kind in message:
                    body: dict[str, Any] = message[kind]
                    return body

    async def no_push(self, kind: str, wait: float = 0.3) -> None:
        """Assert that no message of `kind` arrives within `wait` seconds."""
        with contextlib.suppress(TimeoutError):
            body = await self.push(kind, timeout=wait)
            raise AssertionError(f"unexpected {kind}: {body}")

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 2)


async def authenticate(host: str, server_key: str, username: str | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        params = {"username": username} if username else {}
        response = await http.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, params=params,
            headers=basic(server_key),
        )  # fmt: skip
        assert response.status_code == 200, response.text
        session: dict[str, Any] = response.json()
        account = (
            await http.get("/v2/account", headers={"Authorization": f"Bearer {session['token']}"})
        ).json()
        session["user_id"] = account["user"]["id"]
        session["username"] = account["user"]["username"]
        return session


async def open_socket(
    host: str, session: dict[str, Any], status: bool = False, fmt: str | None = None
) -> Socket:
    fmt = fmt or default_format
    url = f"ws://{host}/ws?lang=en&status={'true' if status else 'false'}&token={session['token']}"
    if fmt != "json":
        url += f"&format={fmt}"
    ws = await connect(url, compression=None)
    return Socket(ws, session, fmt)
