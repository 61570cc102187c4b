"""SQL for session revocations: revoked token ids (`revoked_tokens`) and per-user cut-offs
(`session_cutoffs`), each kept until the tokens it refuses would have expired anyway."""

from __future__ import annotations

from overworld.db import Database


class RevocationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def revoke_token(
        self, title_id: str, token_id: str, user_id: str, kind: int, expires_at: int
    ) -> bool:
        """Record a revoked token; False if it was already recorded."""
        inserted = await self._db.execute(
            "INSERT INTO revoked_tokens (title_id, token_id, user_id, kind, expires_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            title_id,
            token_id,
            user_id,
            kind,
            expires_at,
        )
        return inserted == 1

    async def set_cutoff(self, title_id: str, user_id: str, not_before: int, expires_at: int) -> None:
        """Refuse the user's tokens issued before `not_before` (microseconds) until `expires_at`."""
        await self._db.execute(
            "INSERT INTO session_cutoffs (title_id, user_id, not_before, expires_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (title_id, user_id) DO UPDATE SET not_before = excluded.not_before,"
            " expires_at = excluded.expires_at",
            title_id,
            user_id,
            not_before,
            expires_at,
        )

    async def revoked_tokens(self, kind: int, now: int) -> dict[tuple[str, str], int]:
        """The revoked tokens of a kind not expired at `now`: (title id, token id) -> expiry."""
        rows = await self._db.fetch(
            "SELECT title_id, token_id, expires_at FROM revoked_tokens WHERE kind = $1 AND expires_at > $2",
            kind,
            now,
        )
        return {(r["title_id"], r["token_id"]): r["expires_at"] for r in rows}

    async def cutoffs(self, now: int) -> dict[tuple[str, str], int]:
        """The cut-offs not expired at `now`: (title id, user id) -> not_before."""
        rows = await self._db.fetch(
            "SELECT title_id, user_id, not_before FROM session_cutoffs WHERE expires_at > $1", now
        )
        return {(r["title_id"], r["user_id"]): r["not_before"] for r in rows}

    async def prune(self, now: int) -> None:
        """Forget the entries expired at `now`."""
        await self._db.execute("DELETE FROM revoked_tokens WHERE expires_at <= $1", now)
        await self._db.execute("DELETE FROM session_cutoffs WHERE expires_at <= $1", now)
