"""The PubSub contract (overworld/subsystems/pubsub/base.py), run against the embedded bus and
Redis pub/sub: each published payload reaches every subscriber of its topic on every node,
byte for byte, in publish order per publisher; topics and deployments are apart.

A deployment here is a list of nodes' buses: the embedded one is a single in-process bus; on
Redis, two `RedisPubSub` on one prefix, each with its own connection, model two nodes. Redis
delivers after `publish` returns, so the tests wait (bounded) where the embedded bus is done
at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from structlog.testing import capture_logs

from overworld.subsystems.pubsub import EmbeddedPubSub, PubSub
from tests.subsystems.support import (
    IMPLEMENTATIONS,
    RedisSpace,
    deployed,
    eventually,
    redis_only,
    subscribed,
)

pytestmark = pytest.mark.anyio
Start = Callable[..., Awaitable[list[PubSub]]]


class Deployment:
    """Starts the nodes of one deployment's bus (`nodes`), and of other deployments (`other`)."""

    def __init__(self, space: RedisSpace | None) -> None:
        self.space = space
        self.started: list[PubSub] = []
        self.prefix = space.prefix() if space is not None else ""

    async def nodes(self, count: int = 2, start: bool = True, prefix: str = "") -> list[PubSub]:
        """`count` nodes on Redis, the one bus when embedded (started unless `start` is False)."""
        buses: list[PubSub]
        if self.space is None:
            buses = [EmbeddedPubSub()]
        else:
            from overworld.subsystems.pubsub.redis import RedisPubSub

            prefix = prefix or self.prefix
            buses = [
                RedisPubSub(self.space.client(client_name=f"{prefix}-node{i}"), prefix) for i in range(count)
            ]
        self.started.extend(buses)
        if start:
            for bus in buses:
                await bus.start()
        return buses

    async def other(self) -> list[PubSub]:
        """The nodes of another deployment (on Redis: another prefix)."""
        if self.space is None:
            return await self.nodes()
        return await self.nodes(prefix=self.space.prefix())

    async def close(self) -> None:
        for bus in self.started:
            await bus.close()


@pytest.fixture(params=IMPLEMENTATIONS)
async def deployment(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    async with deployed(request, Deployment, "pstest") as running:
        yield running


def collector(into: list[bytes]) -> Callable[[bytes], None]:
    return into.append


def async_collector(into: list[bytes]) -> Callable[[bytes], Awaitable[None]]:
    async def handler(payload: bytes) -> None:
        await asyncio.sleep(0)
        into.append(payload)

    return handler


async def test_every_subscriber_on_every_node_gets_each_payload_in_publish_order(deployment):
    nodes = await deployment.nodes(start=False)
    heard: list[list[bytes]] = []
    for bus in nodes:  # two subscribers per node, a plain and an async handler
        for make in (collector, async_collector):
            heard.append([])
            bus.subscribe("scores", make(heard[-1]))
    for bus in nodes:
        await bus.start()
    sent = [str(i).encode() for i in range(200)]
    for payload in sent:
        await nodes[0].publish("scores", payload)
    await eventually(lambda: all(len(h) >= len(sent) for h in heard), "every subscriber to hear 200")
    assert all(h == sent for h in heard)


async def test_each_node_publishing_is_heard_everywhere_in_its_own_order(deployment):
    nodes = await deployment.nodes(start=False)
    heard = [[] for _ in nodes]
    for bus, into in zip(nodes, heard, strict=True):
        bus.subscribe("moves", collector(into))
    for bus in nodes:
        await bus.start()
    sent = {i: [f"{i}:{n}".encode() for n in range(50)] for i in range(len(nodes))}

    async def send(i: int) -> None:
        for payload in sent[i]:
            await nodes[i].publish("moves", payload)

    await asyncio.gather(*(send(i) for i in sent))  # concurrently: orders are per publisher
    total = sum(map(len, sent.values()))
    await eventually(lambda: all(len(h) >= total for h in heard), "every node to hear every payload")
    for into in heard:
        assert len(into) == total
        for i, payloads in sent.items():
            assert [p for p in into if p.startswith(f"{i}:".encode())] == payloads


async def test_payloads_arrive_byte_for_byte_on_any_topic_name(deployment):
    nodes = await deployment.nodes(start=False)
    topics = ["plain", "chat:room/1", "glob*?[x]", "ünïcødé ✓", "sp ace"]
    heard: dict[str, list[bytes]] = {t: [] for t in topics}
    for topic in topics:
        nodes[-1].subscribe(topic, collector(heard[topic]))
    for bus in nodes:
        await bus.start()
    payloads = [b"", b"\x00\xff\xfe binary \x00", "ünïcødé".encode(), bytes(range(256)) * 4096]
    for topic in topics:
        for payload in payloads:
            await nodes[0].publish(topic, payload)
    await eventually(lambda: all(len(h) == len(payloads) for h in heard.values()), "every payload")
    assert all(h == payloads for h in heard.values())


async def test_a_subscriber_hears_only_its_topic(deployment):
    nodes = await deployment.nodes(start=False)
    a: list[bytes] = []
    b: list[bytes] = []
    nodes[-1].subscribe("a", collector(a))
    nodes[-1].subscribe("b", collector(b))
    nodes[-1].subscribe("a.b", collector(b))  # not a prefix or a pattern of "a"
    for bus in nodes:
        await bus.start()
    await nodes[0].publish("b", b"for b")
    await nodes[0].publish("c", b"for nobody")
    await nodes[0].publish("a.b", b"for a.b")
    await nodes[0].publish("a", b"for a")  # one publisher: heard after the others, if at all
    await eventually(lambda: a == [b"for a"], "the payload on topic a")
    assert b == [b"for b", b"for a.b"]


async def test_publish_many_publishes_in_order_like_publish(deployment):
    nodes = await deployment.nodes(start=False)
    by_topic: dict[str, list[bytes]] = {"x": [], "y": []}
    both: list[tuple[str, bytes]] = []
    for topic, into in by_topic.items():
        nodes[-1].subscribe(topic, collector(into))
        nodes[-1].subscribe(topic, lambda payload, topic=topic: both.append((topic, payload)))
    for bus in nodes:
        await bus.start()
    await nodes[0].publish_many([])  # nothing to do
    batch = [("x" if i % 3 else "y", f"m{i}".encode()) for i in range(600)]
    await nodes[0].publish("x", b"before")
    await nodes[0].publish_many(batch[:1])
    await nodes[0].publish_many(batch[1:])
    await nodes[0].publish("y", b"after")
    sent = [("x", b"before"), *batch, ("y", b"after")]
    await eventually(lambda: len(both) >= len(sent), "every payload of the batches")
    assert both == sent  # one publisher's payloads in order, across topics too
    for topic, into in by_topic.items():
        assert into == [p for t, p in sent if t == topic]


async def test_a_subscription_made_after_start_hears_what_is_published_next(deployment):
    nodes = await deployment.nodes()
    first: list[bytes] = []
    second: list[bytes] = []
    await subscribed(nodes[-1], nodes[0], "late", collector(first))
    # Another subscriber of a topic this node already listens to hears it at once.
    nodes[-1].subscribe("late", collector(second))
    sent = [f"after {i}".encode() for i in range(20)]
    await nodes[0].publish_many([("late", p) for p in sent])
    await eventually(lambda: first[-1:] == second[-1:] == sent[-1:], "both subscribers")
    assert first == sent
    assert [p for p in second if not p.startswith(b"probe:")] == sent  # probes were still in flight


async def test_a_failing_subscriber_stops_neither_the_others_nor_the_publisher(deployment):
    nodes = await deployment.nodes(start=False)
    before: list[bytes] = []
    after: list[bytes] = []
    failed: list[bytes] = []

    def failing(payload: bytes) -> None:
        failed.append(payload)
        raise RuntimeError("subscriber failure")

    async def failing_async(payload: bytes) -> None:
        raise RuntimeError("async subscriber failure")

    bus = nodes[-1]
    bus.subscribe("t", collector(before))
    bus.subscribe("t", failing)
    bus.subscribe("t", failing_async)
    bus.subscribe("t", collector(after))
    for node in nodes:
        await node.start()
    sent = [b"one", b"two", b"three"]
    with capture_logs() as logs:
        await nodes[0].publish("t", sent[0])  # does not raise
        await nodes[0].publish_many([("t", p) for p in sent[1:]])
        await eventually(lambda: len(after) == len(sent), "the subscriber after the failing ones")
    assert before == after == failed == sent
    failures = [e for e in logs if e["event"] == "pubsub handler failed"]
    assert len(failures) == 2 * len(sent) and {e["topic"] for e in failures} == {"t"}


async def test_deployments_do_not_hear_each_other(deployment):
    ours = await deployment.nodes(start=False)
    theirs = await deployment.other()
    heard_ours: list[bytes] = []
    heard_theirs: list[bytes] = []
    ours[-1].subscribe("shared", collector(heard_ours))
    for bus in ours:
        await bus.start()
    await subscribed(theirs[-1], theirs[0], "shared", collector(heard_theirs))
    await ours[0].publish("shared", b"ours")
    await theirs[0].publish("shared", b"theirs")
    await eventually(lambda: heard_ours == [b"ours"] and b"theirs" in heard_theirs, "each to hear its own")
    # One more from each: had the other's payload been delivered, it would have come first.
    await ours[0].publish("shared", b"ours again")
    await theirs[0].publish("shared", b"theirs again")
    await eventually(lambda: len(heard_ours) == 2 and len(heard_theirs) == 2, "the second payloads")
    assert heard_ours == [b"ours", b"ours again"]
    assert heard_theirs == [b"theirs", b"theirs again"]


@redis_only("an in-process bus never loses its connection, so it never reconnects")
async def test_after_a_lost_connection_subscriptions_resume_and_reconnect_handlers_run(deployment):
    nodes = await deployment.nodes()
    listener = nodes[-1]
    early: list[bytes] = []
    late: list[bytes] = []
    reconnected: list[int] = []

    async def on_reconnect() -> None:
        reconnected.append(len(early))

    await subscribed(listener, nodes[0], "early", collector(early))
    await subscribed(listener, nodes[0], "late", collector(late))
    await nodes[0].publish("early", b"before")
    await eventually(lambda: early == [b"before"], "the first payload")
    listener.on_reconnect(on_reconnect)
    # Cut this node's connections from the server side (its subscriber connection among them).
    assert await deployment.space.kill_connections(f"{deployment.prefix}-node{len(nodes) - 1}") >= 1
    await eventually(lambda: reconnected == [1], "the reconnect handler")
    await nodes[0].publish("early", b"after")
    await nodes[0].publish("late", b"after")
    await eventually(lambda: early == [b"before", b"after"], "a payload after the reconnect")
    await eventually(lambda: late[-1:] == [b"after"], "a payload on the later subscription")
