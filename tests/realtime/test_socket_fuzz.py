"""The socket fuzzer (issue 15): random and malformed frames in both socket formats against a real
server (`overworld serve`) over real sockets.

JSON sockets get bad JSON, wrong types, unknown and several kinds, huge numbers, deep nesting,
oversize frames, binary frames and text frames that are not UTF-8; protobuf sockets get random
bytes, truncated envelopes, fields of the wrong wire type, text frames and valid envelopes with
random contents. After each frame a ping (with a cid of its own) checks that the socket still
answers. What must hold:

- the server process never crashes and logs no error (no unhandled traceback);
- a socket the server closes gets a close frame with a code (no TCP drop without one);
- an error answering a frame whose `cid` can be read carries that `cid`, with a code and a message;
- a healthy socket opened afterwards still works.

The cases come from a seeded generator: `OVERWORLD_SOCKET_FUZZ_CASES` frames per format (default
1000) and `OVERWORLD_SOCKET_FUZZ_SEED` (default: a new seed per run, printed, and named in any
failure so that it can be replayed).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from overworld.protocol import realtime as rt
from overworld.protocol.pb import realtime_pb2
from tests.support import ServerProcess, basic, unique

CASES = int(os.environ.get("OVERWORLD_SOCKET_FUZZ_CASES", "1000"))
SEED = int(os.environ.get("OVERWORLD_SOCKET_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
MAX_BYTES = 4096  # socket_max_message_bytes of the server under test
ANSWER_SEC = 15.0  # the server answers the sync ping within this (a loaded CI machine)


@dataclass
class Frame:
    what: str  # which generator made it (named in failures)
    data: str | bytes
    text: bool  # sent as a text frame (bytes too: then not necessarily UTF-8)
    cid: str | None = ""  # the cid the server can read from it, which its errors must carry (None:
    # random bytes, which may or may not read as an envelope with a cid)


# -- JSON frames ------------------------------------------------------------------------------------

_MESSAGE_TYPES: dict[str, Any] = {
    kind: next(t for t in msgspec.inspect.type_info(rt.Envelope).fields if t.name == kind).type
    for kind in rt.KINDS
}


def _struct_fields(kind: str) -> list[str]:
    info = _MESSAGE_TYPES[kind]
    while isinstance(info, msgspec.inspect.UnionType):  # Optional[Message]
        info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    return [f.encode_name for f in getattr(info, "fields", ())]


def _text(r: random.Random, size: int = 12) -> str:
    alphabet = string.printable + "éü中😀\u0000\u202e\ufffd"
    return "".join(r.choice(alphabet) for _ in range(r.randint(0, size)))


def _json_leaf(r: random.Random) -> Any:
    return r.choice(
        [
            None, True, False, 0, -1, 2**31, 2**63, -(2**63) - 1, 2**64, 10**30, 1.5, -0.0, 1e308,
            "", "0", "-1", "true", "null", "00000000-0000-0000-0000-000000000000", _text(r), _text(r, 300),
        ]
    )  # fmt: skip


def _json_value(r: random.Random, depth: int = 0) -> Any:
    roll = r.random()
    if depth > 3 or roll < 0.5:
        return _json_leaf(r)
    if roll < 0.75:
        return [_json_value(r, depth + 1) for _ in range(r.randint(0, 3))]
    return {_text(r, 6): _json_value(r, depth + 1) for _ in range(r.randint(0, 3))}


def _message(r: random.Random, kind: str) -> Any:
    """A message of `kind` with its own field names and random values (or not even an object)."""
    if r.random() < 0.1:
        return _json_value(r)
    fields = _struct_fields(kind)
    chosen = r.sample(fields, r.randint(0, len(fields))) if fields else []
    message = {name: _json_value(r) for name in chosen}
    if r.random() < 0.2:
        message[_text(r, 8)] = _json_value(r)
    return message


def _cid(r: random.Random, n: int) -> str:
    return f"f{n}-" + "".join(r.choice(string.ascii_letters) for _ in range(r.randint(0, 6)))


def json_frame(r: random.Random, n: int) -> Frame:
    cid = _cid(r, n)
    kind = r.choice(rt.KINDS)
    choice = r.randrange(14)
    if choice <= 3:  # a real kind with random contents
        return Frame("json-kind", json.dumps({"cid": cid, kind: _message(r, kind)}), True, cid)
    if choice == 4:  # an unknown kind, or only a cid, or nothing at all
        body = r.choice([{"cid": cid, _text(r, 10) or "x": {}}, {"cid": cid}, {}])
        return Frame("json-unknown-kind", json.dumps(body), True, cid if body else "")
    if choice == 5:  # several kinds in one envelope
        kinds = r.sample(rt.KINDS, 2)
        return Frame("json-two-kinds", json.dumps({"cid": cid, **{k: {} for k in kinds}}), True, cid)
    if choice == 6:  # a cid of the wrong type
        body = {"cid": _json_value(r), kind: {}}
        readable = body["cid"] if isinstance(body["cid"], str) else ""
        return Frame("json-cid-type", json.dumps(body), True, readable)
    if choice == 7:  # not JSON, or cut short
        whole = json.dumps({"cid": cid, kind: _message(r, kind)})
        data = r.choice(
            [whole[: r.randint(0, max(len(whole) - 1, 0))], _text(r, 40), "{" * 5, "nul", '"cid"']
        )
        # Cut after its cid, the frame still names it (the server reads it from the broken frame).
        return Frame("json-malformed", data, True, cid if f'"cid": "{cid}"' in data else "")
    if choice == 8:  # numbers no 64-bit field holds
        huge = r.choice(
            ["1" + "0" * 400, "-" + "9" * 50, "1e999", "-1e999", "1.7976931348623157e309", "-0e-999"]
        )
        name = r.choice(_struct_fields(kind) or ["x"])
        data = f'{{"cid": "{cid}", "{kind}": {{"{name}": {huge}}}}}'
        return Frame("json-huge-number", data, True, cid)
    if choice == 9:  # deep nesting, inside a message
        depth = r.choice([65, 200, 1000, 1900])
        nested = "[" * depth + "]" * depth
        data = f'{{"cid": "{cid}", "{kind}": {{"x": {nested}}}}}'
        return Frame("json-deep", data, True, cid)
    if choice == 10:  # over socket_max_message_bytes
        data = json.dumps(
            {"cid": cid, "rpc": {"id": "x", "payload": "y" * r.randint(MAX_BYTES, 3 * MAX_BYTES)}}
        )
        return Frame("json-oversize", data, True, cid)
    if choice == 11:  # a binary frame on a text socket
        data = r.choice([json.dumps({"cid": cid, "ping": {}}).encode(), r.randbytes(r.randint(0, 64))])
        return Frame("json-binary-frame", data, False)
    if choice == 12:  # a text frame that is not UTF-8 (the server must close it with a close frame)
        return Frame("json-not-utf8", b'{"cid": "' + r.randbytes(4) + b"\xff" + r.randbytes(3) + b'"}', True)
    # a top-level value that is not an object
    return Frame("json-not-object", json.dumps(_json_value(r)), True)


# -- protobuf frames --------------------------------------------------------------------------------

_ENVELOPE: Descriptor = realtime_pb2.Envelope.DESCRIPTOR
_KIND_FIELDS = [f for f in _ENVELOPE.fields if f.name != "cid"]
_INT_EDGES = {
    FieldDescriptor.CPPTYPE_INT32: [0, -1, 2**31 - 1, -(2**31)],
    FieldDescriptor.CPPTYPE_INT64: [0, -1, 2**63 - 1, -(2**63)],
    FieldDescriptor.CPPTYPE_UINT32: [0, 1, 2**32 - 1],
    FieldDescriptor.CPPTYPE_UINT64: [0, 1, 2**64 - 1],
}


def _fill(r: random.Random, message: Any, depth: int = 0) -> None:
    """Random values of the right types in random fields of `message` (in place)."""
    for field in message.DESCRIPTOR.fields:
        if r.random() < 0.4:
            continue
        repeated = field.is_repeated
        if field.message_type is not None:
            if depth > 3:
                continue
            if field.message_type.GetOptions().map_entry:
                target = getattr(message, field.name)
                value_field = field.message_type.fields_by_name["value"]
                for _ in range(r.randint(0, 3)):
                    if value_field.message_type is None:
                        target[_text(r, 6)] = _scalar(r, value_field)
                continue
            if repeated:
                for _ in range(r.randint(0, 3)):
                    _fill(r, getattr(message, field.name).add(), depth + 1)
            else:
                _fill(r, getattr(message, field.name), depth + 1)
                getattr(message, field.name).SetInParent()
            continue
        if repeated:
            getattr(message, field.name).extend(_scalar(r, field) for _ in range(r.randint(0, 3)))
        else:
            setattr(message, field.name, _scalar(r, field))


def _scalar(r: random.Random, field: FieldDescriptor) -> Any:
    cpp = field.cpp_type
    if cpp in _INT_EDGES:
        if field.enum_type is not None:
            return r.choice([v.number for v in field.enum_type.values])
        return r.choice([*_INT_EDGES[cpp], r.randint(0, 100)])
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return r.random() < 0.5
    if cpp in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        return r.choice([0.0, -1.5, 1e300, float("inf"), float("nan")])
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        return r.choice([v.number for v in field.enum_type.values])
    if field.type == FieldDescriptor.TYPE_BYTES:
        return r.randbytes(r.randint(0, 40))
    return r.choice(["", _text(r), _text(r, 200), "00000000-0000-0000-0000-000000000000", "1"])


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _leading_cid(data: bytes, cid: str) -> str:
    """`cid` if the frame starts with the whole cid field (then the server can read it however
    the rest is broken), else ""."""
    field = b"\x0a" + _varint(len(cid.encode())) + cid.encode()
    return cid if data.startswith(field) else ""


def protobuf_frame(r: random.Random, n: int) -> Frame:
    cid = _cid(r, n)
    field = r.choice(_KIND_FIELDS)
    choice = r.randrange(11)
    if choice <= 3:  # a valid envelope with random contents
        envelope = realtime_pb2.Envelope(cid=cid)
        _fill(r, getattr(envelope, field.name))
        getattr(envelope, field.name).SetInParent()
        data = envelope.SerializeToString()
        if len(data) > MAX_BYTES:
            return Frame("pb-oversize", data, False, cid)
        return Frame("pb-contents", data, False, cid)
    if choice == 4:  # random bytes
        data = r.randbytes(r.randint(0, 80))
        return Frame("pb-random", data, False, None)
    if choice == 5:  # a valid envelope cut short
        envelope = realtime_pb2.Envelope(cid=cid)
        _fill(r, getattr(envelope, field.name))
        getattr(envelope, field.name).SetInParent()
        whole = envelope.SerializeToString()
        data = whole[: r.randint(0, max(len(whole) - 1, 0))]
        return Frame("pb-truncated", data, False, _leading_cid(data, cid))
    if choice == 6:  # a kind's field (a message, wire type 2) sent with another wire type
        wire = r.choice([0, 1, 5])
        value = {0: _varint(r.randrange(2**64)), 1: r.randbytes(8), 5: r.randbytes(4)}[wire]
        data = realtime_pb2.Envelope(cid=cid).SerializeToString() + _varint(field.number << 3 | wire) + value
        return Frame("pb-wire-type", data, False, cid)
    if choice == 7:  # the cid with a wrong wire type, or not UTF-8
        data = (
            r.choice([_varint(1 << 3 | 0) + _varint(7), b"\x0a\x02\xff\xfe"])
            + _varint(field.number << 3 | 2)
            + b"\x00"
        )
        return Frame("pb-cid-type", data, False, "")
    if choice == 8:  # a text frame on a binary socket
        return Frame("pb-text-frame", json.dumps({"cid": cid, "ping": {}}), True)
    if choice == 9:  # over socket_max_message_bytes
        payload = "y" * r.randint(MAX_BYTES, 3 * MAX_BYTES)
        data = realtime_pb2.Envelope(
            cid=cid, rpc=realtime_pb2.Rpc(id="x", payload=payload)
        ).SerializeToString()
        return Frame("pb-oversize", data, False, cid)
    # an unknown field number, or several kinds at once (protobuf: the last one wins)
    other = r.choice(_KIND_FIELDS)
    data = (
        realtime_pb2.Envelope(cid=cid).SerializeToString()
        + _varint(r.randint(200, 5000) << 3 | 2)
        + b"\x00"
        + _varint(field.number << 3 | 2)
        + b"\x00"
        + _varint(other.number << 3 | 2)
        + b"\x00"
    )
    return Frame("pb-unknown-field", data, False, cid)


# -- the run ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("socket-fuzz")
    env = {
        "OVERWORLD_DATA_DIR": str(folder / "data"),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_METRICS": "false",
        "OVERWORLD_SOCKET_MAX_MESSAGE_BYTES": str(MAX_BYTES),
        "OVERWORLD_SOCKET_RATE_LIMIT": "100000",  # the fuzzer is no flood: the limit has its own tests
    }
    process = ServerProcess(env, folder).start()
    try:
        yield process
    finally:
        process.stop()


class Fuzzer:
    def __init__(self, server: ServerProcess, fmt: str, seed: int) -> None:
        self.server, self.fmt, self.seed = server, fmt, seed
        self.failures: list[str] = []
        self.closes: dict[int, int] = {}
        self.errors = 0

    def fail(self, frame: Frame, problem: str) -> None:
        shown = frame.data[:160] if isinstance(frame.data, str) else frame.data[:80].hex()
        self.failures.append(f"{frame.what} (seed {self.seed}): {problem}; frame {shown!r}")

    async def open(self) -> ClientConnection:
        async with httpx.AsyncClient(base_url=self.server.url, timeout=30) as http:
            answer = await http.post(
                "/v2/account/authenticate/device", json={"id": unique("fuzz-")}, headers=basic("defaultkey")
            )
        token = answer.json()["token"]
        url = self.server.url.replace("http", "ws") + f"/ws?token={token}"
        if self.fmt == "protobuf":
            url += "&format=protobuf"
        return await connect(url, compression=None, max_size=None, open_timeout=30)

    def decode(self, data: str | bytes) -> dict[str, Any]:
        if self.fmt == "protobuf":
            from google.protobuf.json_format import MessageToDict

            assert isinstance(data, bytes), data
            return MessageToDict(realtime_pb2.Envelope.FromString(data), preserving_proto_field_name=True)
        loaded = json.loads(data)
        assert isinstance(loaded, dict), data
        return loaded

    def ping(self, n: int) -> str | bytes:
        if self.fmt == "protobuf":
            return realtime_pb2.Envelope(cid=f"sync-{n}", ping=realtime_pb2.Ping()).SerializeToString()
        return json.dumps({"cid": f"sync-{n}", "ping": {}})

    async def send(self, ws: ClientConnection, frame: Frame, n: int) -> bool:
        """Send the frame, then the sync ping; check what comes back until the pong. False when
        the server closed the socket (with a close frame: checked)."""
        try:
            await ws.send(frame.data, text=frame.text)
            await ws.send(self.ping(n))
            async with asyncio.timeout(ANSWER_SEC):
                while True:
                    message = self.decode(await ws.recv())
                    if message.get("cid") == f"sync-{n}":
                        if "pong" not in message:
                            self.fail(frame, f"the sync ping got {message}")
                        return True
                    if "error" in message:
                        self.errors += 1
                        self.check_error(frame, message)
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                self.fail(frame, f"the socket was dropped without a close frame ({closed})")
            else:
                self.closes[closed.rcvd.code] = self.closes.get(closed.rcvd.code, 0) + 1
            return False
        except TimeoutError:
            self.fail(frame, f"no answer to the ping after it within {ANSWER_SEC} s")
            await ws.close()
            return False

    def check_error(self, frame: Frame, message: dict[str, Any]) -> None:
        error = message["error"]
        code = error.get("code", 0)  # protobuf leaves out a zero code
        if not isinstance(code, int) or not error.get("message"):
            self.fail(frame, f"an error without a code or a message: {message}")
        if frame.cid is not None and message.get("cid", "") != frame.cid:
            self.fail(frame, f"the error {message} has not the frame's cid {frame.cid!r}")

    async def run(self, cases: int) -> None:
        r = random.Random(self.seed)
        make = protobuf_frame if self.fmt == "protobuf" else json_frame
        ws = await self.open()
        try:
            for n in range(cases):
                frame = make(r, n)
                if not await self.send(ws, frame, n):
                    ws = await self.open()
            # A healthy socket, opened after all that, works.
            fresh = await self.open()
            try:
                await fresh.send(self.ping(-1))
                pong = self.decode(await asyncio.wait_for(fresh.recv(), ANSWER_SEC))
                assert pong.get("cid") == "sync--1" and "pong" in pong, pong
            finally:
                await fresh.close()
        finally:
            await ws.close()


def _logged_errors(server: ServerProcess) -> list[str]:
    bad = []
    for line in server.output().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if "Traceback" in line or "ERROR" in line:
                bad.append(line)
            continue
        if isinstance(entry, dict) and (entry.get("level") in ("error", "critical") or "exception" in entry):
            bad.append(line[:2000])
    return bad


@pytest.mark.parametrize("fmt", ["json", "protobuf"])
def test_fuzzed_frames_never_crash_the_server_or_drop_a_socket(server: ServerProcess, fmt: str):
    fuzzer = Fuzzer(server, fmt, SEED)
    print(f"socket fuzz {fmt}: seed {SEED}, {CASES} frames")
    asyncio.run(fuzzer.run(CASES))
    print(f"socket fuzz {fmt}: {fuzzer.errors} error envelopes, closes by code {fuzzer.closes}")
    assert server.proc is not None and server.proc.poll() is None, "the server process died"
    assert not fuzzer.failures, "\n".join(fuzzer.failures[:20])
    assert fuzzer.errors > CASES // 10  # the frames really were refused (the fuzzer is not idle)
    logged = _logged_errors(server)
    assert not logged, f"seed {SEED}:\n" + "\n".join(logged[:10])


def test_the_generators_make_every_kind_of_frame():
    """The fuzzer's own check: a run of each generator covers all of its cases."""
    r = random.Random(1)
    assert {json_frame(r, n).what for n in range(400)} == {
        "json-kind", "json-unknown-kind", "json-two-kinds", "json-cid-type", "json-malformed",
        "json-huge-number", "json-deep", "json-oversize", "json-binary-frame", "json-not-utf8",
        "json-not-object",
    }  # fmt: skip
    made = {protobuf_frame(r, n).what for n in range(400)}
    assert made == {"pb-contents", "pb-random", "pb-truncated", "pb-wire-type", "pb-cid-type", "pb-text-frame",
                    "pb-oversize", "pb-unknown-field"}  # fmt: skip


def test_a_text_frame_not_in_utf8_closes_with_1007_and_logs_no_error(server: ServerProcess):
    """Found by the fuzzer: uvicorn closes such a socket properly (1007) but logged an ERROR with
    a traceback each time, so any client could fill the log with errors (ops/logging.py)."""
    fuzzer = Fuzzer(server, "json", 0)

    async def run() -> None:
        ws = await fuzzer.open()
        frame = Frame("not-utf8", b'{"cid": "u-1", "ping": {}, "x": "\xff\xfe"}', True)
        assert not await fuzzer.send(ws, frame, 0)

    asyncio.run(run())
    assert fuzzer.failures == [] and fuzzer.closes == {1007: 1}
    assert not [line for line in _logged_errors(server) if "UTF-8" in line]
