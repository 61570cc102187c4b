"""Tournaments: created by server code, listed, joined and written by clients, closed on schedule.

A tournament is a leaderboard (same tables, rank index and listings) with a schedule of active
windows, computed as Nakama does (`leaderboards.schedule.tournament_deadlines`): each reset (or
the start time) opens a window for `duration` seconds; records expire at the next reset or at the
end time. Writes are accepted only inside a window, count every submission (`num_score`, capped
by `max_num_score`), may require a join first, and may be limited to `max_size` owners per
period.

Each node runs a small clock that sleeps until the next window end or expiry of any tournament;
at each, the node claims the event in `leaderboard_resets` (one node wins, once) and calls the
title's `register_tournament_end` / `register_tournament_reset` hook with the final standings.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog

from overworld.accounts.store import hold_users
from overworld.clock import now_ms
from overworld.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from overworld.leaderboards.models import INCREMENT, Leaderboard, Record, RecordList
from overworld.leaderboards.schedule import Schedule, prev_reset, tournament_deadlines
from overworld.leaderboards.service import (
    USER_NOT_FOUND,
    LeaderboardService,
    check_board_id,
    check_metadata,
    check_operator,
    check_score,
    overflow,
    period_key,
)
from overworld.leaderboards.store import record_of

log = structlog.get_logger(__name__)
NOT_FOUND = "Tournament not found."
OVERFLOW = "Score overflow: the result would not fit in a signed 64-bit integer."
MAX_SLEEP_MS = 30_000


class _Full(Exception):
    pass


class _Exhausted(Exception):
    pass


@dataclass(slots=True)
class TournamentView:
    """A tournament with its computed window at a moment (times in Unix seconds, as on the wire)."""

    board: Leaderboard
    size: int
    can_enter: bool
    start_active: int
    end_active: int
    next_reset: int
    prev_reset: int


@dataclass(slots=True)
class TournamentPage:
    tournaments: list[TournamentView]
    cursor: str


class TournamentService:
    def __init__(self, leaderboards: LeaderboardService) -> None:
        self.lb = leaderboards
        self.store = leaderboards.store
        self._clock: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        leaderboards.on_change(lambda *_: self._wake.set())

    async def start(self) -> None:
        self._clock = asyncio.get_running_loop().create_task(self._run_clock(), name="tournament clock")

    async def close(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock

    # -- creation -----------------------------------------------------------------------------------

    async def create(self, t: Leaderboard) -> tuple[Leaderboard, bool]:
        check_board_id(t.id, "tournament")
        if not 0 <= t.category <= 127:
            raise InvalidArgument("category must be 0-127")
        if t.duration <= 0:
            raise InvalidArgument("duration must be > 0")
        if t.start_time < 0:
            raise InvalidArgument("startTime must be >= 0.")
        if t.end_time < 0 or (t.end_time > 0 and t.end_time < t.start_time):
            raise InvalidArgument(
                "endTime must be > startTime. Use 0 to indicate a tournament that never ends."
            )
        if t.max_size < 0:
            raise InvalidArgument("maxSize must be >= 0")
        if t.max_num_score < 0:
            raise InvalidArgument("maxNumScore must be >= 0")
        now = now_ms()
        t.start_time = t.start_time or now - now % 1000
        if t.reset_schedule:
            schedule = Schedule(t.reset_schedule)
            if t.end_time > 0 and schedule.next_after(t.start_time) > t.end_time:
                raise InvalidArgument(
                    "tournament end time cannot be before first reset schedule - either increase end"
                    " time or change/remove reset schedule"
                )
        t.tournament = True
        existing = await self.lb.board(t.title_id, t.id)
        if existing is not None and not existing.tournament:
            raise InvalidArgument("cannot create tournament as leaderboard is already in use")
        stored, created = await self.lb.create(t)
        if created:
            self._wake.set()
        return stored, created

    async def delete(self, title_id: str, tournament_id: str) -> None:
        b = await self.lb.board(title_id, tournament_id)
        if b is None or not b.tournament:
            return  # as Nakama: deleting a missing tournament succeeds
        await self.lb.delete(title_id, tournament_id)
        self._wake.set()

    async def tournament(self, title_id: str, tournament_id: str) -> Leaderboard:
        if not tournament_id:
            raise InvalidArgument("Tournament ID must be provided.")
        b = await self.lb.board(title_id, tournament_id)
        if b is None or not b.tournament:
            raise NotFound(NOT_FOUND)
        return b

    # -- windows ------------------------------------------------------------------------------------

    def deadlines(self, t: Leaderboard, now: int) -> tuple[int, int, int]:
        return tournament_deadlines(t.start_time, t.end_time, t.duration * 1000, self.lb.schedule_of(t), now)

    async def view(self, t: Leaderboard, now: int | None = None, size: int | None = None) -> TournamentView:
        now = now_ms() if now is None else now
        start_active, end_active, expiry = self.deadlines(t, now)
        if size is None:
            size = await self.store.size(t.title_id, t.id) if t.max_size > 0 else 0
        can_enter = start_active <= now < end_active
        if t.max_size > 0 and size >= t.max_size:
            can_enter = False
        return TournamentView(
            board=t,
            size=size,
            can_enter=can_enter,
            start_active=start_active // 1000,
            end_active=end_active // 1000,
            next_reset=expiry // 1000,
            prev_reset=prev_reset(self.lb.schedule_of(t), t.start_time, now) // 1000,
        )

    async def list_tournaments(
        self,
        title_id: str,
        category_start: int,
        category_end: int,
        start_time: int,
        end_time: int,
        limit: int,
        cursor: str,
    ) -> TournamentPage:
        """Tournaments by category range and time window (seconds; -1: no filter; both -1: those
        running now or later), in (category, start time, id) order."""
        if not 0 <= category_start <= 127:
            raise InvalidArgument("Tournament category start must be >=0 and <128.")
        if not 0 <= category_end <= 127:
            raise InvalidArgument("Tournament category end must be >=0 and <128.")
        if category_end < category_start:
            raise InvalidArgument("Tournament category end must be greater than category start.")
        if end_time > 0 and end_time < start_time:
            raise InvalidArgument("Tournament end time must be greater than start time.")
        if not 1 <= limit <= 100:
            raise InvalidArgument("Limit must be between 1 and 100.")
        now = now_ms()
        found = sorted(
            (b for b in self.lb.boards(title_id) if b.tournament),
            key=lambda b: (b.category, b.start_time, b.id),
        )
        if cursor:
            ids = [b.id for b in found]
            if cursor not in ids:
                raise InvalidArgument("Cursor is invalid or expired.")
            found = found[ids.index(cursor) + 1 :]
        picked: list[Leaderboard] = []
        more = False
        for b in found:
            start, end = b.start_time // 1000, b.end_time // 1000
            if not category_start <= b.category <= category_end or start < start_time:
                continue
            if (
                (end_time == 0 and end != 0)
                or (end_time == -1 and end != 0 and b.end_time < now)
                or (end_time > 0 and (end == 0 or end > end_time))
            ):
                continue
            if len(picked) == limit:
                more = True
                break
            picked.append(b)
        views = [await self.view(b, now) for b in picked]
        return TournamentPage(views, picked[-1].id if more and picked else "")

    # -- joining and writing ------------------------------------------------------------------------

    async def join(self, title_id: str, tournament_id: str, owner_id: str, username: str | None) -> None:
        t = await self.tournament(title_id, tournament_id)
        if not t.join_required:
            return
        now = now_ms()
        _, end_active, expiry = self.deadlines(t, now)
        if not now < end_active:
            raise InvalidArgument("Tournament is not active and cannot accept new joins.")
        try:
            async with self.store.transaction() as tx:
                joined = await self.store.join(tx, t, expiry, owner_id, username or None, now)
                if joined and t.max_size > 0 and not await self.store.grow(tx, title_id, t.id):
                    raise _Full
        except _Full:
            raise InvalidArgument("Tournament cannot be joined as it has reached its max size.") from None
        if joined:
            await self.lb.ranks.set(period_key(t, expiry), t.descending, owner_id, 0, 0, 0)

    async def write(
        self,
        title_id: str,
        tournament_id: str,
        caller: str | None,
        owner_id: str,
        username: str | None,
        score: int,
        subscore: int = 0,
        metadata: str | None = None,
        operator: int = 0,
    ) -> Record:
        t = await self.tournament(title_id, tournament_id)
        now = now_ms()
        if t.end_time and t.end_time <= now:
            raise NotFound("Tournament not found or has ended.")
        if t.authoritative and caller is not None:
            raise PermissionDenied("Tournament only allows authoritative score submissions.")
        op = check_operator(operator, t.operator)
        check_score(score, subscore)
        metadata = check_metadata(metadata)
        start_active, end_active, expiry = self.deadlines(t, now)
        if not start_active <= now < end_active:
            raise FailedPrecondition("Tournament is not active and cannot accept new scores.")
        store = self.store
        try:
            async with store.transaction() as tx:
                # A player's own record: its account's row held (an account deletion waits for
                # this transaction and removes the record, or came first and nothing is written).
                if caller is not None and not await hold_users(tx, store.db.sql, title_id, [owner_id]):
                    raise NotFound(USER_NOT_FOUND)
                if t.join_required:
                    existing = await store.record(tx, title_id, t.id, expiry, owner_id)
                    if existing is None:
                        raise FailedPrecondition("Must join tournament before attempting to write value.")
                row = await store.write(
                    tx, t, expiry, owner_id, username, score, subscore, metadata, op, now,
                    t.max_num_score, always=True,
                )  # fmt: skip
                if row is None:  # only an overflowing increment changes nothing
                    current = await store.record(tx, title_id, t.id, expiry, owner_id)
                    if current is not None and overflow(INCREMENT, current, score, subscore):
                        raise InvalidArgument(
                            "Score overflow: the result would not fit in a signed 64-bit integer."
                        )
                    raise FailedPrecondition("Error writing score to tournament.")
                num_score, max_num_score = row[4], row[5]
                if max_num_score > 0 and num_score > max_num_score:
                    raise _Exhausted
                if (
                    t.max_size > 0
                    and num_score == 1
                    and not t.join_required
                    and not await store.grow(tx, title_id, t.id)
                ):
                    raise _Full
        except _Exhausted:
            raise FailedPrecondition("Reached allowed max number of score attempts.") from None
        except _Full:
            raise FailedPrecondition("Tournament has reached max size.") from None
        rank = await self.lb.ranks.set(period_key(t, expiry), t.descending, owner_id, row[2], row[3], row[4])
        return record_of(t.id, row, rank)

    async def delete_record(
        self, title_id: str, tournament_id: str, caller: str | None, owner_id: str
    ) -> None:
        t = await self.tournament(title_id, tournament_id)
        if t.authoritative and caller is not None:
            raise PermissionDenied("Tournament only allows authoritative score deletions.")
        expiry = self.deadlines(t, now_ms())[2]
        await self.store.delete_record(title_id, t.id, expiry, owner_id)
        await self.lb.ranks.delete(period_key(t, expiry), owner_id)

    async def add_attempt(self, title_id: str, tournament_id: str, owner_id: str, count: int) -> None:
        t = await self.tournament(title_id, tournament_id)
        if count == 0:
            return
        now = now_ms()
        _, end_active, expiry = self.deadlines(t, now)
        if end_active <= now:
            raise InvalidArgument("Tournament is not active.")
        await self.store.add_attempts(title_id, t.id, expiry, owner_id, count)

    async def list_records(
        self,
        title_id: str,
        tournament_id: str,
        owner_ids: list[str],
        limit: int | None,
        cursor: str,
        expiry_sec: int | None,
    ) -> RecordList:
        t = await self.tournament(title_id, tournament_id)
        now = now_ms()
        if not expiry_sec and t.end_time and t.end_time <= now:
            raise NotFound("Tournament has ended.")
        if not expiry_sec:
            expiry = self.deadlines(t, now)[2]
            if expiry and expiry <= now:
                return RecordList()
        return await self.lb.list_records(t, owner_ids, limit, cursor, expiry_sec, now)

    async def around_owner(
        self,
        title_id: str,
        tournament_id: str,
        owner_id: str,
        limit: int,
        cursor: str,
        expiry_sec: int | None,
    ) -> RecordList:
        t = await self.tournament(title_id, tournament_id)
        if not expiry_sec:
            now = now_ms()
            expiry = self.deadlines(t, now)[2]
            if expiry and expiry <= now:
                return RecordList()
        return await self.lb.around_owner(t, owner_id, limit, cursor, expiry_sec)

    # -- the clock: window ends and resets ----------------------------------------------------------

    async def _run_clock(self) -> None:
        # The window each tournament was last seen in: (end_active, expiry), and whether its end
        # was handled. A window's events fire once `now` passes them, however late the wake-up.
        windows: dict[tuple[str, str], tuple[int, int, bool]] = {}
        while True:
            now = now_ms()
            wake = now + MAX_SLEEP_MS
            for b in self.lb.known_boards():
                if not b.tournament:
                    continue
                key = (b.title_id, b.id)
                try:
                    wake = min(wake, await self._tick(b, windows, key, now))
                except Exception:
                    log.exception("tournament clock failed", tournament=b.id)
            for key in [k for k in windows if not self.lb.is_known(*k)]:
                del windows[key]
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(wake - now_ms(), 0) / 1000 + 0.001)

    async def _tick(
        self,
        b: Leaderboard,
        windows: dict[tuple[str, str], tuple[int, int, bool]],
        key: tuple[str, str],
        now: int,
    ) -> int:
        """Fire what is due for one tournament; returns when it next needs a look."""
        if key not in windows:
            _, end_active, expiry = self.deadlines(b, now)
            windows[key] = (end_active, expiry, end_active <= now)  # a window already closed: not ours
        end_active, expiry, ended = windows[key]
        if not ended and end_active <= now:
            windows[key] = (end_active, expiry, True)
            await self.lb.close_period(b, expiry or end_active, "end")
        if expiry and expiry <= now:
            closed = await self.lb.close_period(b, expiry, "reset")
            if closed and b.max_size > 0:
                await self.store.reset_size(b.title_id, b.id)
            _, end_active, next_expiry = self.deadlines(b, now)
            if next_expiry == expiry:  # the tournament is over (its end time)
                del windows[key]
                return now + MAX_SLEEP_MS
            windows[key] = (end_active, next_expiry, end_active <= now)
            end_active, expiry = end_active, next_expiry
        due = [t for t in (end_active, expiry) if t > now]
        return min(due) if due else now + MAX_SLEEP_MS

    async def catch_up(self) -> None:
        """Nothing to do: the clock handles every event at or after the moment it starts; events
        missed while no node ran are not replayed (their periods stay listable)."""
