"""Leaderboard and tournament functions of server code (`nk.leaderboard_*`, `nk.tournament_*`),
mixed into `overworld.runtime.ServerApi`, and the registration of reset and end hooks.

They act for the `ServerApi`'s title, without permission checks (server code may write to
authoritative boards and for any owner). Scores, times and ids follow Nakama's runtime functions:
times in Unix seconds, `sort_order` "asc"/"desc", `operator` "best"/"set"/"incr"/"decr".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from overworld.errors import InvalidArgument
from overworld.leaderboards.models import (
    LEADERBOARD_MAX_NUM_SCORE,
    OPERATORS,
    SORT_ORDERS,
    Leaderboard,
    Period,
    Record,
    RecordList,
)
from overworld.leaderboards.schedule import INVALID_SCHEDULE, is_valid
from overworld.leaderboards.service import LeaderboardService, ResetHook, check_owner

if TYPE_CHECKING:
    from overworld.leaderboards.tournaments import TournamentService, TournamentView
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title

HOOK_KINDS = ("leaderboard_reset", "tournament_reset", "tournament_end")
MAX_STANDINGS = 10_000


def register_hook(runtime: Runtime, title: Title, kind: str, fn: Any, module: str, top: int) -> None:
    """Called by `Initializer.register_leaderboard_reset` and the tournament ones: one function
    per title and kind (registering again replaces it, as in Nakama)."""
    if not callable(fn):
        raise TypeError(f"{kind} hook: expected a function, got {type(fn).__name__}")
    if not isinstance(top, int) or not 0 <= top <= MAX_STANDINGS:
        raise ValueError(f"top must be 0-{MAX_STANDINGS}, got {top!r}")
    runtime.services.leaderboards.reset_hooks[(title.id, kind)] = ResetHook(fn, module, top)


def _metadata(value: Mapping[str, Any] | str | None, default: str | None) -> str | None:
    if value is None:
        return default
    if isinstance(value, str):
        return value
    return orjson.dumps(dict(value)).decode()


def _sort_order(value: str) -> int:
    try:
        return SORT_ORDERS[value]
    except (KeyError, TypeError):
        raise InvalidArgument("expects sort order to be 'asc' or 'desc'") from None


def _operator(value: str) -> int:
    try:
        return OPERATORS[value]
    except (KeyError, TypeError):
        raise InvalidArgument("expects operator to be 'best', 'set', 'incr' or 'decr'") from None


def _schedule(value: str | None) -> str:
    if not value:
        return ""
    if not is_valid(value):
        raise InvalidArgument(INVALID_SCHEDULE)
    return value


def _expiry(value: int) -> int:
    if not isinstance(value, int) or value < 0:
        raise InvalidArgument("expects expiry to equal or greater than 0")
    return value


def _owner(value: str) -> str:
    return check_owner(value, "expects owner ID to be a valid identifier")


class LeaderboardFunctions:
    """The `nk.leaderboard_*` and `nk.tournament_*` functions (coroutines)."""

    _runtime: Runtime
    _title: Title

    @property
    def _lb(self) -> LeaderboardService:
        return self._runtime.services.leaderboards

    @property
    def _tournaments(self) -> TournamentService:
        return self._runtime.services.tournaments

    # -- leaderboards -------------------------------------------------------------------------------

    async def leaderboard_create(
        self,
        id: str,
        authoritative: bool = False,
        sort_order: str = "desc",
        operator: str = "best",
        reset_schedule: str | None = None,
        metadata: Mapping[str, Any] | str | None = None,
    ) -> bool:
        """Create a leaderboard; if one of that id exists, nothing changes (as Nakama). Returns
        whether it was created. `reset_schedule`: cron (UTC) of its resets, None for never."""
        if not id:
            raise InvalidArgument("expects a leaderboard ID string")
        board = Leaderboard(
            title_id=self._title.id,
            id=id,
            authoritative=bool(authoritative),
            sort_order=_sort_order(sort_order),
            operator=_operator(operator),
            reset_schedule=_schedule(reset_schedule),
            metadata=_metadata(metadata, "{}") or "{}",
        )
        existing = await self._lb.board(self._title.id, id)
        if existing is not None and existing.tournament:
            raise InvalidArgument("cannot create leaderboard as a tournament of that ID exists")
        _, created = await self._lb.create(board)
        return created

    async def leaderboard_delete(self, id: str) -> None:
        """Delete a leaderboard with all its records, current and archived."""
        b = await self._lb.board(self._title.id, id)
        if b is not None and not b.tournament:
            await self._lb.delete(self._title.id, id)

    async def leaderboards_get(self, ids: Sequence[str]) -> list[Leaderboard]:
        found = [await self._lb.board(self._title.id, i) for i in ids]
        return [b for b in found if b is not None and not b.tournament]

    async def leaderboard_record_write(
        self,
        id: str,
        owner_id: str,
        username: str = "",
        score: int = 0,
        subscore: int = 0,
        metadata: Mapping[str, Any] | str | None = None,
        operator: int | None = None,
    ) -> Record:
        """Submit a score for any owner (also to authoritative boards); `operator` overrides the
        board's (1 best, 2 set, 3 incr, 4 decr). Returns the record with its rank."""
        return await self._lb.write(
            self._title.id, id, None, _owner(owner_id), username or None, score, subscore,
            _metadata(metadata, None), operator or 0,
        )  # fmt: skip

    async def leaderboard_record_delete(self, id: str, owner_id: str) -> None:
        await self._lb.delete_record(self._title.id, id, None, _owner(owner_id))

    async def leaderboard_records_list(
        self,
        id: str,
        owner_ids: Sequence[str] = (),
        limit: int = 10,
        cursor: str = "",
        expiry: int = 0,
    ) -> RecordList:
        """A page (`limit` 0-10,000; 0: only the owners' records) in rank order, the records of
        `owner_ids`, and cursors. `expiry` (Unix seconds) reads a closed period."""
        if not isinstance(limit, int) or not 0 <= limit <= 10_000:
            raise InvalidArgument("expects limit to be 0-10000")
        b = await self._board(id)
        return await self._lb.list_records(b, list(owner_ids), limit or None, cursor, _expiry(expiry))

    async def leaderboard_records_haystack(
        self, id: str, owner_id: str, limit: int = 10, cursor: str = "", expiry: int = 0
    ) -> RecordList:
        """Up to `limit` (1-100) records around `owner_id`'s."""
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidArgument("limit must be 1-100")
        b = await self._board(id)
        return await self._lb.around_owner(b, _owner(owner_id), limit, cursor, _expiry(expiry))

    async def leaderboard_periods(self, id: str, limit: int = 100, before: int = 0) -> list[Period]:
        """The closed periods (seasons) of a board or tournament, newest first."""
        return await self._lb.periods(self._title.id, id, limit, before)

    async def _board(self, id: str) -> Leaderboard:
        from overworld.errors import NotFound
        from overworld.leaderboards.service import NOT_FOUND

        b = await self._lb.board(self._title.id, id) if id else None
        if b is None:
            raise NotFound(NOT_FOUND)
        return b

    # -- tournaments --------------------------------------------------------------------------------

    async def tournament_create(
        self,
        id: str,
        authoritative: bool = False,
        sort_order: str = "desc",
        operator: str = "best",
        reset_schedule: str | None = None,
        metadata: Mapping[str, Any] | str | None = None,
        title: str = "",
        description: str = "",
        category: int = 0,
        start_time: int = 0,
        end_time: int = 0,
        duration: int = 0,
        max_size: int = 0,
        max_num_score: int = LEADERBOARD_MAX_NUM_SCORE,
        join_required: bool = False,
    ) -> bool:
        """Create a tournament (times in Unix seconds; `start_time` 0: now; `end_time` 0: never;
        `duration` seconds each window stays open); nothing changes if it exists."""
        if not id:
            raise InvalidArgument("expects a tournament ID string")
        numbers = {"category": category, "startTime": start_time, "endTime": end_time,
                   "duration": duration, "maxSize": max_size, "maxNumScore": max_num_score}  # fmt: skip
        for name, value in numbers.items():
            if not isinstance(value, int):
                raise InvalidArgument(f"{name} must be an integer")
        t = Leaderboard(
            title_id=self._title.id,
            id=id,
            tournament=True,
            authoritative=bool(authoritative),
            sort_order=_sort_order(sort_order),
            operator=_operator(operator),
            reset_schedule=_schedule(reset_schedule),
            metadata=_metadata(metadata, "{}") or "{}",
            title=title,
            description=description,
            category=category,
            start_time=start_time * 1000,
            end_time=end_time * 1000,
            duration=duration,
            max_size=max_size,
            max_num_score=max_num_score,
            join_required=bool(join_required),
        )
        _, created = await self._tournaments.create(t)
        return created

    async def tournament_delete(self, id: str) -> None:
        await self._tournaments.delete(self._title.id, id)

    async def tournaments_get(self, ids: Sequence[str]) -> list[TournamentView]:
        found = []
        for i in ids:
            b = await self._lb.board(self._title.id, i)
            if b is not None and b.tournament:
                found.append(await self._tournaments.view(b))
        return found

    async def tournament_list(
        self,
        category_start: int = 0,
        category_end: int = 127,
        start_time: int = -1,
        end_time: int = -1,
        limit: int = 100,
        cursor: str = "",
    ) -> tuple[list[TournamentView], str]:
        page = await self._tournaments.list_tournaments(
            self._title.id, category_start, category_end, start_time, end_time, limit, cursor
        )
        return page.tournaments, page.cursor

    async def tournament_join(self, id: str, owner_id: str, username: str = "") -> None:
        await self._tournaments.join(self._title.id, id, _owner(owner_id), username or None)

    async def tournament_add_attempt(self, id: str, owner_id: str, count: int) -> None:
        """Allow an owner `count` more submissions in the current window."""
        await self._tournaments.add_attempt(self._title.id, id, _owner(owner_id), count)

    async def tournament_record_write(
        self,
        id: str,
        owner_id: str,
        username: str = "",
        score: int = 0,
        subscore: int = 0,
        metadata: Mapping[str, Any] | str | None = None,
        operator: int | None = None,
    ) -> Record:
        return await self._tournaments.write(
            self._title.id, id, None, _owner(owner_id), username or None, score, subscore,
            _metadata(metadata, None), operator or 0,
        )  # fmt: skip

    async def tournament_record_delete(self, id: str, owner_id: str) -> None:
        await self._tournaments.delete_record(self._title.id, id, None, _owner(owner_id))

    async def tournament_records_list(
        self, id: str, owner_ids: Sequence[str] = (), limit: int = 10, cursor: str = "", expiry: int = 0
    ) -> RecordList:
        if not isinstance(limit, int) or not 0 <= limit <= 10_000:
            raise InvalidArgument("expects limit to be 0-10000")
        return await self._tournaments.list_records(
            self._title.id, id, list(owner_ids), limit or None, cursor, _expiry(expiry)
        )

    async def tournament_records_haystack(
        self, id: str, owner_id: str, limit: int = 10, cursor: str = "", expiry: int = 0
    ) -> RecordList:
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidArgument("limit must be 1-100")
        return await self._tournaments.around_owner(
            self._title.id, id, _owner(owner_id), limit, cursor, _expiry(expiry)
        )


__all__ = ["HOOK_KINDS", "LeaderboardFunctions", "register_hook"]
