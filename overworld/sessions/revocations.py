"""Which tokens no longer work before their expiry.

Two kinds of entry, both kept in the database (the source of truth) and mirrored in memory on
every node so the check on each request costs a dict lookup:
- a revoked session token id (logout), until the token would have expired anyway;
- a per-user cut-off: every token issued before it is refused (account deleted, logout
  everywhere).
A revocation is published on the pub/sub bus so other nodes apply it at once; on a lost
bus connection, and every `resync_sec`, nodes reload the lists from the database.
Revoked refresh tokens are only checked in the database, at refresh time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import orjson
import structlog

from overworld.clock import now_ms
from overworld.db import Database
from overworld.sessions.store import RevocationStore
from overworld.subsystems.pubsub import PubSub

log = structlog.get_logger(__name__)
TOPIC = "sessions.revoked"
RevocationListener = Callable[[str, str, str, int], None]
SESSION, REFRESH = 0, 1


class Revocations:
    def __init__(self, db: Database, pubsub: PubSub, resync_sec: float = 30.0) -> None:
        self._store = RevocationStore(db)
        self._pubsub = pubsub
        self._tokens: dict[tuple[str, str], int] = {}  # (title, token id) -> expires_at ms
        self._cutoffs: dict[tuple[str, str], int] = {}  # (title, user id) -> not_before, microseconds
        self._resync_sec = resync_sec
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[RevocationListener] = []

    def on_revoke(self, listener: RevocationListener) -> None:
        """Call `listener(title_id, user_id, token_id, not_before_us)` for each session revocation
        made on any node: a single token (`token_id` set) or all the user's tokens issued before
        `not_before_us`. Open sockets of those sessions are closed with it."""
        self._listeners.append(listener)

    def _notify(self, title_id: str, user_id: str, token_id: str, not_before_us: int) -> None:
        for listener in self._listeners:
            try:
                listener(title_id, user_id, token_id, not_before_us)
            except Exception:
                log.exception("revocation listener failed")

    async def start(self) -> None:
        self._pubsub.subscribe(TOPIC, self._on_message)
        self._pubsub.on_reconnect(self.reload)
        await self.reload()
        self._task = asyncio.create_task(self._resync_loop(), name="revocations-resync")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def is_revoked(self, title_id: str, token_id: str, user_id: str, issued_at_us: int) -> bool:
        if (title_id, token_id) in self._tokens:
            return True
        cutoff = self._cutoffs.get((title_id, user_id))
        return cutoff is not None and issued_at_us < cutoff

    async def revoke_token(
        self, title_id: str, token_id: str, user_id: str, expires_at_ms: int, kind: int
    ) -> bool:
        """Record the revocation; False if that token was already revoked."""
        inserted = await self._store.revoke_token(title_id, token_id, user_id, kind, expires_at_ms)
        if kind == SESSION:
            self._tokens[(title_id, token_id)] = expires_at_ms
            self._notify(title_id, user_id, token_id, 0)
            await self._publish({"t": title_id, "k": token_id, "e": expires_at_ms, "u": user_id})
        return inserted

    async def revoke_user(self, title_id: str, user_id: str, lifetime_ms: int) -> None:
        """Refuse every token of the user issued until now."""
        now = now_ms()
        not_before = time.time_ns() // 1_000 + 1  # microseconds, like the tokens' "ius" claim
        expires = now + lifetime_ms
        await self._store.set_cutoff(title_id, user_id, not_before, expires)
        self._cutoffs[(title_id, user_id)] = not_before
        self._notify(title_id, user_id, "", not_before)
        await self._publish({"t": title_id, "u": user_id, "n": not_before})

    async def _publish(self, message: dict[str, object]) -> None:
        try:
            await self._pubsub.publish(TOPIC, orjson.dumps(message))
        except Exception as exc:  # the database row still reaches other nodes at their next resync
            log.warning("could not publish revocation", error=str(exc))

    def _on_message(self, payload: bytes) -> None:
        msg = orjson.loads(payload)
        if "k" in msg:
            self._tokens[(msg["t"], msg["k"])] = int(msg["e"])
            self._notify(msg["t"], msg.get("u", ""), msg["k"], 0)
        elif "u" in msg:
            key = (msg["t"], msg["u"])
            self._cutoffs[key] = max(self._cutoffs.get(key, 0), int(msg["n"]))
            self._notify(msg["t"], msg["u"], "", int(msg["n"]))

    async def reload(self) -> None:
        now = now_ms()
        tokens = await self._store.revoked_tokens(SESSION, now)
        cutoffs = await self._store.cutoffs(now)
        self._tokens = tokens
        self._cutoffs = cutoffs

    async def prune(self) -> None:
        await self._store.prune(now_ms())

    async def _resync_loop(self) -> None:
        last_prune = time.monotonic()
        while True:
            await asyncio.sleep(self._resync_sec)
            try:
                if time.monotonic() - last_prune > 600:
                    await self.prune()
                    last_prune = time.monotonic()
                await self.reload()
            except Exception as exc:
                log.warning("revocation resync failed", error=str(exc))
