"""SQL for remote config (`remote_config`), live events (`live_events`) and the account properties
audiences look at. Every statement names the title. JSON fields are stored as text."""

from __future__ import annotations

from typing import Any

import orjson

from overworld.db import Database, Row, Tx
from overworld.live_events.audience import Player
from overworld.live_events.models import ConfigValue, LiveEvent

COLUMNS = (
    "title_id, id, name, description, start_time, end_time, cron, duration, audience, config,"
    " leaderboard_id, metadata, enabled, create_time, update_time"
)
_PLAYERS_PER_QUERY = 500


def event_of(r: Row) -> LiveEvent:
    return LiveEvent(
        title_id=r["title_id"], id=r["id"], name=r["name"], description=r["description"],
        start_time=r["start_time"], end_time=r["end_time"], cron=r["cron"], duration=r["duration"],
        audience=orjson.loads(r["audience"]), config=orjson.loads(r["config"]),
        leaderboard_id=r["leaderboard_id"], metadata=orjson.loads(r["metadata"]),
        enabled=bool(r["enabled"]), create_time=r["create_time"], update_time=r["update_time"],
    )  # fmt: skip


def _params(e: LiveEvent) -> tuple[Any, ...]:
    """The values of `COLUMNS`, in order."""
    return (
        e.title_id, e.id, e.name, e.description, e.start_time, e.end_time, e.cron, e.duration,
        orjson.dumps(e.audience).decode(), orjson.dumps(e.config).decode(), e.leaderboard_id,
        orjson.dumps(e.metadata).decode(), e.enabled, e.create_time, e.update_time,
    )  # fmt: skip


class LiveEventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- remote config ----------------------------------------------------------------------------

    async def config_version(self, tx: Tx, title_id: str, key: str) -> int | None:
        """The key's version, or None if it is not set."""
        value = await tx.fetchval(
            "SELECT version FROM remote_config WHERE title_id = $1 AND key = $2", title_id, key
        )
        return None if value is None else int(value)

    async def insert_config(self, tx: Tx, title_id: str, key: str, value: str, now: int) -> None:
        """A new key at version 1 (`value`: JSON text)."""
        await tx.execute(
            "INSERT INTO remote_config (title_id, key, value, version, update_time)"
            " VALUES ($1, $2, $3, 1, $4)",
            title_id, key, value, now,
        )  # fmt: skip

    async def update_config(
        self, tx: Tx, title_id: str, key: str, value: str, version: int, now: int, expected: int
    ) -> bool:
        """Set the key's value and version if it is at version `expected`; False if it is not."""
        changed = await tx.execute(
            "UPDATE remote_config SET value = $3, version = $4, update_time = $5"
            " WHERE title_id = $1 AND key = $2 AND version = $6",
            title_id, key, value, version, now, expected,
        )  # fmt: skip
        return changed == 1

    async def config(self, title_id: str) -> list[ConfigValue]:
        """Every base value of the title, by key."""
        rows = await self._db.fetch(
            "SELECT key, value, version, update_time FROM remote_config WHERE title_id = $1 ORDER BY key",
            title_id,
        )
        return [ConfigValue(r["key"], orjson.loads(r["value"]), r["version"], r["update_time"]) for r in rows]

    async def delete_config(self, title_id: str, key: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM remote_config WHERE title_id = $1 AND key = $2", title_id, key
        )
        return changed > 0

    # -- live events ------------------------------------------------------------------------------

    async def get(self, title_id: str, event_id: str) -> LiveEvent | None:
        r = await self._db.fetchrow(
            f"SELECT {COLUMNS} FROM live_events WHERE title_id = $1 AND id = $2",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            event_id,
        )
        return event_of(r) if r is not None else None

    async def events(self, title_id: str) -> list[LiveEvent]:
        """Every event of the title, by start time then id."""
        rows = await self._db.fetch(
            f"SELECT {COLUMNS} FROM live_events WHERE title_id = $1 ORDER BY start_time, id",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
        )
        return [event_of(r) for r in rows]

    async def events_not_over(self, title_id: str, now: int) -> list[LiveEvent]:
        """The title's events without an end time or ending after `now`."""
        rows = await self._db.fetch(
            f"SELECT {COLUMNS} FROM live_events WHERE title_id = $1 AND (end_time = 0 OR end_time > $2)",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id, now,
        )  # fmt: skip
        return [event_of(r) for r in rows]

    async def count(self, title_id: str) -> int:
        return int(await self._db.fetchval("SELECT COUNT(*) FROM live_events WHERE title_id = $1", title_id))

    async def insert(self, event: LiveEvent) -> None:
        await self._db.execute(
            f"INSERT INTO live_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " $11, $12, $13, $14, $15)",
            *_params(event),
        )

    async def update(self, event: LiveEvent, expected_update_time: int) -> bool:
        """Write every field of the event if its row is still at `expected_update_time`; False if
        it is not (changed by someone else, or deleted)."""
        written = await self._db.execute(
            "UPDATE live_events SET name = $3, description = $4, start_time = $5, end_time = $6,"
            " cron = $7, duration = $8, audience = $9, config = $10, leaderboard_id = $11,"
            " metadata = $12, enabled = $13, create_time = $14, update_time = $15"
            " WHERE title_id = $1 AND id = $2 AND update_time = $16",
            *_params(event), expected_update_time,
        )  # fmt: skip
        return written != 0

    async def delete(self, title_id: str, event_id: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM live_events WHERE title_id = $1 AND id = $2", title_id, event_id
        )
        return changed > 0

    # -- audiences --------------------------------------------------------------------------------

    async def players(self, title_id: str, user_ids: list[str]) -> list[Player]:
        """The account properties of the users that exist (metadata that is not a JSON object
        reads as empty)."""
        found: list[Player] = []
        for i in range(0, len(user_ids), _PLAYERS_PER_QUERY):
            chunk = user_ids[i : i + _PLAYERS_PER_QUERY]
            marks = ", ".join(f"${n + 2}" for n in range(len(chunk)))
            rows = await self._db.fetch(
                "SELECT id, lang_tag, location, metadata, create_time FROM users"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                f" WHERE title_id = $1 AND id IN ({marks})",
                title_id, *chunk,
            )  # fmt: skip
            for r in rows:
                try:
                    metadata = orjson.loads(r["metadata"] or "{}")
                except orjson.JSONDecodeError:
                    metadata = {}
                found.append(
                    Player(r["id"], r["lang_tag"] or "", r["location"] or "", r["create_time"],
                           metadata if isinstance(metadata, dict) else {})
                )  # fmt: skip
        return found
