"""Time helpers: the store keeps Unix milliseconds, the wire speaks RFC 3339 in UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def rfc3339(ms: int | None) -> str:
    """`2026-11-21T17:39:00Z` (milliseconds kept when not zero); empty for None."""
    if ms is None:
        return ""
    seconds, millis = divmod(ms, 1000)
    text = _seconds(seconds)
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


@lru_cache(maxsize=4096)
def _seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
