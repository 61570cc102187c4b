"""Login lockout per account and per client address, on both counter backends."""

from __future__ import annotations

import pytest

from overworld.accounts.lockout import LoginLockout
from overworld.errors import ResourceExhausted
from overworld.subsystems.counters import EmbeddedCounters
from tests.support import REDIS_URL, unique

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["embedded", "redis"])
async def counters(request):
    if request.param == "embedded":
        yield EmbeddedCounters()
        return
    if not REDIS_URL:
        pytest.skip("Redis tests need OVERWORLD_TEST_REDIS_URL")
    import redis.asyncio as aioredis

    from overworld.subsystems.counters.redis import RedisCounters

    client = aioredis.from_url(REDIS_URL)
    prefix = unique("owtest")
    yield RedisCounters(client, prefix)
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_account_locks_after_failures_and_success_resets(counters):
    lockout = LoginLockout(counters, account_failures=3, address_failures=100, window_sec=60)
    for _ in range(2):
        await lockout.check("t", "a@example.com", "1.2.3.4")
        await lockout.failed("t", "a@example.com", "1.2.3.4")
    await lockout.succeeded("t", "a@example.com")
    for _ in range(3):
        await lockout.failed("t", "a@example.com", "1.2.3.4")
    with pytest.raises(ResourceExhausted):
        await lockout.check("t", "a@example.com", "5.6.7.8")
    await lockout.check("t", "b@example.com", "1.2.3.4")  # another account is fine
    await lockout.check("other-title", "a@example.com", "1.2.3.4")  # and the same email in another title


async def test_address_locks_across_accounts(counters):
    lockout = LoginLockout(counters, account_failures=100, address_failures=4, window_sec=60)
    for i in range(4):
        await lockout.failed("t", f"user{i}@example.com", "9.9.9.9")
    with pytest.raises(ResourceExhausted):
        await lockout.check("t", "fresh@example.com", "9.9.9.9")
    await lockout.check("t", "fresh@example.com", "8.8.8.8")
