"""The node's realtime hub: its sockets, the presence tracker, the router, and presence events.

Sockets connect and disconnect through the hub, which tracks each one on its user's
notification stream (and status stream, when it asked to appear online), enforces the
per-user socket limit, closes sockets whose session is revoked and tells server code of
`session_start` and `session_end`. Presence changes on any node reach the hub through the
tracker; it turns them into the presence events of each stream kind and delivers them to its
own sockets on that stream (every node does the same for its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from overworld.clock import now_ms, rfc3339
from overworld.ops.outages import Outages
from overworld.protocol import realtime as rt
from overworld.protocol.notifications import SINGLE_SOCKET
from overworld.protocol.streams import Mode, Stream, notifications_stream, status_stream
from overworld.realtime import codec
from overworld.realtime.connection import GOING_AWAY, NORMAL, POLICY, Connection
from overworld.realtime.follows import StatusFollows
from overworld.realtime.registry import Registry
from overworld.realtime.router import Router
from overworld.subsystems.presence.base import Presence, PresenceMeta, Tracker
from overworld.subsystems.pubsub.base import PubSub
from overworld.titles.models import Title

log = structlog.get_logger(__name__)
SOCKETS = Gauge("overworld_sockets", "Open realtime sockets on this node")
SOCKET_MESSAGES = Counter("overworld_socket_messages_total", "Socket messages received, by kind", ["kind"])
StreamEventHandler = Callable[[Stream, list[Presence], list[Presence]], None]
# (title, event name, properties, user id): an event for server code's handlers
EventListener = Callable[[Title, str, dict[str, Any], str], None]
CHANNEL_MODES = (Mode.CHANNEL, Mode.GROUP, Mode.DM)


def _single_socket_frame() -> codec.Frame:
    note = rt.Notification(
        id=str(uuid.uuid4()), subject="single_socket", content="{}", code=SINGLE_SOCKET,
        create_time=rfc3339(now_ms()), persistent=False,
    )  # fmt: skip
    return codec.frame("notifications", rt.Notifications(notifications=[note]))


class Hub:
    def __init__(
        self,
        node: str,
        tracker: Tracker,
        pubsub: PubSub,
        max_per_user: int = 0,
        outages: Outages | None = None,
    ) -> None:
        self.node = node
        self.tracker = tracker
        self.registry = Registry()
        self.router = Router(node, self.registry, tracker, pubsub, outages)
        self.follows = StatusFollows()
        self._event_listeners: list[EventListener] = []
        self._max_per_user = max_per_user
        self._stream_handlers: dict[int, StreamEventHandler] = {}
        self._disconnect_hooks: list[Callable[[Connection], None]] = []
        self.draining = False
        for mode in CHANNEL_MODES:
            self._stream_handlers[mode] = self._channel_presence_event
        self._stream_handlers[Mode.STATUS] = self._status_presence_event
        tracker.on_change(self._on_presence_change)

    async def start(self) -> None:
        await self.router.start()
        await self.tracker.start()

    async def close(self) -> None:
        await self.tracker.close()
        await self.router.close()

    def on_stream_event(self, mode: int, handler: StreamEventHandler) -> None:
        """Turn presence changes on streams of `mode` into events (parties, matches...)."""
        self._stream_handlers[mode] = handler

    def on_disconnect(self, hook: Callable[[Connection], None]) -> None:
        self._disconnect_hooks.append(hook)

    def on_event(self, listener: EventListener) -> None:
        """Hear the socket events (`session_start`, `session_end`) for server code's handlers."""
        self._event_listeners.append(listener)

    def _emit(self, title: Title, name: str, properties: dict[str, Any], user_id: str) -> None:
        for listener in self._event_listeners:
            listener(title, name, properties, user_id)

    # -- sockets ---------------------------------------------------------------------------------

    def sockets_of(self, title_id: str, user_id: str) -> int:
        """The sockets the user holds open, on every node (as far as the tracker knows)."""
        return len(self.tracker.presences(notifications_stream(title_id, user_id)))

    def connected(self, conn: Connection) -> None:
        title_id, user_id = conn.title_id, conn.user_id
        if self._max_per_user:
            others = self.tracker.presences(notifications_stream(title_id, user_id))
            excess = len(others) + 1 - self._max_per_user
            if excess > 0:
                # As Nakama's single_socket: the replaced sockets are told (code -7), then closed.
                replaced = others[:excess]
                self.router.send_to(replaced, _single_socket_frame())
                self.router.close_sessions(
                    replaced, POLICY, "Another socket connected for this user", flush=True
                )
        self.registry.add(conn)
        SOCKETS.inc()
        meta = PresenceMeta(conn.username, hidden=True)
        self.tracker.track(
            Presence(notifications_stream(title_id, user_id), conn.id, user_id, self.node, meta)
        )
        if conn.status:
            self.set_status(conn, "")
        self._emit(
            conn.ctx.title, "session_start",
            {"session_id": conn.id, "client_ip": conn.ctx.client_ip, "lang": conn.lang}, user_id,
        )  # fmt: skip

    def disconnected(self, conn: Connection) -> None:
        self.registry.remove(conn)
        SOCKETS.dec()
        self.follows.drop(conn.id)
        for hook in self._disconnect_hooks:
            try:
                hook(conn)
            except Exception:
                log.exception("disconnect hook failed")
        self.tracker.untrack_session(conn.id)
        self._emit(
            conn.ctx.title, "session_end",
            {"session_id": conn.id, "reason": conn.close_reason or "disconnected"}, conn.user_id,
        )  # fmt: skip

    def set_status(self, conn: Connection, status: str | None) -> None:
        """Appear online with `status`, or offline with None."""
        stream = status_stream(conn.title_id, conn.user_id)
        if status is None:
            self.tracker.untrack(stream, conn.id)
            return
        meta = PresenceMeta(conn.username, status=status)
        if not self.tracker.update(stream, conn.id, meta):
            self.tracker.track(Presence(stream, conn.id, conn.user_id, self.node, meta))

    def with_sockets(self, title_id: str, user_ids: list[str]) -> set[str]:
        """Which of the users have at least one socket open, on any node (`online` in the users
        that GetUsers, ListFriends and ListGroupUsers return, as Nakama sets it)."""
        return {u for u in user_ids if self.tracker.count(notifications_stream(title_id, u))}

    def online(self, title_id: str, user_ids: list[str]) -> set[str]:
        """Which of the users have at least one socket that appears online, on any node."""
        return {u for u in user_ids if self.tracker.count(status_stream(title_id, u))}

    def revoked(self, title_id: str, user_id: str, token_id: str, not_before_us: int) -> None:
        """Revocations' listener: close this node's sockets of the revoked sessions."""
        for conn in self.registry.of_user(title_id, user_id) if user_id else list(self.registry):
            if conn.title_id != title_id:
                continue
            if (token_id and conn.ctx.token_id == token_id) or (
                not token_id and conn.issued_at_us < not_before_us
            ):
                conn.close(NORMAL, "Session token revoked")

    def disconnect_user(self, title_id: str, user_id: str, reason: str) -> None:
        """Close every socket of a user, on every node (account deleted, banned...)."""
        presences = self.tracker.presences(notifications_stream(title_id, user_id))
        self.router.close_sessions(presences, NORMAL, reason)

    async def drain(self, seconds: float) -> None:
        """SIGTERM: refuse new sockets, flush what is queued, then close every socket."""
        self.draining = True
        conns = list(self.registry)
        await asyncio.gather(*(c.flush(seconds) for c in conns))
        for conn in conns:
            conn.close(GOING_AWAY, "Server shutting down")
        # Wait for the close frames to go out: uvicorn's own shutdown, which follows, would close
        # whatever is still open with 1012 and no reason.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(1.0, seconds)):
                await asyncio.gather(*(c.closing() for c in conns))

    # -- presence events ---------------------------------------------------------------------

    def _on_presence_change(self, stream: Stream, joins: list[Presence], leaves: list[Presence]) -> None:
        handler = self._stream_handlers.get(stream.mode)
        if handler is not None:
            handler(stream, joins, leaves)

    def local_members(self, stream: Stream) -> list[Presence]:
        node = self.node
        return [p for p in self.tracker.presences(stream) if p.node == node]

    def _channel_presence_event(self, stream: Stream, joins: list[Presence], leaves: list[Presence]) -> None:
        shown_joins = [codec.user_presence(p) for p in joins if not p.meta.hidden]
        shown_leaves = [codec.user_presence(p) for p in leaves if not p.meta.hidden]
        if not shown_joins and not shown_leaves:
            return
        event = rt.ChannelPresenceEvent(
            channel_id=codec.channel_id(stream), joins=shown_joins, leaves=shown_leaves,
            **codec.channel_target(stream),
        )  # fmt: skip
        self.router.send_to(self.local_members(stream), codec.frame("channel_presence_event", event))

    def _status_presence_event(self, stream: Stream, joins: list[Presence], leaves: list[Presence]) -> None:
        followers = self.follows.followers_of(stream.title_id, stream.subject)
        if not followers:
            return
        event = rt.StatusPresenceEvent(
            joins=[codec.user_presence(p, with_status=True) for p in joins],
            leaves=[codec.user_presence(p, with_status=True) for p in leaves],
        )
        frame = codec.frame("status_presence_event", event)
        for sid in followers:
            conn = self.registry.get(sid)
            if conn is not None:
                conn.send(frame)
