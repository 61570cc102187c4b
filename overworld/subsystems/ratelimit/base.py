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
from typing import Any, Generic, Protocol, TypeVar

from overworld.config import Rate

# A bucket's key (a string: a user id, an address) and, for `take`, its rate.
Key = str
Limit = tuple[Key, Rate]
V = TypeVar("V")


class Buckets(Generic[V]):
    """A table of buckets of one rate: one call's budget of one scope in one title (its name,
    e.g. "<title id>:u:rpc"), each bucket by its key (a user id, an address; "" for the title's
    one). Tables make the hot path cheap: a request finds its call's tables once (a dict lookup by
    call name and title), then each of its buckets by a string it already holds (the session's
    user id: one string object, its hash cached), where one dict of every key would need a key
    object built, hashed and compared per bucket. `state` is the limiter's (a TAT per key, or a
    local batch); `spare` the fallback's table, for a limiter that has one."""

    __slots__ = ("interval", "name", "period", "rate", "spare", "state")

    def __init__(self, name: str, rate: Rate, spare: Buckets[Any] | None = None) -> None:
        self.name = name
        self.rate = rate
        self.interval = rate.interval
        self.period = rate.period
        self.state: dict[str, V] = {}
        self.spare = spare

    def key_name(self, key: str) -> str:
        """The bucket's name across nodes: the table's and the key's, joined with ":"."""
        if not self.name:
            return key
        return f"{self.name}:{key}" if key else self.name

    def __repr__(self) -> str:
        return f"Buckets({self.name!r}, {self.rate})"


# A bucket of a table: the hot path's and the slow path's unit.
Spend = tuple[Buckets[Any], str]


class RateLimiter(Protocol):
    def buckets(self, name: str, rate: Rate) -> Buckets[Any]:
        """The table of buckets called `name`, each of `rate` (the same table for the same name and
        rate; tables of one name and different rates are apart). A bucket's name across nodes is
        `Buckets.key_name`: the table's name and the key, joined with ":"."""
        ...

    async def take(self, limits: Sequence[Limit]) -> float:
        """If every bucket of `limits` has room for one more event, count one in each and return
        0.0; otherwise count nothing and return the seconds until they all would have room (> 0).
        Shared by every node: however many nodes take from a key, its rate holds (within the
        slack an implementation documents). A key of `limits` is a bucket of the table called ""
        for its rate: `take_in` on those."""
        ...

    async def take_in(self, spends: Sequence[Spend]) -> float:
        """`take` of buckets in tables (`buckets`)."""
        ...

    def take_now(
        self,
        b1: Buckets[Any] | None,
        k1: str,
        b2: Buckets[Any] | None = None,
        k2: str = "",
        b3: Buckets[Any] | None = None,
        k3: str = "",
    ) -> float | None:
        """`take_in` of the buckets `k1` of table `b1`, `k2` of `b2` and `k3` of `b3` (those whose
        table is not None), without waiting, when this node can decide alone; None when only
        `take_in` can (it must ask elsewhere first). The hot path: every request calls it with its
        address's, user's and title's budgets, so it takes up to three buckets as arguments rather
        than a list (building the list and looping over it cost a request more than the buckets
        themselves), and runs no coroutine and no round trip."""
        ...


def spends_in_tables(limiter: RateLimiter, limits: Sequence[Limit]) -> list[Spend]:
    """`take`'s (key, rate) pairs as buckets: each key in the table called "" of its rate."""
    return [(limiter.buckets("", rate), key) for key, rate in limits]


def spends_of(
    b1: Buckets[Any] | None, k1: str, b2: Buckets[Any] | None, k2: str, b3: Buckets[Any] | None, k3: str
) -> list[Spend]:
    """The buckets of a `take_now` as `take_in`'s list."""
    return [(b, k) for b, k in ((b1, k1), (b2, k2), (b3, k3)) if b is not None]


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
