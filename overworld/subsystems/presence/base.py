"""The presence tracker: which socket sessions are on which streams, on every node.

Each node tracks its own sessions. The embedded tracker knows only those; the cluster tracker
also holds a replica of every other node's presences, so that listing a stream's presences
and finding the nodes to deliver to never leave the process. Listeners hear of every join and
leave (a changed presence is a leave of the old one and a join of the new), whichever node it
happened on, so each node can tell its own sockets about them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

from overworld.protocol.streams import Stream


class PresenceMeta(NamedTuple):
    username: str
    status: str = ""
    hidden: bool = False
    persistence: bool = False


class Presence(NamedTuple):
    stream: Stream
    session_id: str
    user_id: str
    node: str
    meta: PresenceMeta


PresenceListener = Callable[[Stream, list[Presence], list[Presence]], None]


class Tracker(Protocol):
    node: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    def track(self, presence: Presence) -> bool:
        """Add a presence of a local session; False (and nothing changes) if already there."""
        ...

    def update(self, stream: Stream, session_id: str, meta: PresenceMeta) -> bool:
        """Change a local presence's meta; False if the session is not on the stream."""
        ...

    def untrack(self, stream: Stream, session_id: str) -> bool: ...
    def untrack_session(self, session_id: str) -> None:
        """Remove every presence of a local session (it disconnected)."""
        ...

    def untrack_stream(self, stream: Stream) -> None:
        """Remove every local presence on a stream (a channel or party was closed)."""
        ...

    def get(self, stream: Stream, session_id: str) -> Presence | None: ...
    def presences(self, stream: Stream) -> list[Presence]:
        """Every presence on the stream, on every node (hidden ones too)."""
        ...

    def count(self, stream: Stream) -> int: ...
    def streams_of(self, session_id: str) -> list[Stream]: ...
    def nodes_of(self, stream: Stream) -> set[str]: ...
    def on_change(self, listener: PresenceListener) -> None: ...

    @property
    def peers(self) -> list[str]:
        """The other nodes this tracker hears from (none when embedded)."""
        ...

    async def replicated(self, timeout: float = 1.0) -> None:  # noqa: ASYNC109 - gives up on peers, not the caller
        """Return once every peer has applied this node's changes made so far (at once when
        there are none): after a join, any node that sends to the stream reaches the joiner. A
        peer that does not answer within `timeout` seconds is not waited for longer."""
        ...


class PresenceStore:
    """Presences indexed by stream, by session and by node; tells listeners of changes."""

    def __init__(self) -> None:
        self.by_stream: dict[Stream, dict[str, Presence]] = {}
        self.by_session: dict[str, dict[Stream, Presence]] = {}
        self.by_node: dict[str, dict[tuple[Stream, str], Presence]] = {}
        self._listeners: list[PresenceListener] = []

    def on_change(self, listener: PresenceListener) -> None:
        self._listeners.append(listener)

    def notify(self, stream: Stream, joins: list[Presence], leaves: list[Presence]) -> None:
        for listener in self._listeners:
            listener(stream, joins, leaves)

    def add(self, p: Presence) -> Presence | None:
        """Insert or replace; returns the presence replaced, if any."""
        on_stream = self.by_stream.setdefault(p.stream, {})
        old = on_stream.get(p.session_id)
        on_stream[p.session_id] = p
        self.by_session.setdefault(p.session_id, {})[p.stream] = p
        self.by_node.setdefault(p.node, {})[(p.stream, p.session_id)] = p
        return old

    def remove(self, stream: Stream, session_id: str) -> Presence | None:
        on_stream = self.by_stream.get(stream)
        if on_stream is None:
            return None
        old = on_stream.pop(session_id, None)
        if old is None:
            return None
        if not on_stream:
            del self.by_stream[stream]
        streams = self.by_session.get(session_id)
        if streams is not None:
            streams.pop(stream, None)
            if not streams:
                del self.by_session[session_id]
        of_node = self.by_node.get(old.node)
        if of_node is not None:
            of_node.pop((stream, session_id), None)
            if not of_node:
                del self.by_node[old.node]
        return old

    def apply(self, joins: Iterable[Presence], leaves: Iterable[tuple[Stream, str]]) -> None:
        """Apply a batch of changes and tell listeners, grouped per stream."""
        events: dict[Stream, tuple[list[Presence], list[Presence]]] = {}
        for stream, session_id in leaves:
            old = self.remove(stream, session_id)
            if old is not None:
                events.setdefault(stream, ([], []))[1].append(old)
        for p in joins:
            old = self.add(p)
            if old == p:
                continue
            joined, left = events.setdefault(p.stream, ([], []))
            if old is not None:
                left.append(old)
            joined.append(p)
        for stream, (joined, left) in events.items():
            self.notify(stream, joined, left)

    def presences(self, stream: Stream) -> list[Presence]:
        on_stream = self.by_stream.get(stream)
        return list(on_stream.values()) if on_stream else []

    def count(self, stream: Stream) -> int:
        on_stream = self.by_stream.get(stream)
        return len(on_stream) if on_stream else 0

    def get(self, stream: Stream, session_id: str) -> Presence | None:
        on_stream = self.by_stream.get(stream)
        return on_stream.get(session_id) if on_stream else None

    def streams_of(self, session_id: str) -> list[Stream]:
        return list(self.by_session.get(session_id, ()))

    def nodes_of(self, stream: Stream) -> set[str]:
        on_stream = self.by_stream.get(stream)
        return {p.node for p in on_stream.values()} if on_stream else set()

    def of_node(self, node: str) -> list[Presence]:
        return list(self.by_node.get(node, {}).values())

    def replace_node(self, node: str, presences: list[Presence]) -> None:
        """Make `node`'s presences exactly `presences`, telling listeners the difference."""
        current = self.by_node.get(node, {})
        wanted = {(p.stream, p.session_id): p for p in presences}
        leaves = [key for key in current if key not in wanted]
        joins = [p for key, p in wanted.items() if current.get(key) != p]
        self.apply(joins, leaves)
