"""Cron expressions (UTC), parsed by croniter.

Five fields, `minute hour day-of-month month day-of-week`, or six with seconds first
(`second minute hour day-of-month month day-of-week`), or one of `@yearly`, `@monthly`,
`@weekly`, `@daily`, `@hourly`. When both day fields are restricted, a day matching either one
fires (as in cron).
"""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter

from overworld.clock import now_ms

FORMS = "5 fields (minute hour day month weekday), 6 with seconds first, or @hourly/@daily/..."


class CronError(ValueError):
    """A cron expression that cannot be parsed, or that never fires."""


class Cron:
    """A cron expression checked by `parse_cron`; every time is in Unix milliseconds, UTC."""

    __slots__ = ("expression",)

    def __init__(self, expression: str) -> None:
        self.expression = expression

    def __repr__(self) -> str:
        return f"Cron({self.expression!r})"

    def next_after(self, ms: int) -> int:
        """The first fire time strictly after `ms`."""
        return self._step(ms, backwards=False)

    def last_at_or_before(self, ms: int) -> int:
        """The last fire time at or before `ms` (the start of the period `ms` falls in)."""
        return self._step(ms + 1, backwards=True)

    def _step(self, ms: int, backwards: bool) -> int:
        start = datetime.fromtimestamp(ms / 1000, UTC)
        it = croniter(self.expression, start, second_at_beginning=True)
        seconds: float = it.get_prev(float) if backwards else it.get_next(float)
        return round(seconds * 1000)


def parse_cron(expression: str) -> Cron:
    """Check `expression` and return it parsed; a `CronError` says what is wrong with it."""
    if not isinstance(expression, str):
        raise CronError(f"a cron expression must be a string, got {type(expression).__name__}")
    fields = expression.split()
    if not (len(fields) == 1 and fields[0].startswith("@")) and len(fields) not in (5, 6):
        raise CronError(f"invalid cron expression {expression!r}: expected {FORMS}")
    cron = Cron(" ".join(fields))
    try:
        cron.next_after(now_ms())
    except (ValueError, LookupError, TypeError) as exc:  # croniter's errors are ValueErrors
        detail = str(exc)
        if "failed to find" in detail:
            detail = "it never fires"
        elif "columns" in detail:
            detail = f"expected {FORMS}"
        raise CronError(f"invalid cron expression {expression!r}: {detail}") from None
    return cron
