"""Login lockout (overworld/accounts/lockout.py) on both counter backends: guesses are reserved
atomically, a guesser locks only their own address out of an account, a looser ceiling bounds
guessing from many addresses, and addresses the player logged in from stay open."""

from __future__ import annotations

import asyncio

import pytest

from overworld.accounts.lockout import LoginLockout, address_key
from overworld.errors import RateLimited, ResourceExhausted
from overworld.subsystems.counters import EmbeddedCounters
from tests.support import REDIS_URL, redis_prefix

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
    prefix = redis_prefix("owtest")
    yield RedisCounters(client, prefix)
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def lockout(counters, pair=3, address=100, ceiling=100):
    return LoginLockout(
        counters, pair_failures=pair, address_failures=address, account_ceiling=ceiling, window_sec=60
    )


async def guesses(lock, account, address, n):
    """How many of `n` guesses the lockout lets through."""
    allowed = 0
    for _ in range(n):
        try:
            await lock.attempt("t", account, address)
        except ResourceExhausted:
            continue
        allowed += 1
    return allowed


async def test_a_guesser_locks_only_their_own_address_out_of_the_account(counters):
    lock = lockout(counters, pair=3)
    assert await guesses(lock, "a@example.com", "1.2.3.4", 10) == 3
    assert await guesses(lock, "a@example.com", "5.6.7.8", 1) == 1  # the player elsewhere: fine
    assert await guesses(lock, "b@example.com", "1.2.3.4", 1) == 1  # another account: fine
    other_title = await lock.attempt("other-title", "a@example.com", "1.2.3.4")
    assert other_title.pair is not None


async def test_success_forgets_the_failures_of_its_address(counters):
    lock = lockout(counters, pair=3)
    for _ in range(2):
        await lock.attempt("t", "a@example.com", "1.2.3.4")
    await lock.succeeded(await lock.attempt("t", "a@example.com", "1.2.3.4"))
    assert await guesses(lock, "a@example.com", "1.2.3.4", 10) == 3


async def test_parallel_guesses_never_pass_the_limit(counters):
    lock = lockout(counters, pair=5)
    results = await asyncio.gather(
        *(lock.attempt("t", "a@example.com", "1.2.3.4") for _ in range(100)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 5
    assert all(isinstance(r, ResourceExhausted) for r in results if isinstance(r, Exception))


async def test_the_account_ceiling_spares_addresses_the_player_logged_in_from(counters):
    lock = lockout(counters, pair=3, ceiling=10)
    await lock.succeeded(await lock.attempt("t", "a@example.com", "10.0.0.1"))  # the player's home
    allowed = sum([await guesses(lock, "a@example.com", f"192.0.2.{i}", 3) for i in range(10)])
    assert allowed == 10  # the ceiling across addresses
    assert await guesses(lock, "a@example.com", "198.51.100.1", 1) == 0  # a new address: locked
    assert await guesses(lock, "a@example.com", "10.0.0.1", 1) == 1  # home still gets in


async def test_an_address_trying_many_accounts_is_stopped(counters):
    lock = lockout(counters, pair=3, address=4)
    assert sum([await guesses(lock, f"user{i}@example.com", "9.9.9.9", 1) for i in range(10)]) == 4
    assert await guesses(lock, "fresh@example.com", "8.8.8.8", 1) == 1
    await lock.failed("t", "7.7.7.7")  # an unknown device id counts against the address
    assert await counters.get("lock:addr:t:7.7.7.7") == 1


async def test_a_sign_up_is_not_a_guess(counters):
    lock = lockout(counters, pair=2)
    for _ in range(5):
        await lock.not_a_guess(await lock.attempt("t", "new@example.com", "1.2.3.4"))
    assert await guesses(lock, "new@example.com", "1.2.3.4", 5) == 2


async def test_ipv6_addresses_count_by_their_64_network():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("testclient") == "testclient"


async def test_each_failed_guess_makes_its_address_wait_longer(counters):
    """Growing delays: 10 s after the first failure, 20 s after the second, 40 s after the third
    (capped at 60 s), for this account from this address only; a guess that comes early is
    refused with the seconds left and counts nothing. (Long delays, so that a slow machine
    cannot see them run out; the test ends each wait itself instead of sleeping.)"""
    lock = LoginLockout(
        counters, pair_failures=10, address_failures=100, account_ceiling=100, window_sec=600,
        delay_sec=10, delay_max_sec=60,
    )  # fmt: skip
    assert [lock.delay(n) for n in range(1, 6)] == [10, 20, 40, 60, 60]
    account, address = "a@example.com", "1.2.3.4"
    wait_key = f"lock:wait:t:{account}:{address}"
    for expected in (10, 20, 40, 60):
        attempt = await lock.attempt("t", account, address)
        await lock.failed_guess(attempt)
        left = await counters.ttl(wait_key)
        assert expected - 5 < left <= expected
        before = await counters.get(f"lock:pair:t:{account}:{address}")
        with pytest.raises(RateLimited) as refused:
            await lock.attempt("t", account, address)
        assert expected - 5 < refused.value.retry_after <= expected
        assert refused.value.http_status == 429
        assert await counters.get(f"lock:pair:t:{account}:{address}") == before  # not counted
        # Nobody else waits: the player from elsewhere, or another account from this address.
        await lock.succeeded(await lock.attempt("t", account, "5.6.7.8"))
        await lock.not_a_guess(await lock.attempt("t", "b@example.com", address))
        await counters.reset(wait_key)  # the wait is over
    # A correct password ends the failures and the wait of its address.
    attempt = await lock.attempt("t", account, address)
    await lock.succeeded(attempt)
    await lock.failed_guess(await lock.attempt("t", account, address))
    assert 5 < await counters.ttl(wait_key) <= 10


async def test_a_reached_limit_says_how_long_it_lasts(counters):
    lock = lockout(counters, pair=2)
    assert await guesses(lock, "a@example.com", "1.2.3.4", 2) == 2
    with pytest.raises(RateLimited) as locked:
        await lock.attempt("t", "a@example.com", "1.2.3.4")
    assert 50 < locked.value.retry_after <= 60  # the window's rest (window_sec=60)
