"""Remote config and live events (Overworld's extension, docs/live_events.md): the messages and
the operations, for players (their effective config, the events for them) and for operators (the
title's base config and its events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from overworld.clock import rfc3339
from overworld.context import CallContext
from overworld.errors import InvalidArgument, NotFound
from overworld.live_events.models import ConfigValue, LiveEvent, Occurrence
from overworld.services import Services

UNSET: Any = msgspec.UNSET


class Wire(msgspec.Struct, kw_only=True):
    """Base of this extension's messages (every field is written, defaults too)."""


# -- messages ------------------------------------------------------------------------------------


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

    @classmethod
    def of(cls, o: Occurrence) -> LiveEventView:
        e = o.event
        return cls(
            id=e.id, name=e.name, description=e.description, start_time=rfc3339(o.start_time),
            end_time=rfc3339(o.end_time), live=o.live, cron=e.cron, duration=e.duration, config=e.config,
            leaderboard_id=e.leaderboard_id, metadata=e.metadata,
        )  # fmt: skip


class LiveEventViewList(Wire):
    events: list[LiveEventView]


class ConfigValueView(Wire):
    key: str
    value: Any
    version: int
    update_time: str

    @classmethod
    def of(cls, v: ConfigValue) -> ConfigValueView:
        return cls(key=v.key, value=v.value, version=v.version, update_time=rfc3339(v.update_time))


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

    @classmethod
    def of(cls, e: LiveEvent) -> LiveEventFull:
        return cls(
            id=e.id, name=e.name, description=e.description, start_time=rfc3339(e.start_time),
            end_time=rfc3339(e.end_time) if e.end_time else "", cron=e.cron, duration=e.duration,
            audience=e.audience, config=e.config, leaderboard_id=e.leaderboard_id, metadata=e.metadata,
            enabled=e.enabled, create_time=rfc3339(e.create_time), update_time=rfc3339(e.update_time),
        )  # fmt: skip


class LiveEventFullList(Wire):
    events: list[LiveEventFull]


class Done(Wire):
    pass


# -- operations ----------------------------------------------------------------------------------


def _ms(name: str, value: int | str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 1 << 40:
            raise InvalidArgument(f"{name} must be Unix seconds of at least 0 or an RFC 3339 time.")
        return value * 1000
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be Unix seconds or an RFC 3339 time.")
    if value == "":
        return 0
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidArgument(f"{name} must be an RFC 3339 time with a zone (e.g. 2026-01-01T00:00:00Z).")
    return int(parsed.timestamp() * 1000)


def _fields(w: LiveEventWrite) -> dict[str, Any]:
    fields = {f: getattr(w, f) for f in w.__struct_fields__ if getattr(w, f) is not UNSET}
    for key in ("start_time", "end_time"):
        if key in fields:
            fields[key] = _ms(key, fields[key])
    return fields


async def get_remote_config(node: Services, ctx: CallContext, req: GetRemoteConfigRequest) -> RemoteConfig:
    effective = await node.live_events.effective_config(ctx.title.id, ctx.user_id)
    return RemoteConfig(config=effective.config, live_event_ids=effective.events)


async def list_live_events(node: Services, ctx: CallContext, req: ListLiveEventsRequest) -> LiveEventViewList:
    found = await node.live_events.events_for(
        ctx.title.id, ctx.user_id, window_sec=req.window_sec, limit=req.limit
    )
    return LiveEventViewList(events=[LiveEventView.of(o) for o in found])


async def set_remote_config(node: Services, ctx: CallContext, req: SetRemoteConfigRequest) -> ConfigValueView:
    value = await node.live_events.config_set(ctx.title.id, req.key, req.value, req.version)
    return ConfigValueView.of(value)


async def delete_remote_config(node: Services, ctx: CallContext, req: DeleteRemoteConfigRequest) -> Done:
    if not await node.live_events.config_delete(ctx.title.id, req.key):
        raise NotFound(f"Remote config key {req.key!r} not found.")
    return Done()


async def list_remote_config(
    node: Services, ctx: CallContext, req: ListRemoteConfigRequest
) -> ConfigValueList:
    values = await node.live_events.config_get(ctx.title.id)
    return ConfigValueList(values=[ConfigValueView.of(v) for v in values.values()])


async def create_live_event(node: Services, ctx: CallContext, req: LiveEventWrite) -> LiveEventFull:
    fields = _fields(req)
    if "start_time" not in fields:
        raise InvalidArgument("start_time is required.")
    if "name" not in fields:
        raise InvalidArgument("name is required.")
    return LiveEventFull.of(await node.live_events.create(ctx.title.id, **fields))


async def update_live_event(node: Services, ctx: CallContext, req: UpdateLiveEventRequest) -> LiveEventFull:
    return LiveEventFull.of(await node.live_events.update(ctx.title.id, req.id, **_fields(req.event)))


async def delete_live_event(node: Services, ctx: CallContext, req: LiveEventIdRequest) -> Done:
    if not await node.live_events.delete(ctx.title.id, req.id):
        raise NotFound("Live event not found.")
    return Done()


async def get_live_event(node: Services, ctx: CallContext, req: LiveEventIdRequest) -> LiveEventFull:
    event = await node.live_events.get(ctx.title.id, req.id)
    if event is None:
        raise NotFound("Live event not found.")
    return LiveEventFull.of(event)


async def list_all_live_events(
    node: Services, ctx: CallContext, req: ListAllLiveEventsRequest
) -> LiveEventFullList:
    return LiveEventFullList(
        events=[LiveEventFull.of(e) for e in await node.live_events.events(ctx.title.id)]
    )
