"""Which authoritative matches run where, for listing on any node.

Each node knows its own matches. In a cluster it also publishes a snapshot of them (id, title,
label, tick rate, handler name) on the pub/sub topic `match.index` every second, and at once
(debounced by 0.2 s) after a match starts, ends or changes its label; every node keeps the last
snapshot of each other node and forgets a node silent for `timeout_sec`. A match's size is not
published: every node counts the presences on the match stream in its presence tracker, which a
cluster replicates anyway. The embedded pub/sub has no other node: the snapshots go nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from overworld.query import Numbers, Strings, label_fields
from overworld.subsystems.pubsub.base import PubSub
from overworld.subsystems.pubsub.outbox import Outbox

if TYPE_CHECKING:
    from overworld.matches.handler import AuthoritativeMatch

log = structlog.get_logger(__name__)
TOPIC = "match.index"
INTERVAL_SEC = 1.0
DEBOUNCE_SEC = 0.2
_NOT_PARSED = object()


@dataclass(slots=True)
class IndexEntry:
    title_id: str
    uuid: str
    node: str
    label: str
    tick_rate: int
    handler_name: str
    _doc: Any = field(default=_NOT_PARSED, repr=False)

    @property
    def match_id(self) -> str:
        return f"{self.uuid}.{self.node}"

    def fields(self) -> tuple[Strings, Numbers]:
        """The label's fields for queries parsed with `multi=True` (`overworld.query.label_fields`:
        by dotted path, an array's elements all values of its path), computed once."""
        if self._doc is _NOT_PARSED:
            self._doc = label_fields(self.label)
        fields: tuple[Strings, Numbers] = self._doc
        return fields


class MatchIndex:
    def __init__(self, node: str, pubsub: PubSub, timeout_sec: float) -> None:
        self.node = node
        self._pubsub = pubsub
        self._outbox = Outbox(pubsub, "match-index")
        self._timeout = timeout_sec
        self._local: dict[tuple[str, str], AuthoritativeMatch] = {}
        self._local_entries: dict[tuple[str, str], IndexEntry] = {}
        self._remote: dict[str, tuple[float, dict[str, list[IndexEntry]]]] = {}
        self._dirty = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._pubsub.subscribe(TOPIC, self._on_snapshot)
        self._outbox.start()
        self._task = asyncio.get_running_loop().create_task(self._publish_loop(), name="match-index")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._local.clear()
        self._local_entries.clear()
        self._publish()  # an empty snapshot: the others forget this node's matches now
        await self._outbox.close()

    # -- this node's matches ------------------------------------------------------------------

    def added(self, match: AuthoritativeMatch) -> None:
        self._local[(match.title.id, match.uuid)] = match
        self.changed(match)

    def removed(self, match: AuthoritativeMatch) -> None:
        self._local.pop((match.title.id, match.uuid), None)
        self._local_entries.pop((match.title.id, match.uuid), None)
        self._dirty = True

    def changed(self, match: AuthoritativeMatch) -> None:
        key = (match.title.id, match.uuid)
        if key in self._local:
            self._local_entries[key] = IndexEntry(
                match.title.id, match.uuid, self.node, match.label, match.tick_rate, match.name
            )
        self._dirty = True

    # -- reading ------------------------------------------------------------------------------

    def entries(self, title_id: str) -> Iterator[IndexEntry]:
        for entry in self._local_entries.values():
            if entry.title_id == title_id:
                yield entry
        now = time.monotonic()
        for node, (expires, by_title) in list(self._remote.items()):
            if expires < now:
                del self._remote[node]
                continue
            yield from by_title.get(title_id, ())

    def get(self, title_id: str, match_uuid: str, node: str) -> IndexEntry | None:
        if node == self.node:
            return self._local_entries.get((title_id, match_uuid))
        remote = self._remote.get(node)
        if remote is None or remote[0] < time.monotonic():
            return None
        return next((e for e in remote[1].get(title_id, ()) if e.uuid == match_uuid), None)

    # -- snapshots ----------------------------------------------------------------------------

    async def _publish_loop(self) -> None:
        last = 0.0
        while True:
            await asyncio.sleep(DEBOUNCE_SEC)
            now = time.monotonic()
            if self._dirty or now - last >= INTERVAL_SEC:
                self._dirty = False
                last = now
                self._publish()

    def _publish(self) -> None:
        items = [
            [e.title_id, e.uuid, e.label, e.tick_rate, e.handler_name] for e in self._local_entries.values()
        ]
        self._outbox.put(TOPIC, orjson.dumps({"n": self.node, "m": items}))

    def _on_snapshot(self, payload: bytes) -> None:
        try:
            message = orjson.loads(payload)
            node = message["n"]
            if node == self.node:
                return
            by_title: dict[str, list[IndexEntry]] = {}
            for title_id, match_uuid, label, tick_rate, name in message["m"]:
                by_title.setdefault(title_id, []).append(
                    IndexEntry(title_id, match_uuid, node, label, tick_rate, name)
                )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("bad match index snapshot ignored")
            return
        if by_title:
            self._remote[node] = (time.monotonic() + self._timeout, by_title)
        else:
            self._remote.pop(node, None)
