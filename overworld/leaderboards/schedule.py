"""Reset schedules and the periods and tournament windows they define.

Schedules are cron expressions in UTC read by the scheduler subsystem's parser
(`overworld.subsystems.scheduler.cron`: 5 fields, 6 with seconds first, or `@daily` and the
like), so a board resets exactly when the scheduler fires its job. Times are Unix milliseconds.
"""

from __future__ import annotations

from overworld.subsystems.scheduler.cron import Cron, CronError, parse_cron

INVALID_SCHEDULE = "expects reset schedule to be a valid CRON expression"


class Schedule:
    """A parsed reset schedule that remembers the period last asked for (every write asks)."""

    __slots__ = ("_cache", "cron", "expression")

    def __init__(self, expression: str) -> None:
        try:
            self.cron: Cron = parse_cron(expression)
        except CronError:
            raise ValueError(INVALID_SCHEDULE) from None
        self.expression = self.cron.expression
        self._cache: tuple[int, int] = (0, 0)  # [start, expiry) of the last period asked for

    def next_after(self, t: int) -> int:
        """The first reset strictly after `t`."""
        return self.cron.next_after(t)

    def last_at_or_before(self, t: int) -> int:
        return self.cron.last_at_or_before(t)

    def expiry(self, now: int) -> int:
        """When the period running at `now` ends: the first reset after `now`."""
        start, end = self._cache
        if start <= now < end:
            return end
        end = self.next_after(now)
        self._cache = (self.last_at_or_before(now), end)
        return end


def is_valid(expression: str) -> bool:
    try:
        parse_cron(expression)
    except CronError:
        return False
    return True


def tournament_deadlines(
    start_time: int, end_time: int, duration_ms: int, schedule: Schedule | None, now: int
) -> tuple[int, int, int]:
    """(start_active, end_active, expiry) of the tournament window current at `now`, as Nakama
    computes them: a window opens at each reset (not before `start_time`) and stays open for the
    duration (but not past the next reset nor `end_time`); its records expire at the next reset,
    at `end_time`, or never (0)."""
    if schedule is None:
        end_active = start_time + duration_ms
        if end_time > 0:
            end_active = min(end_active, end_time)
        return start_time, end_active, end_time
    start_active = schedule.next_after(start_time) if now < start_time else schedule.last_at_or_before(now)
    expiry = schedule.next_after(start_active)
    end_active = min(start_active + duration_ms, expiry)
    if start_time > end_active:
        # Starts after this window closed but before the next reset: the window after the start.
        start_active = schedule.next_after(start_time)
        expiry = schedule.next_after(start_active)
        end_active = min(start_active + duration_ms, expiry)
    elif start_time > start_active:
        start_active = start_time
    if end_time > 0 and expiry > end_time:
        expiry = end_time
        end_active = min(end_active, expiry)
    return start_active, end_active, expiry


def prev_reset(schedule: Schedule | None, start_time: int, now: int) -> int:
    """The last reset at or before `now` (0 before the board started or without a schedule)."""
    if schedule is None or start_time > now:
        return 0
    return schedule.last_at_or_before(now)
