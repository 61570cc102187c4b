"""The SQL of leaderboards, records and resets, for both backends.

Writes apply the operator inside one INSERT ... ON CONFLICT DO UPDATE, so concurrent writes by one
owner are serialised by the row and none is lost; a write that changes nothing (a score that is
not better, an increment that would overflow) updates no row and returns nothing, and the caller
reads the record as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from overworld.db import Database, Row, SqlDialect, Tx
from overworld.db.database import Executor
from overworld.leaderboards.models import (
    BEST,
    DECREMENT,
    INCREMENT,
    INT64_MAX,
    SET,
    Leaderboard,
    Period,
    Record,
)

BOARD_COLUMNS = (
    "id, tournament, authoritative, sort_order, operator, reset_schedule, metadata, create_time,"
    " title, description, category, start_time, end_time, duration, max_size, max_num_score,"
    " join_required, size"
)
RECORD_COLUMNS = (
    "owner_id, username, score, subscore, num_score, max_num_score, metadata, create_time, update_time,"
    " expiry_time"
)
_PERIOD = "title_id = $1 AND leaderboard_id = $2 AND expiry_time = $3"
_REBUILD_PAGE = 50_000


def board_of(title_id: str, row: Row) -> Leaderboard:
    return Leaderboard(
        title_id=title_id,
        id=row["id"],
        tournament=bool(row["tournament"]),
        authoritative=bool(row["authoritative"]),
        sort_order=row["sort_order"],
        operator=row["operator"],
        reset_schedule=row["reset_schedule"],
        metadata=row["metadata"],
        create_time=row["create_time"],
        title=row["title"],
        description=row["description"],
        category=row["category"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        duration=row["duration"],
        max_size=row["max_size"],
        max_num_score=row["max_num_score"],
        join_required=bool(row["join_required"]),
        size=row["size"],
    )


def record_of(board_id: str, row: Row, rank: int = 0) -> Record:
    return Record(
        leaderboard_id=board_id,
        owner_id=row[0],
        username=row[1],
        score=row[2],
        subscore=row[3],
        num_score=row[4],
        max_num_score=row[5],
        metadata=row[6],
        create_time=row[7],
        update_time=row[8],
        expiry_time=row[9],
        rank=rank,
    )


def order_by(descending: bool) -> str:
    d = " DESC" if descending else ""
    return f" ORDER BY score{d}, subscore{d}, owner_id{d}"


def operator_sql(sql: SqlDialect, operator: int, descending: bool, always: bool) -> tuple[str, str]:
    """SET clause for score/subscore and the WHERE that keeps a write from changing anything when
    it should not (`always`: tournaments count every submission, so no such WHERE).

    Parameters: $6/$7 the values inserted for a new record, $11/$12 the submitted score and
    subscore (the delta of an increment or decrement).
    """
    greatest, least = sql.greatest, sql.least
    old = "leaderboard_records"
    d_s, d_ss = "CAST($11 AS BIGINT)", "CAST($12 AS BIGINT)"
    if operator == INCREMENT:
        assign = f"score = {old}.score + {d_s}, subscore = {old}.subscore + {d_ss}"
        where = f"({d_s} <> 0 OR {d_ss} <> 0)"
        # Never past INT64_MAX: an overflowing increment changes nothing and is reported.
        where += f" AND {old}.score <= {INT64_MAX} - {d_s} AND {old}.subscore <= {INT64_MAX} - {d_ss}"
        if always:
            where = f"{old}.score <= {INT64_MAX} - {d_s} AND {old}.subscore <= {INT64_MAX} - {d_ss}"
    elif operator == DECREMENT:
        assign = (
            f"score = {greatest}({old}.score - {d_s}, 0), subscore = {greatest}({old}.subscore - {d_ss}, 0)"
        )
        where = f"({d_s} <> 0 OR {d_ss} <> 0)"
    elif operator == SET:
        assign = "score = excluded.score, subscore = excluded.subscore"
        where = f"({old}.score <> excluded.score OR {old}.subscore <> excluded.subscore)"
    else:  # BEST, per field as Nakama does it
        pick, better = (least, ">") if not descending else (greatest, "<")
        assign = (
            f"score = {pick}({old}.score, excluded.score),"
            f" subscore = {pick}({old}.subscore, excluded.subscore)"
        )
        where = f"({old}.score {better} excluded.score OR {old}.subscore {better} excluded.subscore)"
    if always and operator != INCREMENT:
        where = ""
    return assign, where


def insert_values(operator: int, score: int, subscore: int) -> tuple[int, int]:
    """What a first record holds: a decrement starts at 0, as in Nakama."""
    return (0, 0) if operator == DECREMENT else (score, subscore)


# A player's own writes are stored only while the owner's account exists, its row held by the
# statement (FOR KEY SHARE on PostgreSQL): an account deletion waits for the write (and removes
# what it stored), or came first and nothing is written, even on a node still honouring the token.
_HELD_OWNERS = (
    " WHERE o IN (SELECT id FROM users WHERE title_id = $1::varchar AND id = ANY($4::text[]) FOR KEY SHARE)"
)
_HELD_OWNER = (
    " WHERE EXISTS (SELECT 1 FROM users WHERE title_id = CAST($1 AS VARCHAR) AND id = CAST($4 AS VARCHAR)"
    "{share})"
)

BATCHED = (BEST, SET, INCREMENT)  # operators whose new values are all in the inserted row


@dataclass(slots=True)
class _Write:
    owner_id: str
    username: str | None
    score: int
    subscore: int
    metadata: str | None
    now: int
    max_num_score: int
    hold: bool
    done: asyncio.Future[tuple[Row | None, bool]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class WriteBatcher:
    """PostgreSQL: the record writes to one board period that arrive in the same turn of the
    event loop go to the database as one multi-row upsert (one round trip, one commit) instead of
    one each. The statement is the single write's, with the submitted values taken from the
    proposed row (`excluded`), so each row is applied exactly as alone. An upsert cannot touch one
    row twice, so a second write by the same owner in a batch goes in a following statement, in
    arrival order: concurrent writes by one owner are serialised as before and none is lost.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: dict[tuple[Any, ...], list[_Write]] = {}
        self._sql: dict[tuple[int, bool, bool, bool], str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.statements = 0

    async def write(self, b: Leaderboard, expiry: int, operator: int, w: _Write) -> tuple[Row | None, bool]:
        """(the record after the write, whether the write changed it)."""
        key = (b.title_id, b.id, expiry, operator, b.descending, w.metadata is not None, w.hold)
        queue = self._pending.get(key)
        if queue is None:
            queue = self._pending[key] = []
            asyncio.get_running_loop().call_soon(self._start, key)
        queue.append(w)
        return await asyncio.shield(w.done)

    def _start(self, key: tuple[Any, ...]) -> None:
        writes = self._pending.pop(key)
        task = asyncio.get_running_loop().create_task(self._flush(key, writes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def sql(self, operator: int, descending: bool, with_metadata: bool, hold: bool) -> str:
        key = (operator, descending, with_metadata, hold)
        text = self._sql.get(key)
        if text is None:
            assign, where = operator_sql(self.db.sql, operator, descending, False)
            assign = assign.replace("CAST($11 AS BIGINT)", "excluded.score")  # increments: the
            assign = assign.replace("CAST($12 AS BIGINT)", "excluded.subscore")  # row holds the delta
            where = where.replace("CAST($11 AS BIGINT)", "excluded.score")
            where = where.replace("CAST($12 AS BIGINT)", "excluded.subscore")
            metadata = "excluded.metadata" if with_metadata else "leaderboard_records.metadata"
            # The records the upsert left alone (not better...) come back too, flagged, so that
            # their writers need no second round trip to read them.
            text = self._sql[key] = (
                "WITH up AS (INSERT INTO leaderboard_records (title_id, leaderboard_id, expiry_time,"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                " owner_id, username, score, subscore, num_score, max_num_score, metadata, create_time,"
                " update_time)"
                " SELECT $1, $2, $3, o, u, s, ss, 1, m, md, n, n FROM unnest($4::text[], $5::text[],"
                " $6::bigint[], $7::bigint[], $8::int[], $9::text[], $10::bigint[])"
                " AS x(o, u, s, ss, m, md, n)"
                f"{_HELD_OWNERS if hold else ''}"
                " ON CONFLICT (title_id, leaderboard_id, expiry_time, owner_id) DO UPDATE SET "
                f"{assign}, num_score = leaderboard_records.num_score + 1, metadata = {metadata},"
                " username = COALESCE(excluded.username, leaderboard_records.username),"
                " update_time = excluded.update_time"
                f" WHERE {where} RETURNING {RECORD_COLUMNS})"
                f" SELECT {RECORD_COLUMNS}, true FROM up UNION ALL SELECT {RECORD_COLUMNS}, false"
                f" FROM leaderboard_records WHERE {_PERIOD} AND owner_id = ANY($4::text[])"
                " AND owner_id NOT IN (SELECT owner_id FROM up)"
            )
        return text

    async def _flush(self, key: tuple[Any, ...], writes: list[_Write]) -> None:
        title_id, board_id, expiry, operator, descending, with_metadata, hold = key
        sql = self.sql(operator, descending, with_metadata, hold)
        while writes:
            batch: dict[str, _Write] = {}
            later: list[_Write] = []
            for w in writes:
                if w.owner_id in batch:
                    later.append(w)
                else:
                    batch[w.owner_id] = w
            writes = later
            rows = list(batch.values())
            try:
                found = await self.db.fetch(
                    sql, title_id, board_id, expiry,
                    [w.owner_id for w in rows], [w.username for w in rows], [w.score for w in rows],
                    [w.subscore for w in rows], [w.max_num_score for w in rows],
                    [w.metadata or "{}" for w in rows], [w.now for w in rows],
                )  # fmt: skip
                self.statements += 1
            except Exception as exc:
                for w in [*rows, *writes]:
                    if not w.done.done():
                        w.done.set_exception(exc)
                return
            by_owner = {r[0]: r for r in found}
            unseen = [w.owner_id for w in rows if w.owner_id not in by_owner]
            if unseen:
                # Left alone by the upsert because another statement (another batch or node)
                # inserted the row after this statement's snapshot: read it now.
                try:
                    again = await self.db.fetch(
                        f"SELECT {RECORD_COLUMNS}, false FROM leaderboard_records"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                        f" WHERE {_PERIOD} AND owner_id = ANY($4::text[])",
                        title_id, board_id, expiry, unseen,
                    )  # fmt: skip
                except Exception as exc:
                    again = []
                    for w in rows:
                        if w.owner_id in unseen and not w.done.done():
                            w.done.set_exception(exc)
                by_owner.update((r[0], r) for r in again)
            for w in rows:
                if not w.done.done():
                    r = by_owner.get(w.owner_id)
                    w.done.set_result((r, r is not None and r[10]))


class LeaderboardStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._write_sql: dict[tuple[int, bool, bool, bool], str] = {}
        self.batcher = WriteBatcher(db) if db.sql.batch_writes else None

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction for several of the writes below that take one (`tx`)."""
        return self.db.transaction()

    # -- boards -----------------------------------------------------------------------------------

    async def all_boards(self) -> list[Leaderboard]:
        rows = await self.db.fetch(f"SELECT title_id, {BOARD_COLUMNS} FROM leaderboards")  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
        return [board_of(r["title_id"], r) for r in rows]

    async def board(self, title_id: str, board_id: str) -> Leaderboard | None:
        row = await self.db.fetchrow(
            f"SELECT {BOARD_COLUMNS} FROM leaderboards WHERE title_id = $1 AND id = $2",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            board_id,
        )
        return None if row is None else board_of(title_id, row)

    async def insert_board(self, b: Leaderboard) -> bool:
        """Insert unless a board of that id exists; True if inserted."""
        created = await self.db.execute(
            f"INSERT INTO leaderboards (title_id, {BOARD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT DO NOTHING",
            b.title_id, b.id, b.tournament, b.authoritative, b.sort_order, b.operator, b.reset_schedule,
            b.metadata, b.create_time, b.title, b.description, b.category, b.start_time, b.end_time,
            b.duration, b.max_size, b.max_num_score, b.join_required, b.size,
        )  # fmt: skip
        return created > 0

    async def size(self, title_id: str, board_id: str) -> int:
        """How many owners a board with a max size counts in its current period (tournaments)."""
        value = await self.db.fetchval(
            "SELECT size FROM leaderboards WHERE title_id = $1 AND id = $2", title_id, board_id
        )
        return int(value or 0)

    async def grow(self, tx: Tx, title_id: str, board_id: str) -> bool:
        """Count one more owner in the board's size, unless it is at its max size (then False)."""
        grown = await tx.execute(
            "UPDATE leaderboards SET size = size + 1 WHERE title_id = $1 AND id = $2 AND size < max_size",
            title_id,
            board_id,
        )
        return grown > 0

    async def reset_size(self, title_id: str, board_id: str) -> None:
        await self.db.execute(
            "UPDATE leaderboards SET size = 0 WHERE title_id = $1 AND id = $2", title_id, board_id
        )

    async def delete_board(self, title_id: str, board_id: str) -> bool:
        async with self.db.transaction() as tx:
            for table in ("leaderboard_records", "leaderboard_resets"):
                await tx.execute(
                    f"DELETE FROM {table} WHERE title_id = $1 AND leaderboard_id = $2",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                    title_id,
                    board_id,
                )
            removed = await tx.execute(
                "DELETE FROM leaderboards WHERE title_id = $1 AND id = $2", title_id, board_id
            )
        return removed > 0

    # -- records ----------------------------------------------------------------------------------

    def write_sql(self, operator: int, descending: bool, always: bool, hold: bool = False) -> str:
        key = (operator, descending, always, hold)
        sql = self._write_sql.get(key)
        if sql is None:
            assign, where = operator_sql(self.db.sql, operator, descending, always)
            values = " VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, COALESCE($9, '{}'), $10, $10)"
            if hold:
                values = (
                    " SELECT $1, $2, CAST($3 AS BIGINT), $4, $5, CAST($6 AS BIGINT), CAST($7 AS BIGINT), 1,"
                    " CAST($8 AS INTEGER), COALESCE($9, '{}'), CAST($10 AS BIGINT), CAST($10 AS BIGINT)"
                    + _HELD_OWNER.format(share=self.db.sql.share_rows)
                )
            sql = self._write_sql[key] = (
                "INSERT INTO leaderboard_records (title_id, leaderboard_id, expiry_time, owner_id, username,"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                " score, subscore, num_score, max_num_score, metadata, create_time, update_time)"
                f"{values}"
                " ON CONFLICT (title_id, leaderboard_id, expiry_time, owner_id) DO UPDATE SET "
                f"{assign}, num_score = leaderboard_records.num_score + 1,"
                " metadata = COALESCE($9, leaderboard_records.metadata),"
                " username = COALESCE($5, leaderboard_records.username), update_time = $10"
                f"{' WHERE ' + where if where else ''} RETURNING {RECORD_COLUMNS}"
            )
        return sql

    async def write_or_read(
        self,
        b: Leaderboard,
        expiry: int,
        owner_id: str,
        username: str | None,
        score: int,
        subscore: int,
        metadata: str | None,
        operator: int,
        now: int,
        max_num_score: int,
        hold: bool = False,
    ) -> tuple[Row | None, bool]:
        """Write a record (batched on PostgreSQL); returns the record afterwards and whether the
        write changed it (None: the record is gone, or with `hold` the owner's account is)."""
        if self.batcher is not None and operator in BATCHED:
            w = _Write(owner_id, username, score, subscore, metadata, now, max_num_score, hold)
            return await self.batcher.write(b, expiry, operator, w)
        row = await self.write(
            self.db, b, expiry, owner_id, username, score, subscore, metadata, operator, now, max_num_score,
            hold=hold,
        )  # fmt: skip
        if row is not None:
            return row, True
        return await self.record(self.db, b.title_id, b.id, expiry, owner_id), False

    async def write(
        self,
        ex: Executor,
        b: Leaderboard,
        expiry: int,
        owner_id: str,
        username: str | None,
        score: int,
        subscore: int,
        metadata: str | None,
        operator: int,
        now: int,
        max_num_score: int,
        always: bool = False,
        hold: bool = False,
    ) -> Row | None:
        first_score, first_subscore = insert_values(operator, score, subscore)
        args = [b.title_id, b.id, expiry, owner_id, username, first_score, first_subscore, max_num_score,
                metadata, now]  # fmt: skip
        if operator in (INCREMENT, DECREMENT):  # the deltas ($11, $12) appear only in these
            args += [score, subscore]
        return await ex.fetchrow(self.write_sql(operator, b.descending, always, hold), *args)

    async def owner_exists(self, title_id: str, owner_id: str) -> bool:
        """Whether the owner is a user account of the title."""
        found = await self.db.fetchval(
            "SELECT 1 FROM users WHERE title_id = $1 AND id = $2", title_id, owner_id
        )
        return found is not None

    async def record(
        self, ex: Executor, title_id: str, board_id: str, expiry: int, owner_id: str
    ) -> Row | None:
        return await ex.fetchrow(
            f"SELECT {RECORD_COLUMNS} FROM leaderboard_records WHERE {_PERIOD} AND owner_id = $4",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id, board_id, expiry, owner_id,
        )  # fmt: skip

    async def join(
        self, tx: Tx, b: Leaderboard, expiry: int, owner_id: str, username: str | None, now: int
    ) -> bool:
        """Insert the owner's empty record of the period (a tournament's join, with no score yet:
        `num_score` 0) unless it has one; True if inserted."""
        joined = await tx.execute(
            "INSERT INTO leaderboard_records (title_id, leaderboard_id, expiry_time, owner_id,"
            " username, score, subscore, num_score, max_num_score, metadata, create_time,"
            " update_time)"
            " VALUES ($1, $2, $3, $4, $5, 0, 0, 0, $6, '{}', $7, $7) ON CONFLICT DO NOTHING",
            b.title_id, b.id, expiry, owner_id, username, b.max_num_score, now,
        )  # fmt: skip
        return joined > 0

    async def add_attempts(
        self, title_id: str, board_id: str, expiry: int, owner_id: str, count: int
    ) -> None:
        """Raise (or lower) the owner's `max_num_score` in the period by `count`."""
        await self.db.execute(
            "UPDATE leaderboard_records SET max_num_score = max_num_score + $1 WHERE title_id = $2"
            " AND leaderboard_id = $3 AND expiry_time = $4 AND owner_id = $5",
            count, title_id, board_id, expiry, owner_id,
        )  # fmt: skip

    async def changed_since(self, title_id: str, board_id: str, expiry: int, since: int) -> list[Row]:
        """(owner_id, username, score, subscore, num_score) of the period's records updated at or
        after `since`."""
        return await self.db.fetch(
            "SELECT owner_id, username, score, subscore, num_score FROM leaderboard_records"
            " WHERE title_id = $1 AND leaderboard_id = $2 AND expiry_time = $3 AND update_time >= $4",
            title_id, board_id, expiry, since,
        )  # fmt: skip

    async def delete_record(self, title_id: str, board_id: str, expiry: int, owner_id: str) -> int:
        return await self.db.execute(
            f"DELETE FROM leaderboard_records WHERE {_PERIOD} AND owner_id = $4",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id, board_id, expiry, owner_id,
        )  # fmt: skip

    async def owners(self, title_id: str, board_id: str, expiry: int, owner_ids: Sequence[str]) -> list[Row]:
        if not owner_ids:
            return []
        marks = ", ".join(f"${i}" for i in range(4, 4 + len(owner_ids)))
        return await self.db.fetch(
            f"SELECT {RECORD_COLUMNS} FROM leaderboard_records WHERE {_PERIOD} AND owner_id IN ({marks})",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id, board_id, expiry, *owner_ids,
        )  # fmt: skip

    async def page(
        self,
        title_id: str,
        board_id: str,
        expiry: int,
        descending: bool,
        limit: int,
        after: tuple[int, int, str] | None = None,
        forward: bool = True,
    ) -> list[Row]:
        """Up to `limit` records in rank order from the top, or strictly after (`forward`) or
        before `after` = (score, subscore, owner_id); backward pages come nearest first."""
        direction = descending if forward else not descending
        position = ""
        if after is not None:
            position = f" AND (score, subscore, owner_id) {'<' if direction else '>'} ($5, $6, $7)"
        return await self.db.fetch(
            f"SELECT {RECORD_COLUMNS} FROM leaderboard_records WHERE {_PERIOD}{position}"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            f"{order_by(direction)} LIMIT $4",
            title_id, board_id, expiry, limit, *(after or ()),
        )  # fmt: skip

    async def better_count(
        self,
        title_id: str,
        board_id: str,
        expiry: int,
        descending: bool,
        score: int,
        subscore: int,
        owner: str,
    ) -> int:
        """How many records of a period rank above (score, subscore, owner)."""
        cmp = ">" if descending else "<"
        value = await self.db.fetchval(
            f"SELECT COUNT(*) FROM leaderboard_records WHERE {_PERIOD}"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            f" AND (score, subscore, owner_id) {cmp} ($4, $5, $6)",
            title_id, board_id, expiry, score, subscore, owner,
        )  # fmt: skip
        return int(value)

    async def count(self, title_id: str, board_id: str, expiry: int) -> int:
        return int(
            await self.db.fetchval(
                f"SELECT COUNT(*) FROM leaderboard_records WHERE {_PERIOD}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                title_id,
                board_id,
                expiry,
            )
        )

    async def rank_rows(self, title_id: str, board_id: str, expiry: int) -> AsyncIterator[list[Any]]:
        """Every record of a period as (owner_id, score, subscore, num_score), in pages."""
        after: tuple[int, int, str] | None = None
        while True:
            position = " AND (score, subscore, owner_id) > ($5, $6, $7)" if after else ""
            rows = await self.db.fetch(
                "SELECT owner_id, score, subscore, num_score FROM leaderboard_records"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                f" WHERE {_PERIOD}{position} ORDER BY score, subscore, owner_id LIMIT $4",
                title_id, board_id, expiry, _REBUILD_PAGE, *(after or ()),
            )  # fmt: skip
            if not rows:
                return
            yield rows
            if len(rows) < _REBUILD_PAGE:
                return
            last = rows[-1]
            after = (last[1], last[2], last[0])

    async def delete_owner(self, ex: Executor, title_id: str, owner_id: str) -> list[Row]:
        return await ex.fetch(
            "DELETE FROM leaderboard_records WHERE title_id = $1 AND owner_id = $2"
            " RETURNING leaderboard_id, expiry_time",
            title_id,
            owner_id,
        )

    # -- resets -----------------------------------------------------------------------------------

    async def claim_reset(
        self, title_id: str, board_id: str, expiry: int, kind: str, node: str, now: int
    ) -> bool:
        """Claim the closing of a period (`kind` "reset" or "end"); exactly one caller wins, on
        any node."""
        records = await self.count(title_id, board_id, expiry) if kind == "reset" else 0
        inserted = await self.db.execute(
            "INSERT INTO leaderboard_resets (title_id, leaderboard_id, expiry_time, kind, records, node,"
            " run_time) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            title_id, board_id, expiry, kind, records, node, now,
        )  # fmt: skip
        return inserted > 0

    async def claimed(self, title_id: str, board_id: str, expiry: int, kind: str) -> bool:
        value = await self.db.fetchval(
            "SELECT 1 FROM leaderboard_resets WHERE title_id = $1 AND leaderboard_id = $2"
            " AND expiry_time = $3 AND kind = $4",
            title_id, board_id, expiry, kind,
        )  # fmt: skip
        return bool(value)

    async def periods(self, title_id: str, board_id: str, limit: int, before: int) -> list[Period]:
        rows = await self.db.fetch(
            "SELECT expiry_time, records, run_time FROM leaderboard_resets WHERE title_id = $1"
            " AND leaderboard_id = $2 AND kind = 'reset' AND expiry_time < $3"
            " ORDER BY expiry_time DESC LIMIT $4",
            title_id, board_id, before, limit,
        )  # fmt: skip
        return [Period(board_id, r["expiry_time"], r["records"], r["run_time"]) for r in rows]

    async def period_records(self, title_id: str, board_id: str, expiry: int) -> int | None:
        value = await self.db.fetchval(
            "SELECT records FROM leaderboard_resets WHERE title_id = $1 AND leaderboard_id = $2"
            " AND expiry_time = $3 AND kind = 'reset'",
            title_id, board_id, expiry,
        )  # fmt: skip
        return None if value is None else int(value)


__all__ = ["BEST", "LeaderboardStore"]
