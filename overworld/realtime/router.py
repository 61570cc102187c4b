"""Deliver frames to sessions wherever they are connected.

Frames for sessions on this node go straight into their queues; frames for sessions on other
nodes are published once per node on that node's topic, with the list of session ids, and the
node delivers them locally. A frame for a whole stream is encoded once (as JSON, the form nodes
exchange) and sent to each node that has presences on it; the receiving node makes the protobuf
form from it if one of its sockets needs it, once (`codec.Frame`). The same topic carries control
messages (close these sessions).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
import structlog

from overworld.errors import ApiError, Code, Unavailable
from overworld.ops.outages import Outages
from overworld.protocol.streams import Stream
from overworld.realtime.codec import Frame
from overworld.realtime.connection import POLICY, Connection
from overworld.realtime.registry import Registry
from overworld.subsystems.presence.base import Presence, Tracker
from overworld.subsystems.pubsub.base import PubSub
from overworld.subsystems.pubsub.outbox import Outbox

log = structlog.get_logger(__name__)
_DELIVER, _CLOSE, _CALL, _RESULT, _UNTRACK = b"d", b"c", b"q", b"r", b"u"
NodeMethod = Callable[[dict[str, Any]], Awaitable[Any]]


def node_topic(node: str) -> str:
    return f"rt.node.{node}"


class Router:
    def __init__(
        self, node: str, registry: Registry, tracker: Tracker, pubsub: PubSub, outages: Outages | None = None
    ) -> None:
        self.node = node
        self._outages = outages  # tells an unreachable database or Redis (UNAVAILABLE) from a bug
        self._registry = registry
        self._tracker = tracker
        self._pubsub = pubsub
        self._outbox = Outbox(pubsub, "router")
        self._methods: dict[str, NodeMethod] = {}
        self._calls: dict[str, asyncio.Future[Any]] = {}
        self._running: set[asyncio.Task[None]] = set()

    def register(self, method: str, fn: NodeMethod) -> None:
        """Make `fn(args)` callable from other nodes as `method` (see `call`)."""
        self._methods[method] = fn

    async def call(self, node: str, method: str, args: dict[str, Any], timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """Run `method` on `node` (this one runs it directly) and return its JSON result; an
        `ApiError` it raises is raised here with the same code and message (UNAVAILABLE when the
        other node could not reach the database or Redis)."""
        if node == self.node:
            return await self._methods[method](args)
        call_id = uuid.uuid4().hex
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        request = {"i": call_id, "f": self.node, "m": method, "a": args}
        self._outbox.put(node_topic(node), _CALL + orjson.dumps(request))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise Unavailable(f"Cluster node {node} did not answer.") from None
        finally:
            self._calls.pop(call_id, None)

    async def _serve_call(self, request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"i": request["i"]}
        try:
            fn = self._methods.get(request["m"])
            if fn is None:
                raise ApiError(f"No node method {request['m']!r}.", Code.UNIMPLEMENTED)
            reply["ok"] = await fn(request["a"])
        except ApiError as exc:
            reply["e"] = [int(exc.code), exc.message]
        except Exception as exc:
            unavailable = self._outages.unavailable(exc) if self._outages is not None else None
            if unavailable is not None:  # logged once per outage by Outages
                reply["e"] = [int(unavailable.code), unavailable.message]
            else:
                log.exception("node method failed", method=request.get("m"))
                reply["e"] = [int(Code.INTERNAL), "Internal server error"]
        self._outbox.put(node_topic(request["f"]), _RESULT + orjson.dumps(reply))

    async def start(self) -> None:
        self._pubsub.subscribe(node_topic(self.node), self._on_message)
        self._outbox.start()

    async def close(self) -> None:
        await self._outbox.close()

    def send_to_stream(self, stream: Stream, frame: Frame, exclude: str = "") -> None:
        self.send_to(self._tracker.presences(stream), frame, exclude)

    def send_to(self, presences: Iterable[Presence], frame: Frame, exclude: str = "") -> None:
        local, remote = self._split(presences, exclude)
        for conn in local:
            conn.send(frame)
        if remote:
            body = frame.json()
            for node, sids in remote.items():
                self._outbox.put(node_topic(node), _DELIVER + orjson.dumps(sids) + b"\n" + body)

    def close_sessions(
        self, presences: Iterable[Presence], code: int = POLICY, reason: str = "", flush: bool = False
    ) -> None:
        """Close these sessions' sockets, on any node; with `flush`, after what was sent to them
        before (on another node too: this goes through the same ordered outbox as deliveries)."""
        local, remote = self._split(presences)
        for conn in local:
            conn.close(code, reason, flush=flush)
        for node, sids in remote.items():
            message = {"s": sids, "c": code, "r": reason, "f": flush}
            self._outbox.put(node_topic(node), _CLOSE + orjson.dumps(message))

    def untrack(self, presences: Iterable[Presence]) -> None:
        """Remove these presences from their streams, on the nodes that track them."""
        for p in presences:
            if p.node == self.node:
                self._tracker.untrack(p.stream, p.session_id)
            else:
                self._outbox.put(node_topic(p.node), _UNTRACK + orjson.dumps([*p.stream, p.session_id]))

    def _split(
        self, presences: Iterable[Presence], exclude: str = ""
    ) -> tuple[list[Connection], dict[str, list[str]]]:
        """This node's connections among `presences`, and the other nodes' session ids by node."""
        local: list[Connection] = []
        remote: dict[str, list[str]] = {}
        registry = self._registry
        for p in presences:
            sid = p.session_id
            if sid == exclude:
                continue
            if p.node == self.node:
                conn = registry.get(sid)
                if conn is not None:
                    local.append(conn)
            else:
                remote.setdefault(p.node, []).append(sid)
        return local, remote

    def _on_message(self, payload: bytes) -> None:
        kind, body = payload[:1], payload[1:]
        if kind == _DELIVER:
            header, _, frame_bytes = body.partition(b"\n")
            frame = Frame.of_json(frame_bytes)
            for sid in orjson.loads(header):
                conn = self._registry.get(sid)
                if conn is not None:
                    conn.send(frame)
        elif kind == _CALL:
            task = asyncio.get_running_loop().create_task(self._serve_call(orjson.loads(body)))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        elif kind == _RESULT:
            reply = orjson.loads(body)
            future = self._calls.get(reply["i"])
            if future is not None and not future.done():
                if "e" in reply:
                    future.set_exception(ApiError(reply["e"][1], Code(reply["e"][0])))
                else:
                    future.set_result(reply.get("ok"))
        elif kind == _UNTRACK:
            *stream, session_id = orjson.loads(body)
            self._tracker.untrack(Stream(*stream), session_id)
        elif kind == _CLOSE:
            msg = orjson.loads(body)
            for sid in msg["s"]:
                conn = self._registry.get(sid)
                if conn is not None:
                    conn.close(msg["c"], msg["r"], flush=bool(msg.get("f")))
