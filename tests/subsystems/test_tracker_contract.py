"""The presence Tracker contract (overworld/subsystems/presence/base.py), run against the
embedded tracker and the cluster tracker, which replicates over Redis pub/sub.

A deployment is a list of nodes: the embedded tracker is the only node of its deployment; on
Redis, two `ClusterTracker`s, each on its own `RedisPubSub` connection to one prefix, are two
nodes. The tests track on one node and check every node: what it lists, and what its listeners
heard. A peer learns of a change a moment later, so the tests wait (bounded) where the embedded
tracker is done at once. What only a deployment of several nodes has (peers joining, leaving,
dying, missing messages) is tested on Redis only, saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from overworld.subsystems.presence import EmbeddedTracker, Presence, PresenceMeta, Tracker
from overworld.subsystems.presence.base import Stream  # the interface's own stream type
from overworld.subsystems.pubsub import Handler, PubSub
from tests.subsystems.support import (
    IMPLEMENTATIONS,
    RedisSpace,
    deployed,
    eventually,
    redis_only,
    subscribed,
)

pytestmark = pytest.mark.anyio
HEARTBEAT_SEC = 0.1
CHANNEL, PARTY = 2, 7  # stream modes (a stream is an opaque key to the tracker)
Event = tuple[str, Presence]  # ("leave" | "join", presence), in the order a listener heard them


class Link:
    """A node's pub/sub with a switch: while it is down the node neither sends nor hears
    anything, as when its network is cut or its process hangs (Redis underneath is the real one).
    """

    def __init__(self, inner: PubSub) -> None:
        self.inner = inner
        self.up = True

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def publish(self, topic: str, payload: bytes) -> None:
        if self.up:
            await self.inner.publish(topic, payload)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        if self.up:
            await self.inner.publish_many(messages)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self.inner.subscribe(topic, lambda payload: handler(payload) if self.up else None)

    def on_reconnect(self, handler: Callable[[], object]) -> None:
        self.inner.on_reconnect(handler)  # type: ignore[arg-type]


class Deployment:
    """Starts nodes (`nodes`, `join`) and records what each one's listeners hear (`heard`)."""

    def __init__(self, space: RedisSpace | None) -> None:
        self.space = space
        self.prefix = space.prefix() if space is not None else ""
        self.heard: dict[str, list[Event]] = {}
        self.pubsubs: dict[str, PubSub] = {}
        self.links: dict[str, Link] = {}
        self.running: list[Tracker] = []

    async def nodes(self, count: int = 2, timeout_sec: float = 30.0) -> list[Tracker]:
        """The started nodes of this deployment: one when embedded, `count` on Redis."""
        if self.space is None:
            return [await self._start(EmbeddedTracker("node-0"))]
        nodes = [await self.join(timeout_sec) for _ in range(count)]
        await self.until_peers_known()
        return nodes

    async def join(self, timeout_sec: float = 30.0, heartbeat_sec: float = HEARTBEAT_SEC) -> Tracker:
        """One more node on Redis, started as `overworld.node` starts one: pub/sub first."""
        from overworld.subsystems.presence.cluster import ClusterTracker
        from overworld.subsystems.pubsub.redis import RedisPubSub

        assert self.space is not None
        name = f"node-{len(self.heard)}"
        client = self.space.client(client_name=self.client_name(name))
        pubsub = self.pubsubs[name] = RedisPubSub(client, self.prefix)
        await pubsub.start()
        link = self.links[name] = Link(pubsub)
        tracker = ClusterTracker(name, link, heartbeat_sec=heartbeat_sec, timeout_sec=timeout_sec)
        return await self._start(tracker)

    def client_name(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    async def _start(self, tracker: Tracker) -> Tracker:
        heard = self.heard[tracker.node] = []

        def listener(stream: Stream, joins: list[Presence], leaves: list[Presence]) -> None:
            assert all(p.stream == stream for p in [*joins, *leaves])
            heard.extend([*(("leave", p) for p in leaves), *(("join", p) for p in joins)])

        tracker.on_change(listener)
        await tracker.start()
        self.running.append(tracker)
        return tracker

    async def until_peers_known(self) -> None:
        names = {t.node for t in self.running}
        await eventually(
            lambda: all(t.peers == sorted(names - {t.node}) for t in self.running),
            "the nodes to know each other",
        )

    async def stop(self, tracker: Tracker) -> None:
        self.running.remove(tracker)
        await tracker.close()

    async def close(self) -> None:
        for tracker in list(self.running):
            await self.stop(tracker)
        for pubsub in self.pubsubs.values():
            await pubsub.close()


@pytest.fixture(params=IMPLEMENTATIONS)
async def deployment(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    async with deployed(request, Deployment, "prtest") as running:
        yield running


def channel(name: str, title: str = "title-1") -> Stream:
    return Stream(title, CHANNEL, name)


def presence(node: Tracker, stream: Stream, session: str, **meta: object) -> Presence:
    return Presence(stream, session, f"user-{session}", node.node, PresenceMeta(f"name-{session}", **meta))  # type: ignore[arg-type]


def replay(events: list[Event], strict: bool = True) -> set[Presence]:
    """The presences a listener knows of after hearing `events` from the start. Not `strict`: a
    leave of a presence not known (yet) is ignored; within one event a listener cannot tell
    whether a presence that joins and leaves (it was replaced) did so in that order."""
    known: dict[tuple[Stream, str], Presence] = {}
    for kind, p in events:
        key = (p.stream, p.session_id)
        if kind == "join":
            known[key] = p
        elif known.get(key) == p:
            del known[key]
        else:
            assert not strict, f"a leave of a presence that had not joined: {p}"
    return set(known.values())


async def everywhere(nodes: list[Tracker], stream: Stream, expected: set[Presence]) -> None:
    """Wait until every node lists exactly `expected` on `stream`."""
    await eventually(
        lambda: all(set(n.presences(stream)) == expected for n in nodes), f"every node to list {expected}"
    )
    for n in nodes:
        assert len(n.presences(stream)) == n.count(stream) == len(expected)
        assert n.nodes_of(stream) == {p.node for p in expected}
        for p in expected:
            assert n.get(stream, p.session_id) == p


async def test_a_tracked_presence_is_listed_and_heard_on_every_node(deployment):
    nodes = await deployment.nodes()
    origin = nodes[0]
    lobby = channel("lobby")
    p = presence(origin, lobby, "s1")
    assert origin.track(p) is True
    # Already there: nothing changes, whatever the meta.
    assert origin.track(p) is False
    assert origin.track(p._replace(meta=PresenceMeta("other", status="away"))) is False
    await everywhere(nodes, lobby, {p})
    for n in nodes:
        assert n.streams_of("s1") == [lobby]
        assert deployment.heard[n.node] == [("join", p)]
        assert n.get(lobby, "nobody") is None and n.get(channel("elsewhere"), "s1") is None


async def test_a_stream_lists_the_presences_of_every_node_and_only_its_own(deployment):
    nodes = await deployment.nodes()
    lobby, other = channel("lobby"), channel("other")
    same_name_other_title = channel("lobby", title="title-2")
    tracked = [
        presence(
            nodes[i % len(nodes)], lobby, f"s{i}", status=f"status {i}", hidden=i == 2, persistence=i == 3
        )
        for i in range(5)
    ]
    for p in tracked:
        assert next(n for n in nodes if n.node == p.node).track(p)
    elsewhere = presence(nodes[-1], other, "s0")  # the same session on another stream
    in_title_2 = presence(nodes[0], same_name_other_title, "s9")
    assert nodes[-1].track(elsewhere) and nodes[0].track(in_title_2)
    await everywhere(nodes, lobby, set(tracked))  # hidden ones too
    await everywhere(nodes, other, {elsewhere})
    await everywhere(nodes, same_name_other_title, {in_title_2})
    for n in nodes:
        assert sorted(n.streams_of("s0")) == sorted([lobby, other])
        assert n.streams_of("s9") == [same_name_other_title]
        assert n.presences(channel("empty")) == [] and n.count(channel("empty")) == 0
        assert n.nodes_of(channel("empty")) == set() and n.streams_of("nobody") == []
        assert replay(deployment.heard[n.node]) == {*tracked, elsewhere, in_title_2}


async def test_update_changes_the_meta_everywhere_as_a_leave_and_a_join(deployment):
    nodes = await deployment.nodes()
    origin = nodes[-1]
    lobby = channel("lobby")
    p = presence(origin, lobby, "s1")
    assert origin.track(p)
    await everywhere(nodes, lobby, {p})
    away = p._replace(meta=p.meta._replace(status="away", hidden=True))
    assert origin.update(lobby, "s1", away.meta) is True
    await everywhere(nodes, lobby, {away})
    # The same meta again: nothing to tell. A later change shows nothing was told in between.
    assert origin.update(lobby, "s1", away.meta) is True
    marker = presence(origin, lobby, "s2")
    assert origin.track(marker)
    await everywhere(nodes, lobby, {away, marker})
    for n in nodes:
        assert deployment.heard[n.node] == [("join", p), ("leave", p), ("join", away), ("join", marker)]
    assert origin.update(lobby, "nobody", away.meta) is False
    assert origin.update(channel("other"), "s1", away.meta) is False
    assert all(n.get(channel("other"), "s1") is None for n in nodes)


async def test_untrack_removes_a_presence_everywhere(deployment):
    nodes = await deployment.nodes()
    origin = nodes[0]
    lobby = channel("lobby")
    p, stays = presence(origin, lobby, "s1"), presence(origin, lobby, "s2")
    assert origin.track(p) and origin.track(stays)
    await everywhere(nodes, lobby, {p, stays})
    assert origin.untrack(lobby, "s1") is True
    assert origin.untrack(lobby, "s1") is False
    assert origin.untrack(channel("other"), "s2") is False
    await everywhere(nodes, lobby, {stays})
    for n in nodes:
        assert ("leave", p) in deployment.heard[n.node]
        assert n.streams_of("s1") == []
        assert replay(deployment.heard[n.node]) == {stays}
    # Tracked again after leaving: a new join.
    assert origin.track(p)
    await everywhere(nodes, lobby, {p, stays})


async def test_untrack_session_removes_every_presence_of_the_session(deployment):
    nodes = await deployment.nodes()
    origin = nodes[-1]
    streams = [channel("a"), channel("b"), Stream("title-1", PARTY, "party-1", "", "node-x")]
    gone = [presence(origin, s, "leaving") for s in streams]
    stays = [presence(origin, s, "staying") for s in streams]
    for p in [*gone, *stays]:
        assert origin.track(p)
    for s, p in zip(streams, stays, strict=True):
        await everywhere(nodes, s, {p, gone[streams.index(s)]})
    origin.untrack_session("leaving")
    origin.untrack_session("leaving")  # nothing left: nothing happens
    origin.untrack_session("never-there")
    for s, p in zip(streams, stays, strict=True):
        await everywhere(nodes, s, {p})
    for n in nodes:
        assert n.streams_of("leaving") == []
        assert sorted(n.streams_of("staying")) == sorted(streams)
        leaves = [p for kind, p in deployment.heard[n.node] if kind == "leave"]
        assert sorted(leaves) == sorted(gone)


async def test_untrack_stream_removes_every_presence_on_the_stream(deployment):
    nodes = await deployment.nodes()
    origin = nodes[0]
    closing, other = channel("closing"), channel("other")
    on_closing = [presence(origin, closing, f"s{i}") for i in range(3)]
    on_other = presence(origin, other, "s0")
    for p in [*on_closing, on_other]:
        assert origin.track(p)
    await everywhere(nodes, closing, set(on_closing))
    origin.untrack_stream(closing)
    origin.untrack_stream(channel("never-used"))
    await everywhere(nodes, closing, set())
    await everywhere(nodes, other, {on_other})
    for n in nodes:
        assert n.streams_of("s0") == [other]
        assert sorted(p for kind, p in deployment.heard[n.node] if kind == "leave") == sorted(on_closing)


async def test_changes_made_in_one_turn_reach_every_node_as_made(deployment):
    """Changes made one after another without awaiting (a socket that joins and at once
    disconnects, a rejoin): every node ends as the node that made them, hearing them in order."""
    nodes = await deployment.nodes()
    origin = nodes[0]
    lobby = channel("lobby")
    joined_then_left = presence(origin, lobby, "brief")
    updated_then_left = presence(origin, lobby, "flicker")
    rejoined = presence(origin, lobby, "rejoin")
    origin.track(rejoined)
    await everywhere(nodes, lobby, {rejoined})
    rejoined_away = rejoined._replace(meta=rejoined.meta._replace(status="back"))
    # One event-loop turn:
    assert origin.track(joined_then_left)
    assert origin.untrack(lobby, "brief")
    assert origin.track(updated_then_left)
    assert origin.update(lobby, "flicker", updated_then_left.meta._replace(status="typing"))
    origin.untrack_session("flicker")
    assert origin.untrack(lobby, "rejoin")
    assert origin.track(rejoined_away)
    assert set(origin.presences(lobby)) == {rejoined_away}
    await everywhere(nodes, lobby, {rejoined_away})
    marker = presence(origin, channel("marker"), "m")  # tracked after: every node hears it last
    assert origin.track(marker)
    await everywhere(nodes, channel("marker"), {marker})
    for n in nodes:
        # A peer hears one turn's changes in one event per stream: there "flicker" joins, is
        # replaced (a leave) and joins as replaced, in some order.
        assert replay(deployment.heard[n.node], strict=n is origin) == {rejoined_away, marker}
        # Each presence came and went in the order it did on the origin.
        brief = [kind for kind, p in deployment.heard[n.node] if p.session_id == "brief"]
        assert brief in ([], ["join", "leave"])  # a peer may hear of both or of neither


async def test_each_node_hears_from_every_other_node(deployment):
    nodes = await deployment.nodes(count=3)
    names = sorted(n.node for n in nodes)
    for n in nodes:
        assert n.peers == [name for name in names if name != n.node]  # none when embedded


@redis_only("the embedded tracker is its deployment's only node: every presence is its own")
async def test_a_node_changes_only_its_own_presences(deployment):
    a, b = await deployment.nodes()
    lobby = channel("lobby")
    of_a, of_b = presence(a, lobby, "sa"), presence(b, lobby, "sb")
    assert a.track(of_a) and b.track(of_b)
    await everywhere([a, b], lobby, {of_a, of_b})
    assert b.track(of_a) is False  # already there, on another node
    assert b.update(lobby, "sa", PresenceMeta("taken over")) is False
    assert b.untrack(lobby, "sa") is False
    b.untrack_session("sa")  # a's session: not b's to end
    b.untrack_stream(lobby)  # only b's own presences leave
    await everywhere([a, b], lobby, {of_a})
    assert a.get(lobby, "sa") == of_a
    assert b.get(lobby, "sa") == of_a


@redis_only("the embedded tracker is its deployment's only node: no node can join it")
async def test_a_node_that_starts_later_hears_of_every_presence(deployment):
    a, b = await deployment.nodes()
    lobby = channel("lobby")
    tracked = [presence(a, lobby, "sa"), presence(b, lobby, "sb"), presence(b, channel("x"), "sb")]
    for p in tracked:
        assert (a if p.node == a.node else b).track(p)
    await everywhere([a, b], lobby, set(tracked[:2]))
    c = await deployment.join()
    await deployment.until_peers_known()
    await everywhere([a, b, c], lobby, set(tracked[:2]))
    await everywhere([a, b, c], channel("x"), {tracked[2]})
    assert replay(deployment.heard[c.node]) == set(tracked)
    # And the others hear of the newcomer's presences.
    of_c = presence(c, lobby, "sc")
    assert c.track(of_c)
    await everywhere([a, b, c], lobby, {*tracked[:2], of_c})


@redis_only("the embedded tracker is its deployment's only node: no peer can leave it")
async def test_a_node_that_closes_takes_its_presences_with_it_at_once_and_for_good(deployment):
    a = (await deployment.nodes(count=1, timeout_sec=60.0))[0]  # a dead peer: noticed after a minute
    # b heartbeats all the time, so that it is about to when it closes.
    b = await deployment.join(timeout_sec=60.0, heartbeat_sec=0.001)
    await deployment.until_peers_known()
    lobby = channel("lobby")
    of_a, of_b = presence(a, lobby, "sa"), presence(b, lobby, "sb")
    assert a.track(of_a) and b.track(of_b)
    await everywhere([a, b], lobby, {of_a, of_b})
    await deployment.stop(b)
    await everywhere([a], lobby, {of_a})
    assert deployment.heard[a.node][-1] == ("leave", of_b)
    # Whatever b sent before its close returned reaches a before what is published after it.
    heard: list[bytes] = []
    await subscribed(deployment.pubsubs[a.node], deployment.pubsubs[b.node], "after-close", heard.append)
    await deployment.pubsubs[b.node].publish("after-close", b"marker")
    await eventually(lambda: heard == [b"marker"], "the marker published after b closed")
    assert a.peers == []  # no word from b after its goodbye (a heartbeat would make it a peer again)
    assert a.presences(lobby) == [of_a]


@redis_only("the embedded tracker is its deployment's only node: no peer can fall silent")
async def test_a_node_not_heard_from_is_presumed_dead_until_heard_again(deployment):
    a, b = await deployment.nodes(timeout_sec=1.0)
    lobby = channel("lobby")
    of_a, of_b = presence(a, lobby, "sa"), presence(b, lobby, "sb")
    assert a.track(of_a) and b.track(of_b)
    await everywhere([a, b], lobby, {of_a, of_b})
    deployment.links[b.node].up = False  # b falls silent (and deaf), without saying goodbye
    await eventually(lambda: a.presences(lobby) == [of_a], "a to presume b dead")
    assert a.peers == [] and deployment.heard[a.node][-1] == ("leave", of_b)
    await eventually(lambda: b.presences(lobby) == [of_b], "b to presume a dead")
    deployment.links[b.node].up = True
    await deployment.until_peers_known()
    await everywhere([a, b], lobby, {of_a, of_b})
    assert deployment.heard[a.node][-1] == ("join", of_b)


@redis_only("the embedded tracker has no connection to lose")
async def test_a_node_that_lost_its_connection_catches_up_with_what_it_missed(deployment):
    a, b = await deployment.nodes()
    lobby = channel("lobby")
    before, after = presence(a, lobby, "before"), presence(a, lobby, "after")
    assert a.track(before)
    await everywhere([a, b], lobby, {before})
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    deployment.pubsubs[b.node].on_reconnect(on_reconnect)
    assert await deployment.space.kill_connections(deployment.client_name(b.node)) >= 1
    # While b reconnects (half a second), a changes: b misses it.
    assert a.untrack(lobby, "before") and a.track(after)
    await asyncio.wait_for(reconnected.wait(), timeout=10)
    await everywhere([a, b], lobby, {after})
    assert replay(deployment.heard[b.node]) == {after}


async def test_once_replicated_every_node_lists_what_was_tracked_before(deployment):
    nodes = await deployment.nodes(count=3)
    origin = nodes[0]
    for round_ in range(20):
        stream = channel(f"match-{round_}")
        p = presence(origin, stream, f"s{round_}")
        assert origin.track(p)
        await origin.replicated()
        # No waiting: every node has it the moment `replicated` returns.
        assert all(n.get(stream, p.session_id) == p for n in nodes)
        assert origin.untrack(stream, p.session_id)
        await origin.replicated()
        assert all(n.get(stream, p.session_id) is None for n in nodes)


@redis_only("the embedded tracker has no peer to wait for")
async def test_replicated_gives_up_on_a_silent_peer_and_stops_waiting_for_a_dead_one(deployment):
    a, b, c = await deployment.nodes(count=3, timeout_sec=1.0)
    lobby = channel("lobby")
    deployment.links[c.node].up = False  # c hears nothing and answers nothing
    assert a.track(presence(a, lobby, "s1"))
    await asyncio.wait_for(a.replicated(timeout=0.2), timeout=5)  # bounded by its timeout
    assert b.get(lobby, "s1") is not None  # b answered, so it had the presence
    # A peer presumed dead while a sync waits for it is not waited for any longer.
    assert a.track(presence(a, lobby, "s2"))
    await asyncio.wait_for(a.replicated(timeout=60), timeout=10)
    assert a.peers == [b.node]
