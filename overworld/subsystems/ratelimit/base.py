"""Rate limits shared by every node: one bucket per key, each with its own rate.

The algorithm is GCRA (the generic cell rate algorithm), a token bucket kept as one number per
key: the theoretical arrival time (TAT) of the next event. An event at `now` is allowed when
`max(TAT, now) + interval - now <= period` (at most `count` events ahead of the steady rate), and
then moves TAT on by one `interval`. A key whose TAT is in the past is a full bucket, the same as
no key at all, so idle keys cost nothing and expire.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Protocol

from overworld.config import Rate

# A bucket's key and its rate. A key is a string, or a tuple of strings (its parts: hashed from
# the parts' cached hashes, so building one per request costs less than formatting a string; the
# Redis limiter joins the parts with ":" when it must name the key).
Key = str | tuple[str, ...]
Limit = tuple[Key, Rate]


class RateLimiter(Protocol):
    async def take(self, limits: Sequence[Limit]) -> float:
        """If every bucket of `limits` has room for one more event, count one in each and return
        0.0; otherwise count nothing and return the seconds until they all would have room (> 0).
        Shared by every node: however many nodes take from a key, its rate holds (within the
        slack an implementation documents)."""
        ...

    def take_now(
        self,
        k1: Key,
        r1: Rate | None,
        k2: Key = "",
        r2: Rate | None = None,
        k3: Key = "",
        r3: Rate | None = None,
    ) -> float | None:
        """`take` of the buckets `(k1, r1)`, `(k2, r2)` and `(k3, r3)` (those whose rate is not
        None), without waiting, when this node can decide alone; None
        when only `take` can (it must ask elsewhere first). The hot path: every request calls it
        with its address's, user's and title's budgets, so it takes up to three buckets as
        arguments rather than a list (building the list and looping over it cost a request more
        than the buckets themselves), and runs no coroutine and no round trip."""
        ...


def limits_of(k1: Key, r1: Rate | None, k2: Key, r2: Rate | None, k3: Key, r3: Rate | None) -> list[Limit]:
    """The buckets of a `take_now` as `take`'s list."""
    return [(k, r) for k, r in ((k1, r1), (k2, r2), (k3, r3)) if r is not None]


_ADDRESSES: dict[str, str] = {}


def address_key(address: str) -> str:
    """What an address counts under: itself, or its /64 network for IPv6 (one client usually owns
    a whole /64). Cached: this runs for every request."""
    found = _ADDRESSES.get(address)
    if found is not None:
        return found
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        key = address
    else:
        if ip.version == 6:
            mapped = ip.ipv4_mapped
            key = str(mapped) if mapped is not None else str(ipaddress.ip_network(f"{ip}/64", strict=False))
        else:
            key = str(ip)
    if len(_ADDRESSES) >= 65536:
        _ADDRESSES.clear()
    _ADDRESSES[address] = key
    return key
