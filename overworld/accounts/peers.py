"""Read-your-writes across a cluster for the account cache.

Every node caches accounts (`AccountCache`); the database's change feed drops an entry on every
node a moment after a commit, but "a moment" is long enough for a client behind a load balancer
to read its own write through another node and see it undone (PostgreSQL tells each node's
listener when that listener's process is next scheduled: milliseconds apart under load). So
after its own writes a node also tells each peer directly and waits for their answers before it
answers its client: once the write is acknowledged, no node serves the old account from memory.
A peer that does not answer within `timeout` seconds (a node dying, not yet presumed dead) is
logged and skipped; its cache still hears of the change from the feed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from overworld.accounts.cache import AccountCache
from overworld.realtime.router import Router
from overworld.subsystems.presence.base import Tracker

log = structlog.get_logger(__name__)
METHOD = "accounts.changed"
METHOD_MANY = "accounts.changed_many"


class PeerCaches:
    def __init__(self, router: Router, tracker: Tracker, cache: AccountCache, timeout: float = 1.0) -> None:
        self._router = router
        self._tracker = tracker
        self._timeout = timeout
        self._cache = cache
        router.register(METHOD, self._changed_here)
        router.register(METHOD_MANY, self._many_changed_here)

    async def _changed_here(self, args: dict[str, Any]) -> None:
        self._cache.changed(args["t"], args["u"])

    async def _many_changed_here(self, args: dict[str, Any]) -> None:
        for title_id, user_id in args["k"]:
            self._cache.changed(title_id, user_id)

    async def changed(self, title_id: str, user_id: str) -> None:
        """Drop the account from every peer's cache; return once each answered (or timed out)."""
        await self._tell(METHOD, {"t": title_id, "u": user_id})

    async def changed_many(self, keys: list[tuple[str, str]]) -> None:
        """Drop these accounts (title id, user id) from every peer's cache, in one message each."""
        await self._tell(METHOD_MANY, {"k": [list(k) for k in keys]})

    async def _tell(self, method: str, args: dict[str, Any]) -> None:
        peers = self._tracker.peers
        if not peers:
            return
        results = await asyncio.gather(
            *(self._router.call(peer, method, args, timeout=self._timeout) for peer in peers),
            return_exceptions=True,
        )
        for peer, result in zip(peers, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("a peer did not confirm an account change", peer=peer, error=str(result))
