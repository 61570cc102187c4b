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


class PeerCaches:
    def __init__(self, router: Router, tracker: Tracker, cache: AccountCache, timeout: float = 1.0) -> None:
        self._router = router
        self._tracker = tracker
        self._timeout = timeout
        self._cache = cache
        router.register(METHOD, self._changed_here)

    async def _changed_here(self, args: dict[str, Any]) -> None:
        self._cache.changed(args["t"], args["u"])

    async def changed(self, title_id: str, user_id: str) -> None:
        """Drop the account from every peer's cache; return once each answered (or timed out)."""
        peers = self._tracker.peers
        if not peers:
            return
        args = {"t": title_id, "u": user_id}
        results = await asyncio.gather(
            *(self._router.call(peer, METHOD, args, timeout=self._timeout) for peer in peers),
            return_exceptions=True,
        )
        for peer, result in zip(peers, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("a peer did not confirm an account change", peer=peer, error=str(result))
