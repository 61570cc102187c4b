"""The cluster tracker: every node keeps a replica of every other node's presences.

Each node publishes its own changes on the `presence` topic as numbered diffs, batched per
event-loop turn, and a heartbeat every second carrying the last number. A node that sees a gap
in a peer's numbers (pub/sub may drop messages across a reconnect) asks that peer for a full
snapshot; a node that starts asks everyone for theirs. `replicated()` sends a sync request after
the changes made so far, on the same topic and so after them; each peer answers it on the
asker's own ack topic once it got there. A peer not heard from for
`timeout_sec` is presumed dead and its presences are removed, so listeners on every surviving
node hear the leaves. A node that stops cleanly says goodbye first.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import orjson
import structlog

from overworld.protocol.streams import Stream
from overworld.subsystems.presence.base import Presence, PresenceMeta
from overworld.subsystems.presence.embedded import EmbeddedTracker
from overworld.subsystems.pubsub.base import PubSub
from overworld.subsystems.pubsub.outbox import Outbox

log = structlog.get_logger(__name__)
TOPIC = "presence"


def _encode(p: Presence) -> list[Any]:
    m = p.meta
    return [*p.stream, p.session_id, p.user_id, m.username, m.status, m.hidden, m.persistence]


def _decode(item: list[Any], node: str) -> Presence:
    stream = Stream(item[0], item[1], item[2], item[3], item[4])
    return Presence(stream, item[5], item[6], node, PresenceMeta(item[7], item[8], item[9], item[10]))


def _ack_topic(node: str) -> str:
    return f"presence.ack.{node}"


class ClusterTracker(EmbeddedTracker):
    def __init__(
        self, node: str, pubsub: PubSub, heartbeat_sec: float = 1.0, timeout_sec: float = 5.0
    ) -> None:
        super().__init__(node)
        self._pubsub = pubsub
        self._heartbeat_sec = heartbeat_sec
        self._timeout_sec = timeout_sec
        self._seq = 0
        self._pending_joins: list[Presence] = []
        self._pending_leaves: list[tuple[Stream, str]] = []
        self._flush_scheduled = False
        self._outbox = Outbox(pubsub, "presence")
        self._peers_seq: dict[str, int] = {}
        self._peers_heard: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._sync_ids = itertools.count(1)
        self._syncs: dict[int, tuple[asyncio.Future[None], set[str]]] = {}

    async def start(self) -> None:
        self._pubsub.subscribe(TOPIC, self._on_message)
        self._pubsub.subscribe(_ack_topic(self.node), self._on_ack)
        self._pubsub.on_reconnect(self._resync)
        self._outbox.start()
        self._tasks = [asyncio.create_task(self._heartbeat_loop(), name="presence-heartbeat")]
        self._send({"k": "hello", "n": self.node})

    async def close(self) -> None:
        # The heartbeat stops first: one sent after the goodbye would make peers take this node
        # for alive again (until `timeout_sec`), and one being published when the outbox is
        # cancelled could hang its close (on Python 3.11 redis-py may lose that cancellation).
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._flush()
        self._send({"k": "bye", "n": self.node})
        await self._outbox.close()

    @property
    def peers(self) -> list[str]:
        return sorted(self._peers_heard)

    async def replicated(self, timeout: float = 1.0) -> None:  # noqa: ASYNC109 - gives up on peers, not the caller
        waiting = set(self._peers_heard)
        if not waiting:
            return
        self._flush()
        sync_id = next(self._sync_ids)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._syncs[sync_id] = (done, waiting)
        self._send({"k": "sync", "n": self.node, "i": sync_id})
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            log.warning("presence sync: peers did not answer in time", peers=sorted(waiting))
        finally:
            self._syncs.pop(sync_id, None)

    def _on_ack(self, payload: bytes) -> None:
        msg = orjson.loads(payload)
        self._acked(msg["i"], msg["n"])

    def _acked(self, sync_id: int, peer: str) -> None:
        sync = self._syncs.get(sync_id)
        if sync is None:
            return
        done, waiting = sync
        waiting.discard(peer)
        if not waiting and not done.done():
            done.set_result(None)

    # local changes -------------------------------------------------------------------------

    def _changed(self, joins: list[Presence], leaves: list[tuple[Stream, str]]) -> None:
        self.store.apply(joins, leaves)
        if leaves and self._pending_joins:
            # Peers apply a diff's leaves before its joins: a leave of a presence joined since
            # the last flush goes in the next diff, or the join would undo it there.
            self._flush()
        self._pending_joins.extend(joins)
        self._pending_leaves.extend(leaves)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending_joins and not self._pending_leaves:
            return
        self._seq += 1
        self._send(
            {
                "k": "d",
                "n": self.node,
                "s": self._seq,
                "j": [_encode(p) for p in self._pending_joins],
                "l": [[*stream, sid] for stream, sid in self._pending_leaves],
            }
        )
        self._pending_joins = []
        self._pending_leaves = []

    def _snapshot(self) -> None:
        self._flush()
        local = [_encode(p) for p in self.store.of_node(self.node)]
        self._send({"k": "snap", "n": self.node, "s": self._seq, "p": local})

    def _send(self, message: dict[str, Any]) -> None:
        # One sender (the outbox), so that peers receive our messages in the order we numbered them.
        self._outbox.put(TOPIC, orjson.dumps(message))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_sec)
            self._flush()
            self._send({"k": "h", "n": self.node, "s": self._seq})
            self._reap()

    async def _resync(self) -> None:
        self._send({"k": "hello", "n": self.node})
        self._snapshot()

    # peers' changes ------------------------------------------------------------------------

    def _reap(self) -> None:
        limit = time.monotonic() - self._timeout_sec
        for peer, heard in list(self._peers_heard.items()):
            if heard < limit:
                log.warning("cluster node presumed dead, removing its presences", peer=peer)
                self._forget(peer)

    def _forget(self, peer: str) -> None:
        self._peers_heard.pop(peer, None)
        self._peers_seq.pop(peer, None)
        self.store.replace_node(peer, [])
        for sync_id in list(self._syncs):
            self._acked(sync_id, peer)  # nothing more to wait for from a node gone

    def _on_message(self, payload: bytes) -> None:
        msg = orjson.loads(payload)
        peer = msg["n"]
        if peer == self.node:
            return
        kind = msg["k"]
        if kind == "bye":
            self._forget(peer)
            return
        self._peers_heard[peer] = time.monotonic()
        if kind == "hello":
            self._snapshot()
        elif kind == "need":
            if msg["t"] == self.node:
                self._snapshot()
        elif kind == "snap":
            self._peers_seq[peer] = msg["s"]
            self.store.replace_node(peer, [_decode(item, peer) for item in msg["p"]])
        elif kind == "d":
            known = self._peers_seq.get(peer)
            self.store.apply(
                [_decode(item, peer) for item in msg["j"]],
                [(Stream(*item[:5]), item[5]) for item in msg["l"]],
            )
            if known is None or msg["s"] != known + 1:
                self._ask_snapshot(peer)
            else:
                self._peers_seq[peer] = msg["s"]
        elif kind == "h" and self._peers_seq.get(peer) != msg["s"]:
            self._ask_snapshot(peer)
        elif kind == "sync":
            # Every diff `peer` sent before this request was applied above, in order.
            self._outbox.put(_ack_topic(peer), orjson.dumps({"n": self.node, "i": msg["i"]}))

    def _ask_snapshot(self, peer: str) -> None:
        self._send({"k": "need", "n": self.node, "t": peer})
