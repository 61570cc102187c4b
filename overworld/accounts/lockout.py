"""Limit password guessing without handing strangers a way to lock players out.

Every password check first *reserves* a guess (`LoginLockout.attempt`), atomically across the
cluster (`Counters.reserve`): however many requests arrive at once, on however many nodes, no more
guesses are checked than the limits allow. A reservation counts against three limits per window:

- the account **from this address** (`pair_failures`, 5): the limit a guesser meets first. It
  locks only the guesser's own address out of that account, never the player elsewhere;
- the **address**, across accounts (`address_failures`, 50): one address trying many accounts;
- the **account**, from every address (`account_ceiling`, 100): a guesser spread over many
  addresses. An address the account has logged in from with its password (in the last
  `known_sec`) is exempt from this ceiling and from the address limit, so even a stranger who
  reaches the ceiling does not lock the player out of the places they usually play from.

A correct password gives its reservation back (and forgets the failures of its address on that
account); a sign-up is not a guess either. IPv6 addresses count by their /64 network, which one
client usually owns whole.

For a title with an encryption key (docs/data-protection.md) the counters are not named by the
email or the address themselves but by their blind indexes (`hide`): the counters' store (Redis)
then holds no personal data either.

**Growing delays.** Each failed guess at an account from an address also makes that address wait
before its next guess there: `delay_sec` after the first failure, twice as long after each
further one, at most `delay_max_sec` (1 s, 2 s, 4 s, ... 300 s by default). A guess that comes too
early is refused with RESOURCE_EXHAUSTED and the seconds left (HTTP 429, `Retry-After`), before
any password is checked or counted. The wait is a counter whose window is the delay
(`Counters.ttl` reads what is left of it), so it holds on every node. Like the first limit, it
concerns one account from one address only: a player typing their password elsewhere never
waits for a stranger's failures, and a correct password ends the wait of its address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from overworld.errors import RateLimited, retry_after_seconds
from overworld.subsystems.counters import Counters
from overworld.subsystems.ratelimit import address_key

LOCKED = "Too many failed login attempts, try again later."
KNOWN_SEC = 30 * 24 * 3600

__all__ = ["LOCKED", "Attempt", "LoginLockout", "address_key"]


def wait_message(seconds: float) -> str:
    return f"Too many failed login attempts: retry in {retry_after_seconds(seconds)} s"


def account_counter(title_id: str, account: str, hide: Callable[[str], str] | None = None) -> str:
    """The name of the counter of failed guesses at `account` from every address (an email, or
    `username:<name>`); with `hide`, named by hide(account). What an erasure resets."""
    return f"lock:acct:{title_id}:{account if hide is None else hide(account)}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """A reserved guess at one account's password from one address."""

    pair: str | None
    counted: tuple[str, ...]  # the account and address keys the reservation added one to
    known: str | None
    wait: str | None = None  # the key of this account and address's growing delay


class LoginLockout:
    def __init__(
        self,
        counters: Counters,
        pair_failures: int,
        address_failures: int,
        account_ceiling: int,
        window_sec: int,
        known_sec: int = KNOWN_SEC,
        delay_sec: int = 0,
        delay_max_sec: int = 0,
    ) -> None:
        self._counters = counters
        self._pair_failures = pair_failures
        self._address_failures = address_failures
        self._account_ceiling = account_ceiling
        self._window = window_sec
        self._known_sec = known_sec
        self._delay = delay_sec
        self._delay_max = max(delay_max_sec, delay_sec)

    async def attempt(
        self, title_id: str, account: str, address: str | None, hide: Callable[[str], str] | None = None
    ) -> Attempt:
        """Reserve one guess at `account` from `address`, or raise RESOURCE_EXHAUSTED (a
        `RateLimited`, with the seconds to wait) when a limit is reached or the address's growing
        delay has not passed (nothing is counted then). With `hide`, counters are named by
        hide(account) and hide(address's key) instead."""
        account_key = account_counter(title_id, account, hide)
        if hide is not None:
            account = hide(account)
        if not address:
            # No address (server code, tests): only the account's own ceiling applies.
            limits = [(account_key, self._account_ceiling)]
            if not await self._counters.reserve(limits, self._window):
                raise RateLimited(LOCKED, await self._locked_for(limits))
            return Attempt(None, (account_key,), None)
        where = address_key(address) if hide is None else hide(address_key(address))
        pair_key = f"lock:pair:{title_id}:{account}:{where}"
        known_key = f"lock:known:{title_id}:{account}:{where}"
        wait_key = f"lock:wait:{title_id}:{account}:{where}"
        if self._delay:
            left = await self._counters.ttl(wait_key)
            if left > 0:
                raise RateLimited(wait_message(left), left)
        limits = [(pair_key, self._pair_failures)]
        counted: tuple[str, ...] = ()
        if not await self._counters.get(known_key):
            address_key_ = f"lock:addr:{title_id}:{where}"
            limits += [(account_key, self._account_ceiling), (address_key_, self._address_failures)]
            counted = (account_key, address_key_)
        if not await self._counters.reserve(limits, self._window):
            raise RateLimited(LOCKED, await self._locked_for(limits))
        return Attempt(pair_key, counted, known_key, wait_key if self._delay else None)

    async def _locked_for(self, limits: list[tuple[str, int]]) -> float:
        """The seconds until the limits that are reached let a guess through again."""
        left = 0.0
        for key, limit in limits:
            if await self._counters.get(key) >= limit:
                left = max(left, await self._counters.ttl(key))
        return left or float(self._window)

    def delay(self, failures: int) -> int:
        """The seconds an address waits after its `failures`th failed guess at an account."""
        if not self._delay or failures < 1:
            return 0
        return min(self._delay << min(failures - 1, 40), self._delay_max)

    async def failed_guess(self, attempt: Attempt) -> None:
        """The guess was wrong (a wrong password, or no such account): it stays counted, and its
        address waits before guessing at this account again, longer after each failure."""
        if attempt.wait is None or attempt.pair is None:
            return
        seconds = self.delay(await self._counters.get(attempt.pair))
        if seconds:
            await self._counters.reset(attempt.wait)
            await self._counters.incr(attempt.wait, seconds)

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the guess does not count, and the address becomes known."""
        if attempt.pair is not None:
            await self._counters.reset(attempt.pair)
        if attempt.wait is not None:
            await self._counters.reset(attempt.wait)
        await self._counters.release(attempt.counted)
        if attempt.known is not None and attempt.counted:
            await self._counters.incr(attempt.known, self._known_sec)

    async def not_a_guess(self, attempt: Attempt) -> None:
        """No password was checked (a sign-up): give the reservation back."""
        await self._counters.release(((attempt.pair,) if attempt.pair else ()) + attempt.counted)

    async def failed(
        self, title_id: str, address: str | None, hide: Callable[[str], str] | None = None
    ) -> None:
        """A failed login that checked no password (an unknown device or custom id): counts
        against the address only."""
        if address:
            where = address_key(address) if hide is None else hide(address_key(address))
            await self._counters.incr(f"lock:addr:{title_id}:{where}", self._window)
