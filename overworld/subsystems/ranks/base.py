"""The rank index: for each leaderboard period, every owner's place in the board's order.

Records live in the database; the index keeps only what ordering needs (owner, score, subscore)
so that "what is my rank", "who is at ranks 1000-1010" and "how many records" take a lookup
instead of a count over the table. It is rebuilt from the database at start and updated after
every committed write, so it agrees with the database (see `overworld.leaderboards`).

Order, as Nakama: best score first (highest for descending boards, lowest for ascending), then
best subscore, then owner id (descending boards: the greater id first; ascending: the smaller).
Ranks start at 1.

Each entry is packed into one 256-bit integer whose natural order is the rank order (smaller is
better): 64 bits of score, 64 of subscore, 128 of owner id, each complemented for descending
boards. Both implementations use that key: the embedded one in a sorted list, Redis as the member
of a sorted set whose scores are all 0 (so members sort by their bytes).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

_U64 = (1 << 64) - 1
_U128 = (1 << 128) - 1
_OFFSET = 1 << 63  # int64 -> unsigned 64 bits, keeping the order


@dataclass(frozen=True, slots=True)
class RankEntry:
    owner_id: str
    score: int
    subscore: int
    rank: int


def owner_int(owner_id: str) -> int:
    # The canonical form (what every stored id is) without building a UUID object: 4x faster,
    # which is a third of a rank index rebuild. Anything else goes through `uuid.UUID`.
    digits = owner_id.replace("-", "")
    if len(owner_id) == 36 and len(digits) == 32 and digits.isascii() and digits.isalnum():
        return int(digits, 16)
    return uuid.UUID(owner_id).int


def pack(descending: bool, owner_id: str, score: int, subscore: int) -> int:
    """The sort key of an entry: smaller keys rank better."""
    s = score + _OFFSET
    ss = subscore + _OFFSET
    o = owner_int(owner_id)
    if descending:
        s, ss, o = _U64 - s, _U64 - ss, _U128 - o
    return (s << 192) | (ss << 128) | o


def unpack(descending: bool, key: int) -> tuple[str, int, int]:
    """(owner_id, score, subscore) of a sort key."""
    s = key >> 192
    ss = (key >> 128) & _U64
    o = key & _U128
    if descending:
        s, ss, o = _U64 - s, _U64 - ss, _U128 - o
    return str(uuid.UUID(int=o)), s - _OFFSET, ss - _OFFSET


class RankIndex(Protocol):
    """Ranks per period `key` (`leaderboards.ranks.period_key`); `descending` is the board's order.

    `generation` orders the updates of one owner: an update with a generation not above the one
    stored is ignored, so updates that arrive out of order (two concurrent writes by one owner,
    answered by the database in one order and reaching the index in the other) cannot leave an
    older score in the index. Writers pass the record's `num_score`, which every accepted write
    increases.
    """

    async def rebuild(self, key: str, descending: bool, rows: Iterable[Sequence[Any]]) -> int:
        """Replace the period's entries with `rows` of (owner_id, score, subscore, generation)
        and mark it built; returns how many entries it has."""
        ...

    async def set(
        self, key: str, descending: bool, owner_id: str, score: int, subscore: int, generation: int
    ) -> int:
        """Insert or move an owner; returns its rank afterwards."""
        ...

    async def delete(self, key: str, owner_id: str) -> None: ...
    async def rank(self, key: str, owner_id: str) -> int:
        """The owner's rank, or 0 if it has no entry."""
        ...

    async def ranks(self, key: str, owner_ids: Sequence[str]) -> Mapping[str, int]:
        """Ranks of the owners that have an entry."""
        ...

    async def count(self, key: str) -> int: ...
    async def range(self, key: str, descending: bool, first: int, last: int) -> list[RankEntry]:
        """The entries ranked `first` to `last` (1-based, inclusive)."""
        ...

    async def drop(self, key: str) -> None:
        """Forget a period entirely."""
        ...

    async def built(self, key: str) -> bool:
        """Whether the period has been built (the Redis index survives node restarts)."""
        ...

    async def lock(self, key: str, owner: str, ttl_ms: int) -> bool:
        """Take the right to rebuild a period, so that nodes starting together build it once.
        `owner` must be unique to this acquisition; the lock lapses after `ttl_ms`."""
        ...

    async def unlock(self, key: str, owner: str) -> None:
        """Release the lock if `owner` still holds it; a lock that lapsed and was taken by
        someone else is left alone."""
        ...
