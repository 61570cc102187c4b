from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sortedcontainers import SortedList  # type: ignore[import-untyped]

from overworld.subsystems.ranks.base import RankEntry, pack, unpack


class _Period:
    __slots__ = ("descending", "keys", "owners")

    def __init__(self, descending: bool) -> None:
        self.descending = descending
        self.keys: SortedList = SortedList()
        self.owners: dict[str, tuple[int, int]] = {}  # owner -> (sort key, generation)


class EmbeddedRankIndex:
    """One process's index: a sorted list of packed keys per period (O(log n) insert, delete and
    rank) and a dict from owner to its key."""

    def __init__(self) -> None:
        self._periods: dict[str, _Period] = {}
        self._built: set[str] = set()  # periods rebuilt (entries set into others do not count)

    def _period(self, key: str, descending: bool) -> _Period:
        period = self._periods.get(key)
        if period is None:
            period = self._periods[key] = _Period(descending)
        return period

    async def rebuild(self, key: str, descending: bool, rows: Iterable[Sequence[Any]]) -> int:
        period = _Period(descending)
        owners = period.owners
        keys = []
        for owner, score, subscore, generation in rows:
            packed = pack(descending, owner, score, subscore)
            owners[owner] = (packed, generation)
            keys.append(packed)
        period.keys = SortedList(keys)
        self._periods[key] = period
        self._built.add(key)
        return len(period.keys)

    async def set(
        self, key: str, descending: bool, owner_id: str, score: int, subscore: int, generation: int
    ) -> int:
        period = self._period(key, descending)
        old = period.owners.get(owner_id)
        if old is not None:
            if generation <= old[1]:
                return int(period.keys.bisect_left(old[0])) + 1
            period.keys.remove(old[0])
        packed = pack(period.descending, owner_id, score, subscore)
        period.keys.add(packed)
        period.owners[owner_id] = (packed, generation)
        return int(period.keys.bisect_left(packed)) + 1

    async def delete(self, key: str, owner_id: str) -> None:
        period = self._periods.get(key)
        if period is None:
            return
        old = period.owners.pop(owner_id, None)
        if old is not None:
            period.keys.remove(old[0])

    async def rank(self, key: str, owner_id: str) -> int:
        period = self._periods.get(key)
        if period is None:
            return 0
        old = period.owners.get(owner_id)
        return 0 if old is None else int(period.keys.bisect_left(old[0])) + 1

    async def ranks(self, key: str, owner_ids: Sequence[str]) -> Mapping[str, int]:
        period = self._periods.get(key)
        if period is None:
            return {}
        found: dict[str, int] = {}
        for owner in owner_ids:
            old = period.owners.get(owner)
            if old is not None:
                found[owner] = int(period.keys.bisect_left(old[0])) + 1
        return found

    async def count(self, key: str) -> int:
        period = self._periods.get(key)
        return 0 if period is None else len(period.keys)

    async def range(self, key: str, descending: bool, first: int, last: int) -> list[RankEntry]:
        period = self._periods.get(key)
        if period is None or last < first:
            return []
        first = max(first, 1)
        entries = []
        for offset, packed in enumerate(period.keys.islice(first - 1, last)):
            owner, score, subscore = unpack(period.descending, packed)
            entries.append(RankEntry(owner, score, subscore, first + offset))
        return entries

    async def drop(self, key: str) -> None:
        self._periods.pop(key, None)
        self._built.discard(key)

    async def built(self, key: str) -> bool:
        return key in self._built

    async def lock(self, key: str, owner: str, ttl_ms: int) -> bool:
        return True  # one process: nobody to coordinate with

    async def unlock(self, key: str, owner: str) -> None:
        return None
