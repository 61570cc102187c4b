"""The realtime socket's fast paths: frames encoded once and written per loop turn (the uvicorn
adapter's direct transport, as under `overworld serve`), the ASGI fallback, back-pressure (a slow
reader is dropped alone), batched cross-node publishing (order kept), the garbage-collector
settings, and the rate-limit overrun count."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from overworld.api import uvicorn_adapter
from overworld.api.http.app import create_app
from overworld.cli import tune_gc
from overworld.config import Settings, load_settings
from overworld.node import Node
from overworld.ops.gc import THRESHOLDS as GC_THRESHOLDS
from overworld.protocol import protobuf
from overworld.protocol import realtime as rt
from overworld.protocol.pb import realtime_pb2
from overworld.realtime import codec
from overworld.realtime.connection import POLICY, TokenBucket
from overworld.subsystems.pubsub.embedded import EmbeddedPubSub
from overworld.subsystems.pubsub.outbox import Outbox
from tests.realtime_support import Socket, authenticate, open_socket
from tests.support import REDIS_URL, free_port, redis_prefix, unique

pytestmark = pytest.mark.anyio
# With the uvicorn adapter's direct paths, and with plain ASGI sends (uvicorn's websockets-sansio).
PROTOCOLS = pytest.mark.parametrize("direct", [True, False], ids=["direct", "asgi"])


@contextlib.asynccontextmanager
async def serve(settings: Settings, node: Node, direct: bool) -> AsyncIterator[str]:
    port = free_port()
    app = create_app(settings, node=node)
    ws = uvicorn_adapter.enable(app) if direct else "websockets-sansio"
    assert not direct or not isinstance(ws, str), "the installed uvicorn is not one the adapter supports"
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws=ws, ws_per_message_deflate=False,
        lifespan="off", log_config=None, access_log=False,
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


async def _until(condition: Callable[[], bool], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - polling state the server changes
            await asyncio.sleep(0.02)


def _parse(wire: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        assert not reader.buffer  # the whole input was one frame
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 70_000])
def test_frames_are_valid_server_frames_in_both_formats(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)  # multi-byte UTF-8: the length is in bytes
    frame = codec.frame("rpc", rt.Rpc(id="x", payload=text), cid="1")
    parsed = _parse(frame.ws_json())
    assert parsed.opcode == Opcode.TEXT and parsed.fin
    rpc = {"id": "x", "payload": text} if text else {"id": "x"}  # empty fields are left out
    assert orjson.loads(bytes(parsed.data)) == {"cid": "1", "rpc": rpc}
    parsed = _parse(frame.ws_protobuf())
    assert parsed.opcode == Opcode.BINARY and parsed.fin
    envelope = realtime_pb2.Envelope.FromString(bytes(parsed.data))
    assert envelope.cid == "1" and envelope.rpc.payload == text


def test_a_frame_is_encoded_at_most_once_per_format_and_only_when_asked(monkeypatch) -> None:
    calls: list[str] = []
    real_encode = protobuf.encode

    def counting(kind: str, message: object, cid: str = "") -> bytes:
        calls.append(kind)
        return real_encode(kind, message, cid)

    monkeypatch.setattr(protobuf, "encode", counting)
    frame = codec.frame("party_close", rt.PartyClose(party_id="p"))
    json_wire = frame.ws_json()
    assert frame.ws_json() is json_wire and calls == []  # JSON only: protobuf never made
    pb_wire = frame.ws_protobuf()
    assert frame.ws_protobuf() is pb_wire and frame.protobuf() is frame.protobuf()
    assert calls == ["party_close"]
    # A frame from another node arrives as JSON and makes its protobuf form from it, once.
    remote = codec.Frame.of_json(frame.json())
    assert remote.ws_json() == json_wire
    assert remote.ws_protobuf() == pb_wire and remote.ws_protobuf() is remote.ws_protobuf()
    assert calls == ["party_close", "party_close"]


def test_token_bucket_overrun_counts_refused_events_until_a_flood() -> None:
    bucket = TokenBucket(rate=1, burst=2)
    assert bucket.take() and bucket.take()
    assert not bucket.take()
    floods = []
    for _ in range(6):
        bucket.take()
        floods.append(bucket.overrun())
    # Refused events are counted below zero; past `burst` of them, overrun() says "flood".
    assert floods[:2] == [False, False]
    assert floods[-1] is True


async def _join(sock: Socket, room: str) -> str:
    reply = await sock.request("channel_join", {"target": room, "type": 1})
    channel_id: str = reply["channel"]["id"]
    return channel_id


async def _messages(sock: Socket, n: int, timeout: float = 20) -> list[dict[str, Any]]:  # noqa: ASYNC109
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            message = await sock.pushes.get()
            if "channel_message" in message:
                out.append(orjson.loads(message["channel_message"]["content"]))
    return out


def _settings(database_url: str, tmp_path: Any, **extra: Any) -> Settings:
    overrides = {
        "database_url": database_url, "data_dir": str(tmp_path), "auto_migrate": False,
        "default_title": unique("t"), "default_server_key": unique("key-"),
        "default_http_key": unique("http-"), "log_level": "warning", "metrics": False,
        "chat_rate_limit": 10_000, "socket_rate_limit": 10_000, "rate_limits": False, **extra,
    }  # fmt: skip
    return load_settings(environ={}, overrides=overrides)


@contextlib.asynccontextmanager
async def _server(settings: Settings, direct: bool) -> AsyncIterator[tuple[Node, str]]:
    node = await Node.start(settings)
    try:
        async with serve(settings, node, direct) as host:
            yield node, host
    finally:
        await node.close()


@PROTOCOLS
async def test_fan_out_delivers_every_message_in_order(
    database_url: str, tmp_path: Any, direct: bool
) -> None:
    async with _server(_settings(database_url, tmp_path), direct) as (node, host):
        key = node.default_title.server_key
        # JSON and protobuf sockets in one room: each gets every frame in its own format.
        formats = ["json", "protobuf", "json", "protobuf"]
        socks = [await open_socket(host, await authenticate(host, key), fmt=f) for f in formats]
        room = unique("room")
        channels = [await _join(s, room) for s in socks]
        channel = channels[0]
        # Many sends in one burst (not awaited one by one): several frames per socket per loop turn.
        n = 150
        sender = socks[1]
        for i in range(n):
            body = {"channel_id": channel, "content": orjson.dumps({"i": i}).decode()}
            await sender.send({"channel_message_send": body})
        for sock in socks:
            assert [m["i"] for m in await _messages(sock, n)] == list(range(n))
        for sock in socks:
            await sock.close()


@PROTOCOLS
async def test_slow_reader_is_dropped_alone(database_url: str, tmp_path: Any, direct: bool) -> None:
    settings = _settings(database_url, tmp_path, socket_outbound_queue=8)
    async with _server(settings, direct) as (node, host):
        key = node.default_title.server_key
        fast = await open_socket(host, await authenticate(host, key))
        room = unique("room")
        channel = await _join(fast, room)
        # A client that joins, then never reads again (with a tiny TCP receive window).
        session = await authenticate(host, key)
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        raw.setblocking(False)
        address, port = host.split(":")
        await asyncio.get_running_loop().sock_connect(raw, (address, int(port)))
        url = f"ws://{host}/ws?token={session['token']}"
        slow = Socket(await connect(url, compression=None, sock=raw), session)
        await _join(slow, room)
        slow.ws.transport.pause_reading()
        assert len(node.hub.registry) == 2
        n, pad = 2000, "x" * 3900
        (slow_conn,) = [c for c in node.hub.registry if c.user_id == session["user_id"]]
        sent = 0
        for i in range(n):
            body = {"channel_id": channel, "content": orjson.dumps({"i": i, "pad": pad}).decode()}
            ack = await fast.request("channel_message_send", body)
            assert ack["channel_message_ack"]["channel_id"] == channel
            sent += 1
            if slow_conn.closed:
                break
        assert slow_conn.closed and slow_conn.close_code == POLICY
        if direct:
            # Dropped at once (no close frame can get through to a client that does not read);
            # through ASGI the close waits for the keep-alive timeout.
            await _until(lambda: len(node.hub.registry) == 1, 5)
        assert slow_conn.send(codec.reply("1")) is False
        got = await _messages(fast, sent)
        assert [m["i"] for m in got] == list(range(sent))  # the fast reader lost nothing
        assert "pong" in await fast.request("ping")
        await fast.close()
        slow.ws.transport.abort()


async def test_closed_socket_is_freed_without_a_full_collection(database_url: str, tmp_path: Any) -> None:
    async with _server(_settings(database_url, tmp_path), True) as (node, host):
        session = await authenticate(host, node.default_title.server_key)
        gc.collect()
        gc.disable()  # only reference counting frees what follows
        try:
            sock = await open_socket(host, session)
            await _join(sock, unique("room"))
            (conn,) = list(node.hub.registry)
            assert conn._direct is not None
            protocol = weakref.ref(conn._direct)
            websocket = weakref.ref(conn._direct.conn)  # websockets' ServerProtocol
            del conn
            await sock.close()
            await _until(lambda: len(node.hub.registry) == 0, 5)
            await _until(lambda: protocol() is None and websocket() is None, 2)
        finally:
            gc.enable()


async def _outbox_keeps_order(pubsub: Any, topic: str) -> None:
    got: list[bytes] = []
    done = asyncio.Event()
    n = 3000

    def on_message(payload: bytes) -> None:
        got.append(payload)
        if len(got) == n:
            done.set()

    pubsub.subscribe(topic, on_message)
    await asyncio.sleep(0.1)  # the subscription is live
    outbox = Outbox(pubsub, "test")
    outbox.start()
    for i in range(n):
        outbox.put(topic, str(i).encode())
        if i % 700 == 0:
            await asyncio.sleep(0)  # a batch goes out while more are queued
    async with asyncio.timeout(10):
        await done.wait()
    assert got == [str(i).encode() for i in range(n)]
    await outbox.close()


async def test_a_stalled_outbox_keeps_only_the_newest_messages() -> None:
    """Pub/sub stalls (Redis unreachable): the queue stays bounded, the oldest messages go."""
    pubsub = EmbeddedPubSub()
    await pubsub.start()
    release = asyncio.Event()
    sent: list[bytes] = []

    async def stalled(messages: list[tuple[str, bytes]]) -> None:
        await release.wait()
        sent.extend(payload for _, payload in messages)

    pubsub.publish_many = stalled  # type: ignore[method-assign]
    outbox = Outbox(pubsub, "stalled", max_queued=100)
    outbox.start()
    outbox.put("t", b"first")
    await asyncio.sleep(0)  # the sender takes "first" and waits on the stalled pub/sub
    for i in range(1000):
        outbox.put("t", str(i).encode())
    assert outbox.dropped == 900
    release.set()
    await outbox.close()
    assert sent == [b"first"] + [str(i).encode() for i in range(900, 1000)]
    await pubsub.close()


async def test_outbox_batches_keep_publish_order_embedded() -> None:
    pubsub = EmbeddedPubSub()
    await pubsub.start()
    await _outbox_keeps_order(pubsub, "t")
    await pubsub.close()


@pytest.mark.skipif(not REDIS_URL, reason="needs OVERWORLD_TEST_REDIS_URL")
async def test_outbox_batches_keep_publish_order_redis() -> None:
    import redis.asyncio as aioredis

    from overworld.subsystems.pubsub.redis import RedisPubSub

    client = aioredis.from_url(REDIS_URL)
    pubsub = RedisPubSub(client, redis_prefix("owtest"))
    await pubsub.start()
    try:
        await _outbox_keeps_order(pubsub, "order")
        # publish_many alone: in order, also a batch of one.
        got: list[bytes] = []
        pubsub.subscribe("many", got.append)
        await asyncio.sleep(0.1)
        await pubsub.publish_many([("many", b"a")])
        await pubsub.publish_many([("many", b"b"), ("many", b"c"), ("other", b"x"), ("many", b"d")])
        await _until(lambda: len(got) >= 4, 5)
        assert got == [b"a", b"b", b"c", b"d"]
    finally:
        await pubsub.close()
        await client.aclose()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_gc_tuning_freezes_and_collects_on_a_timer(tmp_path: Any) -> None:
    before = gc.get_threshold()
    settings = load_settings(environ={}, overrides={"data_dir": str(tmp_path), "gc_full_collect_sec": 1})
    task = tune_gc(settings)
    try:
        assert task is not None
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        garbage = _Cycle()
        gone = weakref.ref(garbage)
        gc.collect(1)  # still alive: moved to the oldest generation
        del garbage
        gc.collect(1)  # young collections do not look there
        assert gone() is not None
        await _until(lambda: gone() is None, 3)  # the timer's full collection reclaimed the cycle
    finally:
        if task is not None:
            task.cancel()
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_gc_tuning_off_leaves_the_collector_alone(tmp_path: Any) -> None:
    before = gc.get_threshold()
    settings = load_settings(environ={}, overrides={"data_dir": str(tmp_path), "gc_tuning": False})
    assert settings.gc_tuning is False
    assert load_settings(environ={}, overrides={"data_dir": str(tmp_path)}).gc_tuning is True  # default
    assert tune_gc(settings) is None
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
