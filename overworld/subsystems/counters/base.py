"""Expiring counters, shared by every node: the basis for lockouts and rate limits."""

from __future__ import annotations

from typing import Protocol


class Counters(Protocol):
    async def incr(self, key: str, window_sec: int) -> int:
        """Add one to `key` and return the new count; the count starts a window of `window_sec`
        seconds on its first increment and disappears when that window ends."""
        ...

    async def get(self, key: str) -> int: ...
    async def reset(self, key: str) -> None: ...
