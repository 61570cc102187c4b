"""Remote config values and live events as the service returns them (times in Unix milliseconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from overworld.live_events.audience import Audience, parse_audience
from overworld.live_events.schedule import Timing
from overworld.subsystems.scheduler.cron import parse_cron


@dataclass(slots=True)
class ConfigValue:
    key: str
    value: Any  # any JSON value
    version: int
    update_time: int


@dataclass(slots=True)
class LiveEvent:
    title_id: str
    id: str
    name: str
    description: str = ""
    start_time: int = 0
    end_time: int = 0  # 0: a recurring event without end
    cron: str = ""  # "" for a one-time event
    duration: int = 0  # seconds each occurrence lasts (recurring events)
    audience: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # remote config overrides while live
    leaderboard_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    create_time: int = 0
    update_time: int = 0

    @property
    def timing(self) -> Timing:
        if not self.cron:
            return Timing(self.start_time, self.end_time)
        return Timing(self.start_time, self.end_time, parse_cron(self.cron), self.duration * 1000)

    @property
    def parsed_audience(self) -> Audience:
        return parse_audience(self.audience)


@dataclass(slots=True)
class Occurrence:
    """An event as one player sees it: its current (`live`) or next occurrence."""

    event: LiveEvent
    start_time: int
    end_time: int
    live: bool


@dataclass(slots=True)
class EffectiveConfig:
    """A player's remote config: the base values with the overrides of the events live for them,
    applied in `events` order (the last one wins a key)."""

    config: dict[str, Any]
    events: list[str]  # ids of the live events applied
