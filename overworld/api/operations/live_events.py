"""Remote config and live events (Overworld's extension, docs/live_events.md): the operations,
for players (their effective config, the events for them) and for operators (the title's base
config and its events). The messages are in overworld/protocol/live_events.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from overworld.api import convert
from overworld.context import CallContext
from overworld.errors import InvalidArgument, NotFound
from overworld.protocol.live_events import (
    UNSET,
    ConfigValueList,
    ConfigValueView,
    DeleteRemoteConfigRequest,
    Done,
    GetRemoteConfigRequest,
    ListAllLiveEventsRequest,
    ListLiveEventsRequest,
    ListRemoteConfigRequest,
    LiveEventFull,
    LiveEventFullList,
    LiveEventIdRequest,
    LiveEventViewList,
    LiveEventWrite,
    RemoteConfig,
    SetRemoteConfigRequest,
    UpdateLiveEventRequest,
)
from overworld.services import Services

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
    return LiveEventViewList(events=[convert.live_event_view(o) for o in found])


async def set_remote_config(node: Services, ctx: CallContext, req: SetRemoteConfigRequest) -> ConfigValueView:
    value = await node.live_events.config_set(ctx.title.id, req.key, req.value, req.version)
    return convert.config_value(value)


async def delete_remote_config(node: Services, ctx: CallContext, req: DeleteRemoteConfigRequest) -> Done:
    if not await node.live_events.config_delete(ctx.title.id, req.key):
        raise NotFound(f"Remote config key {req.key!r} not found.")
    return Done()


async def list_remote_config(
    node: Services, ctx: CallContext, req: ListRemoteConfigRequest
) -> ConfigValueList:
    values = await node.live_events.config_get(ctx.title.id)
    return ConfigValueList(values=[convert.config_value(v) for v in values.values()])


async def create_live_event(node: Services, ctx: CallContext, req: LiveEventWrite) -> LiveEventFull:
    fields = _fields(req)
    if "start_time" not in fields:
        raise InvalidArgument("start_time is required.")
    if "name" not in fields:
        raise InvalidArgument("name is required.")
    return convert.live_event(await node.live_events.create(ctx.title.id, **fields))


async def update_live_event(node: Services, ctx: CallContext, req: UpdateLiveEventRequest) -> LiveEventFull:
    return convert.live_event(await node.live_events.update(ctx.title.id, req.id, **_fields(req.event)))


async def delete_live_event(node: Services, ctx: CallContext, req: LiveEventIdRequest) -> Done:
    if not await node.live_events.delete(ctx.title.id, req.id):
        raise NotFound("Live event not found.")
    return Done()


async def get_live_event(node: Services, ctx: CallContext, req: LiveEventIdRequest) -> LiveEventFull:
    event = await node.live_events.get(ctx.title.id, req.id)
    if event is None:
        raise NotFound("Live event not found.")
    return convert.live_event(event)


async def list_all_live_events(
    node: Services, ctx: CallContext, req: ListAllLiveEventsRequest
) -> LiveEventFullList:
    return LiveEventFullList(
        events=[convert.live_event(e) for e in await node.live_events.events(ctx.title.id)]
    )
