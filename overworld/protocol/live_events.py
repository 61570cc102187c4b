"""Remote config and live events: the messages of Overworld's REST extension under
`/v2/overworld/` (docs/live_events.md). Unlike Nakama's messages, every field is written,
defaults too."""

from __future__ import annotations

from typing import Any

import msgspec

UNSET: Any = msgspec.UNSET


class Wire(msgspec.Struct, kw_only=True):
    """Base of this extension's messages (every field is written, defaults too)."""


class GetRemoteConfigRequest(Wire):
    pass


class RemoteConfig(Wire):
    config: dict[str, Any]
    live_event_ids: list[str]


class ListLiveEventsRequest(Wire):
    window_sec: int = 7 * 24 * 3600
    limit: int = 20


class LiveEventView(Wire):
    """An event as a player sees it: its current (`live`) or next occurrence."""

    id: str
    name: str
    description: str
    start_time: str
    end_time: str
    live: bool
    cron: str
    duration: int
    config: dict[str, Any]
    leaderboard_id: str
    metadata: dict[str, Any]


class LiveEventViewList(Wire):
    events: list[LiveEventView]


class ConfigValueView(Wire):
    key: str
    value: Any
    version: int
    update_time: str


class ConfigValueList(Wire):
    values: list[ConfigValueView]


class ConfigValueWrite(Wire):
    value: Any = UNSET
    version: int | None = None


class SetRemoteConfigRequest(Wire):
    key: str
    value: Any
    version: int | None = None


class DeleteRemoteConfigRequest(Wire):
    key: str


class ListRemoteConfigRequest(Wire):
    pass


class LiveEventWrite(Wire, forbid_unknown_fields=True):
    """An event's fields; on update, only those given change. Times: RFC 3339 or Unix seconds."""

    name: str = UNSET
    description: str = UNSET
    start_time: int | str = UNSET
    end_time: int | str = UNSET
    cron: str = UNSET
    duration: int = UNSET
    audience: dict[str, Any] = UNSET
    config: dict[str, Any] = UNSET
    leaderboard_id: str = UNSET
    metadata: dict[str, Any] = UNSET
    enabled: bool = UNSET


class UpdateLiveEventRequest(Wire):
    id: str
    event: LiveEventWrite


class LiveEventIdRequest(Wire):
    id: str


class ListAllLiveEventsRequest(Wire):
    pass


class LiveEventFull(Wire):
    """An event as operators see it."""

    id: str
    name: str
    description: str
    start_time: str
    end_time: str
    cron: str
    duration: int
    audience: dict[str, Any]
    config: dict[str, Any]
    leaderboard_id: str
    metadata: dict[str, Any]
    enabled: bool
    create_time: str
    update_time: str


class LiveEventFullList(Wire):
    events: list[LiveEventFull]


class Done(Wire):
    pass
