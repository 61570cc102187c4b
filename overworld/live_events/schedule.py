"""When a live event is live: its occurrences and the times they start and end.

A one-time event has one occurrence, [start_time, end_time). A recurring event has one at each
fire time of its cron expression (UTC, read by the scheduler's parser) at or after `start_time`
and before `end_time` (0: no end), each lasting `duration` seconds but never past the next fire
time nor `end_time`, so occurrences never overlap. Times are Unix milliseconds; every function
takes the present as an argument, so the rules can be checked at any time.
"""

from __future__ import annotations

from dataclasses import dataclass

from overworld.subsystems.scheduler.cron import Cron

NEVER = 1 << 62  # a fire time that is never reached (an event with nothing left to announce)


@dataclass(frozen=True, slots=True)
class Timing:
    start_time: int
    end_time: int  # 0: a recurring event without end
    cron: Cron | None = None
    duration_ms: int = 0

    def _end_of(self, fire: int) -> int:
        """The end of the occurrence that starts at cron fire time `fire`."""
        if self.cron is None:
            raise ValueError("a one-off live event has no occurrences")
        end = min(fire + self.duration_ms, self.cron.next_after(fire))
        return min(end, self.end_time) if self.end_time else end

    def _valid_fire(self, fire: int) -> bool:
        return fire >= self.start_time and (not self.end_time or fire < self.end_time)

    def live_at(self, now: int) -> tuple[int, int] | None:
        """The occurrence (start, end) live at `now`, if any."""
        if self.cron is None:
            return (self.start_time, self.end_time) if self.start_time <= now < self.end_time else None
        if now < self.start_time:
            return None
        fire = self.cron.last_at_or_before(now)
        if not self._valid_fire(fire):
            return None
        end = self._end_of(fire)
        return (fire, end) if now < end else None

    def next_start(self, now: int) -> tuple[int, int] | None:
        """The first occurrence starting strictly after `now`, if any."""
        if self.cron is None:
            return (self.start_time, self.end_time) if self.start_time > now else None
        fire = self.cron.next_after(max(now, self.start_time - 1))
        return (fire, self._end_of(fire)) if self._valid_fire(fire) else None

    def current_or_next(self, now: int) -> tuple[tuple[int, int], bool] | None:
        """The occurrence live at `now` (and True), else the next one (and False), else None."""
        live = self.live_at(now)
        if live is not None:
            return live, True
        upcoming = self.next_start(now)
        return (upcoming, False) if upcoming is not None else None

    def occurrences(self, since: int, until: int, limit: int = 100) -> list[tuple[int, int]]:
        """Occurrences live at `since` or starting before `until`, in time order."""
        found: list[tuple[int, int]] = []
        live = self.live_at(since)
        if live is not None:
            found.append(live)
        t = since
        while len(found) < limit:
            upcoming = self.next_start(t)
            if upcoming is None or upcoming[0] >= until:
                break
            found.append(upcoming)
            t = upcoming[0]
        return found

    def next_boundary(self, after: int) -> int | None:
        """The first start or end of an occurrence strictly after `after`, if any."""
        times = []
        live = self.live_at(after)
        if live is not None:
            times.append(live[1])
        upcoming = self.next_start(after)
        if upcoming is not None:
            times.append(upcoming[0])
        return min(times) if times else None

    def at(self, t: int) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """The occurrence that ends at `t` and the one that starts at `t` (either may be None)."""
        ended = self.live_at(t - 1)
        started = self.live_at(t)
        return (
            ended if ended is not None and ended[1] == t else None,
            started if started is not None and started[0] == t else None,
        )


class Boundaries(Cron):
    """An event's starts and ends as a schedule for the scheduler subsystem: every node arms the
    same job with it and the scheduler runs each boundary once across the cluster. `expression`
    identifies the timing (the scheduler replaces a job whose expression changed)."""

    __slots__ = ("timing",)

    def __init__(self, timing: Timing, version: str) -> None:
        super().__init__(f"live-event {version}")
        self.timing = timing

    def next_after(self, ms: int) -> int:
        boundary = self.timing.next_boundary(ms)
        return NEVER if boundary is None else boundary

    def last_at_or_before(self, ms: int) -> int:
        raise NotImplementedError("live event boundaries are only read forwards")
