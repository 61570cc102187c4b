"""The one-node tracker: presences live in this process only."""

from __future__ import annotations

from overworld.protocol.streams import Stream
from overworld.subsystems.presence.base import Presence, PresenceListener, PresenceMeta, PresenceStore


class EmbeddedTracker:
    def __init__(self, node: str) -> None:
        self.node = node
        self.store = PresenceStore()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @property
    def peers(self) -> list[str]:
        return []

    async def replicated(self, timeout: float = 1.0) -> None:  # noqa: ASYNC109 - gives up on peers, not the caller
        return None

    def on_change(self, listener: PresenceListener) -> None:
        self.store.on_change(listener)

    def track(self, presence: Presence) -> bool:
        if self.store.get(presence.stream, presence.session_id) is not None:
            return False
        self._changed([presence], [])
        return True

    def update(self, stream: Stream, session_id: str, meta: PresenceMeta) -> bool:
        old = self.store.get(stream, session_id)
        if old is None or old.node != self.node:
            return False
        if old.meta != meta:
            self._changed([old._replace(meta=meta)], [])
        return True

    def untrack(self, stream: Stream, session_id: str) -> bool:
        old = self.store.get(stream, session_id)
        if old is None or old.node != self.node:
            return False
        self._changed([], [(stream, session_id)])
        return True

    def untrack_session(self, session_id: str) -> None:
        # Only this node's presences: a peer's session is the peer's to end (as untrack does).
        leaves = [
            (s, session_id)
            for s in self.store.streams_of(session_id)
            if (p := self.store.get(s, session_id)) is not None and p.node == self.node
        ]
        if leaves:
            self._changed([], leaves)

    def untrack_stream(self, stream: Stream) -> None:
        local = [(stream, p.session_id) for p in self.store.presences(stream) if p.node == self.node]
        if local:
            self._changed([], local)

    def _changed(self, joins: list[Presence], leaves: list[tuple[Stream, str]]) -> None:
        self.store.apply(joins, leaves)

    def get(self, stream: Stream, session_id: str) -> Presence | None:
        return self.store.get(stream, session_id)

    def presences(self, stream: Stream) -> list[Presence]:
        return self.store.presences(stream)

    def count(self, stream: Stream) -> int:
        return self.store.count(stream)

    def streams_of(self, session_id: str) -> list[Stream]:
        return self.store.streams_of(session_id)

    def nodes_of(self, stream: Stream) -> set[str]:
        return self.store.nodes_of(stream)
