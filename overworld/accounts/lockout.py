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
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from overworld.errors import ResourceExhausted
from overworld.subsystems.counters import Counters

LOCKED = "Too many failed login attempts, try again later."
KNOWN_SEC = 30 * 24 * 3600


def address_key(address: str) -> str:
    """What an address counts under: itself, or its /64 network for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


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


class LoginLockout:
    def __init__(
        self,
        counters: Counters,
        pair_failures: int,
        address_failures: int,
        account_ceiling: int,
        window_sec: int,
        known_sec: int = KNOWN_SEC,
    ) -> None:
        self._counters = counters
        self._pair_failures = pair_failures
        self._address_failures = address_failures
        self._account_ceiling = account_ceiling
        self._window = window_sec
        self._known_sec = known_sec

    async def attempt(
        self, title_id: str, account: str, address: str | None, hide: Callable[[str], str] | None = None
    ) -> Attempt:
        """Reserve one guess at `account` from `address`, or raise RESOURCE_EXHAUSTED when a limit
        is reached (nothing is counted then). With `hide`, counters are named by hide(account)
        and hide(address's key) instead."""
        account_key = account_counter(title_id, account, hide)
        if hide is not None:
            account = hide(account)
        if not address:
            # No address (server code, tests): only the account's own ceiling applies.
            if not await self._counters.reserve([(account_key, self._account_ceiling)], self._window):
                raise ResourceExhausted(LOCKED)
            return Attempt(None, (account_key,), None)
        where = address_key(address) if hide is None else hide(address_key(address))
        pair_key = f"lock:pair:{title_id}:{account}:{where}"
        known_key = f"lock:known:{title_id}:{account}:{where}"
        limits = [(pair_key, self._pair_failures)]
        counted: tuple[str, ...] = ()
        if not await self._counters.get(known_key):
            address_key_ = f"lock:addr:{title_id}:{where}"
            limits += [(account_key, self._account_ceiling), (address_key_, self._address_failures)]
            counted = (account_key, address_key_)
        if not await self._counters.reserve(limits, self._window):
            raise ResourceExhausted(LOCKED)
        return Attempt(pair_key, counted, known_key)

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the guess does not count, and the address becomes known."""
        if attempt.pair is not None:
            await self._counters.reset(attempt.pair)
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
