"""Errors for frames refused before they are handled (too large, over the rate limit, not parsed)
carry the frame's `cid` whenever it can be read, in both socket formats, so that a client can
match them to its request."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from structlog.testing import capture_logs

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


async def test_frames_with_numbers_no_field_holds_get_errors_with_their_cid(host, node):
    """Found by the socket fuzzer: a frame msgspec decodes but finds invalid, holding a number the
    cid lookup's parser refuses (1e999, an integer past 64 bits), got its error without its cid."""
    sock = await open_socket(host, await authenticate(host, node.default_title.server_key), fmt="json")
    await sock.send_raw('{"cid": "inf-1", "match_create": {"name": 1e999}}')
    await sock.send_raw('{"cid": "big-2", "rpc": {"id": 1' + "0" * 30 + "}}")
    errors = await _errors(sock, 2)
    assert [e.get("cid") for e in errors] == ["inf-1", "big-2"], errors
    assert all(e["error"]["code"] == 3 for e in errors), errors
    await sock.close()


async def test_a_protobuf_timestamp_out_of_range_is_bad_input_with_the_cid(host, node):
    """Found by the socket fuzzer: a protobuf envelope holding a Timestamp with no JSON form
    (negative nanos, a year past 9999) made the frame's conversion raise, which dropped the socket
    without a close frame."""
    sock = await open_socket(host, await authenticate(host, node.default_title.server_key), fmt="protobuf")
    for cid, stamp in [("ts-1", {"nanos": -1}), ("ts-2", {"seconds": 2**62})]:
        ack = realtime_pb2.ChannelMessageAck(channel_id="x")
        ack.create_time.CopyFrom(realtime_pb2.google_dot_protobuf_dot_timestamp__pb2.Timestamp(**stamp))
        await sock.send_raw(_pb(cid, channel_message_ack=ack))
    errors = await _errors(sock, 2)
    assert [e.get("cid") for e in errors] == ["ts-1", "ts-2"], errors
    assert all(e["error"]["code"] == 3 and "Invalid message" in e["error"]["message"] for e in errors)
    assert (await sock.request("ping"))["pong"] == {}  # the socket stays open
    await sock.close()


async def test_a_frame_the_server_fails_on_closes_the_socket_with_1011(
    host, node, monkeypatch, socket_format
):
    """The last resort: a bug in handling a frame ends that socket with a close frame (1011,
    "Internal server error") and an error in the log, never with a TCP drop."""
    from overworld.api.socket import endpoint

    real = endpoint.handle

    async def failing(node: Any, conn: Any, data: Any) -> None:
        if (b"explode" if isinstance(data, bytes) else "explode") in data:
            raise RuntimeError("a bug")
        await real(node, conn, data)

    monkeypatch.setattr(endpoint, "handle", failing)
    sock = await open_socket(host, await authenticate(host, node.default_title.server_key), fmt=socket_format)
    assert (await sock.request("ping"))["pong"] == {}
    with capture_logs() as logs:
        await sock.send({"cid": "x", "rpc": {"id": "explode"}})
        code, reason = await asyncio.wait_for(sock.closed, 10)
    assert (code, reason) == (1011, "Internal server error")
    assert any(e["event"] == "socket frame failed" and e["log_level"] == "error" for e in logs), logs


async def test_a_refused_frame_is_answered_before_the_next_request_even_after_a_join(host, node):
    """Found by the socket fuzzer: the error for a frame refused before it is handled (not parsed,
    too large) was queued behind what a join holds back for its 20 ms, so the reply to the
    client's next request overtook it. Every answer to a frame now goes ahead of held events."""
    sock = await open_socket(host, await authenticate(host, node.default_title.server_key), fmt="json")
    for attempt in range(3):
        await sock.send({"cid": f"join-{attempt}", "channel_join": {"target": f"room{attempt}", "type": 1}})
        await sock.send_raw(f'{{"cid": "bad-{attempt}", "ping": {{')
        await sock.send({"cid": f"ping-{attempt}", "ping": {}})
    pongs = 0
    async with asyncio.timeout(10):
        while pongs < 3:  # replies to cids `request` did not send come as pushes
            pongs += "pong" in await sock.pushes.get()
    order = [
        cid
        for f in sock.frames
        for cid in [msgspec.json.decode(f).get("cid", "")]
        if cid.startswith(("bad-", "ping-"))
    ]
    assert order == ["bad-0", "ping-0", "bad-1", "ping-1", "bad-2", "ping-2"], order
    await sock.close()
