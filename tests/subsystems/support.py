"""What the contract suites share: the two implementations as fixture parameters, this test's own
keyspace on the test Redis, and waiting for what the Redis implementations do asynchronously."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

from tests.support import REDIS_URL, unique

if TYPE_CHECKING:
    from overworld.subsystems.pubsub import PubSub

IMPLEMENTATIONS = ["embedded", "redis"]
REDIS_SKIP = "Redis tests need OVERWORLD_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)"
WAIT_SEC = 10.0  # upper bound for what is expected within a fraction of a second


def redis_only(reason: str) -> pytest.MarkDecorator:
    """Mark a contract test that only the Redis implementation can run; the embedded parameter
    is skipped with `reason` (the fixture reads the mark)."""
    return pytest.mark.redis_only(reason)


def skip_if_redis_only(request: pytest.FixtureRequest) -> None:
    """In a parametrised fixture's embedded branch: skip a test marked `redis_only`, saying why."""
    mark = request.node.get_closest_marker("redis_only")
    if mark is not None:
        pytest.skip(f"Redis only: {mark.args[0]}")


async def eventually(condition: Callable[[], bool], what: str, within: float = WAIT_SEC) -> None:
    """Wait until `condition()` holds: at once when embedded, within a bound on Redis."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.01)


class RedisSpace:
    """This test's keyspace on the test Redis: prefixes of its own and the clients it opened (one
    per simulated node). `close` deletes every key under the prefixes and closes the clients."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.prefixes: list[str] = []
        self.clients: list[Any] = []

    def prefix(self) -> str:
        prefix = unique(self.name)
        self.prefixes.append(prefix)
        return prefix

    def client(self, **options: Any) -> Any:
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL, **options)
        self.clients.append(client)
        return client

    async def close(self) -> None:
        admin = self.client()
        for prefix in self.prefixes:
            keys = [key async for key in admin.scan_iter(match=f"{prefix}:*")]
            if keys:
                await admin.delete(*keys)
        for client in self.clients:
            await client.aclose()

    async def kill_connections(self, client_name: str) -> int:
        """Close, from the server side, the connections of the clients named `client_name` (a
        lost connection, as after a network failure); the number closed."""
        admin = self.client()
        killed = 0
        for entry in await admin.client_list():
            if entry.get("name") == client_name:
                killed += int(await admin.client_kill_filter(_id=entry["id"]))
        return killed


@asynccontextmanager
async def redis_space(name: str) -> AsyncIterator[RedisSpace]:
    """A `RedisSpace`; skips the test when no test Redis is configured."""
    if not REDIS_URL:
        pytest.skip(REDIS_SKIP)
    space = RedisSpace(name)
    try:
        yield space
    finally:
        await space.close()


async def subscribed(bus: PubSub, publisher: PubSub, topic: str, handler: Callable[[bytes], object]) -> None:
    """Subscribe `handler` to `topic` on a started bus and wait until it hears `publisher` (on
    Redis a subscription made after start takes effect a moment later): the probe payloads it
    heard meanwhile are not passed on to `handler`."""
    probes: list[bytes] = []
    live = False

    def gate(payload: bytes) -> object:
        if payload.startswith(b"probe:"):
            probes.append(payload)
            return None
        return handler(payload) if live else None

    bus.subscribe(topic, gate)
    for n in range(int(10 / 0.05)):
        await publisher.publish(topic, f"probe:{n}".encode())
        if probes:
            live = True
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the subscription to {topic!r} never took effect")


class Closable(Protocol):
    async def close(self) -> None: ...


D = TypeVar("D", bound=Closable)


@asynccontextmanager
async def deployed(
    request: pytest.FixtureRequest, make: Callable[[RedisSpace | None], D], name: str
) -> AsyncIterator[D]:
    """The deployment a parametrised `deployment` fixture yields: `make(None)` for the embedded
    parameter (skipping tests marked Redis-only), `make(space)` on this test's own Redis
    keyspace for the Redis one; closed afterwards either way."""
    if request.param == "embedded":
        skip_if_redis_only(request)
        embedded = make(None)
        try:
            yield embedded
        finally:
            await embedded.close()
        return
    async with redis_space(name) as space:
        running = make(space)
        try:
            yield running
        finally:
            await running.close()
