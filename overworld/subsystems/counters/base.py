"""Expiring counters, shared by every node: the basis for lockouts and rate limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Counters(Protocol):
    async def incr(self, key: str, window_sec: int) -> int:
        """Add one to `key` and return the new count; the count starts a window of `window_sec`
        seconds on its first increment and disappears when that window ends."""
        ...

    async def get(self, key: str) -> int: ...

    async def ttl(self, key: str) -> float:
        """The seconds left of `key`'s window; 0.0 when the key counts nothing."""
        ...

    async def reset(self, key: str) -> None: ...

    async def reserve(self, limits: Sequence[tuple[str, int]], window_sec: int) -> bool:
        """Atomically, on every node: if each key of `limits` counts less than its limit, add one
        to each (a new count starting a window of `window_sec`, as `incr`) and return True;
        otherwise change nothing and return False. However many callers reserve at once, a key
        never passes its limit."""
        ...

    async def release(self, keys: Sequence[str]) -> None:
        """Take one back from each of `keys` that counts more than zero (a reservation that turned
        out not to count); the windows are kept."""
        ...
