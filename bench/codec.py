#!/usr/bin/env python3
"""The socket codec alone, JSON against protobuf: µs to encode an outgoing envelope (a `codec.Frame`
to its WebSocket frame, as a fan-out does once per format) and to decode an incoming one (as
`overworld.api.socket.dispatch` does, to the handler's message), per message kind.

In-process and single-threaded; each figure is the best of `--repeat` rounds of `--number` calls,
so it holds on a busy machine better than the end-to-end benchmarks (bench/README.md, "Protobuf
socket format").

    .venv/bin/python bench/codec.py
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path
from typing import Any

import msgspec
from google.protobuf import json_format

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from overworld.api.socket import dispatch
from overworld.protocol import matches as wm
from overworld.protocol import protobuf
from overworld.protocol import realtime as rt
from overworld.protocol.pb import realtime_pb2
from overworld.realtime import codec

ME = rt.UserPresence(
    user_id="0193b0e4-1234-7abc-9def-0123456789ab",
    session_id="5f1c2a9e-3b4d-4c6e-8f7a-9b0c1d2e3f4a",
    username="player1234",
)
HEADER = f"{'json µs':>8} {'protobuf µs':>12} {'bytes j/p':>10}"
OUT: dict[str, Any] = {
    "channel_message": rt.ChannelMessage(
        channel_id="2...lobby", message_id="0193b0e4-1234-7abc-9def-0123456789ab", code=0,
        sender_id=ME.user_id, username=ME.username, content='{"text":"hello there"}',
        create_time="2026-12-06T07:00:00.123Z", update_time="2026-12-06T07:00:00.123Z", persistent=True,
        room_name="lobby",
    ),
    "match_data": wm.MatchData(match_id="0193b0e4-1234-7abc-9def-0123456789ab.", presence=ME, op_code="7",
                               data="eHh4eHh4eHh4eHh4eHh4eA==", reliable=True),
    "channel_presence_event": rt.ChannelPresenceEvent(channel_id="2...lobby", joins=[ME], room_name="lobby"),
    "pong": rt.Ping(),
}  # fmt: skip
IN: dict[str, dict[str, Any]] = {
    "channel_message_send": {"channel_id": "2...lobby", "content": '{"text":"hello there"}'},
    "match_data_send": {"match_id": "0193b0e4-1234-7abc-9def-0123456789ab.", "op_code": "7",
                        "data": "eHh4eHh4eHh4eHh4eHh4eA=="},
    "ping": {},
}  # fmt: skip


def best(fn: Any, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--number", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    n, r = args.number, args.repeat
    print(
        f"{'outgoing (encode to a WebSocket frame)':<44} {'json µs':>8} {'protobuf µs':>12} {'bytes j/p':>10}"
    )
    for kind, message in OUT.items():
        j = best(lambda k=kind, m=message: codec.frame(k, m).ws_json(), n, r)
        p = best(lambda k=kind, m=message: codec.frame(k, m).ws_protobuf(), n, r)
        sizes = f"{len(codec.frame(kind, message).json())}/{len(codec.frame(kind, message).protobuf())}"
        print(f"{kind:<44} {j:>8.2f} {p:>12.2f} {sizes:>10}")
    print(f"{'incoming (decode to the handler message)':<44} {HEADER}")
    decode_json = msgspec.json.Decoder(rt.Envelope).decode
    for kind, body in IN.items():
        envelope = {"cid": "12", kind: body}
        text = msgspec.json.encode(envelope)
        binary = json_format.ParseDict(envelope, realtime_pb2.Envelope()).SerializeToString()
        message_type = dispatch._TYPES[kind]

        def from_json(t: bytes = text, k: str = kind) -> Any:
            return getattr(decode_json(t), k)

        def from_pb(b: bytes = binary, mt: Any = message_type) -> Any:
            _, _, fields = protobuf.decode(b)
            return msgspec.convert(fields, mt)

        j, p = best(from_json, n, r), best(from_pb, n, r)
        print(f"{kind:<44} {j:>8.2f} {p:>12.2f} {len(text):>5}/{len(binary):<4}")


if __name__ == "__main__":
    main()
