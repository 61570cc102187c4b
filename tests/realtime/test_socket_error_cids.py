"""Errors for frames refused before they are handled (too large, over the rate limit, not parsed)
carry the frame's `cid` whenever it can be read, in both socket formats, so that a client can
match them to its request."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from overworld.config import Settings
from overworld.node import Node
from overworld.protocol.pb import realtime_pb2
from tests.realtime_support import Socket, authenticate, live_server, open_socket

pytestmark = [pytest.mark.anyio]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, socket_rate_limit=5)


@pytest.fixture
async def host(settings: Settings, node: Node):
    async with live_server(settings, node) as h:
        yield h


async def _errors(sock: Socket, count: int) -> list[dict[str, Any]]:
    """The next `count` error envelopes the server sent on its own (cid included)."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while len(found) < count:
            message = await sock.pushes.get()
            if "error" in message:
                found.append(message)
    return found


def _pb(cid: str, **message: Any) -> bytes:
    return realtime_pb2.Envelope(cid=cid, **message).SerializeToString()


async def test_rate_limited_frames_get_errors_with_their_cid(host, node, socket_format):
    sock = await open_socket(host, await authenticate(host, node.default_title.server_key), fmt=socket_format)
    for i in range(14):  # a burst of 10 (twice the rate) passes
        await sock.send({"cid": f"r{i}", "ping": {}})
    errors = await _errors(sock, 2)
    assert all("Rate limit exceeded" in e["error"]["message"] for e in errors), errors
    assert [e.get("cid") for e in errors] == ["r10", "r11"], errors
    await sock.close()


async def test_an_oversized_frame_gets_an_error_with_its_cid(host, node, socket_format):
    sock = await open_socket(host, await authenticate(host, node.default_title.server_key), fmt=socket_format)
    await sock.send({"cid": "big-1", "rpc": {"id": "x", "payload": "y" * 5000}})
    [error] = await _errors(sock, 1)
    assert "too large" in error["error"]["message"] and error.get("cid") == "big-1", error
    code, _ = await asyncio.wait_for(sock.closed, 5)
    assert code == 1009


async def test_unparsable_json_frames_get_errors_with_their_cid(host, node):
    sock = await open_socket(host, await authenticate(host, node.default_title.server_key), fmt="json")
    await sock.send_raw('{"cid": "cut-1", "ping": {')  # cut short
    await sock.send_raw('{"rpc": {"id": "x", "payload": "a"}, "cid": "bad-2", "ping": {}} trailing')
    deep = "[" * 100 + "]" * 100
    await sock.send_raw('{"rpc": {"id": "x", "payload": "a", "x": ' + deep + '}, "cid": "deep-3"}')
    # A "cid" nested in a message is not the envelope's.
    await sock.send_raw('{"rpc": {"cid": "inner", "payload": "a"}, "ping": {')
    errors = await _errors(sock, 4)
    assert [e.get("cid") for e in errors] == ["cut-1", "bad-2", "deep-3", None], errors
    assert errors[2]["error"]["code"] == 3 and "deeper" in errors[2]["error"]["message"]
    assert (await sock.request("ping"))["pong"] == {}
    await sock.close()


async def test_unparsable_protobuf_frames_get_errors_with_their_cid(host, node):
    sock = await open_socket(host, await authenticate(host, node.default_title.server_key), fmt="protobuf")
    await sock.send_raw(_pb("pb-1") + b"\x12\x05ab")  # a message whose length runs past the end
    await sock.send_raw(b"\x0a\x05ab")  # the cid itself is cut short: none to give back
    errors = await _errors(sock, 2)
    assert [e.get("cid") for e in errors] == ["pb-1", None], errors
    assert "protobuf" in errors[0]["error"]["message"]
    assert (await sock.request("ping"))["pong"] == {}
    await sock.close()


def test_the_top_level_scan_finds_only_the_envelopes_cid():
    from overworld.protocol.jsondepth import top_level_string
    from overworld.protocol.protobuf import cid_of

    assert top_level_string('{"a": {"cid": "no"}, "cid": "yes"', "cid") == "yes"
    assert top_level_string('{"a": "\\"cid\\": \\"no\\"", "cid": "y\\u00e9s"}', "cid") == "yés"
    assert top_level_string('{"cid": 5}', "cid") == "" and top_level_string("[", "cid") == ""
    assert cid_of(_pb("c", ping=realtime_pb2.Ping())) == "c" and cid_of(b"\xff\xff") == ""
