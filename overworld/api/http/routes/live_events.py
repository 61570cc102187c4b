"""Remote config and live events over REST: Overworld's extension under `/v2/overworld/`
(docs/live_events.md).

Clients (session token): `GET /v2/overworld/config` (their effective config) and
`GET /v2/overworld/events` (events live or upcoming for them). Operators (the title's HTTP key,
`?http_key=` or as the user name of Basic auth): `/v2/overworld/admin/config[/{key}]` and
`/v2/overworld/admin/events[/{id}]`. Every call goes through the hooks under its name.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from litestar import Request, Router
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context, title_context
from overworld.api.http.routes.bind import route
from overworld.api.http.routes.bounds import INT32
from overworld.api.origins import check_title_origin
from overworld.context import CallContext
from overworld.errors import InvalidArgument, Unauthenticated
from overworld.protocol.live_events import (
    UNSET,
    ConfigValueList,
    ConfigValueView,
    ConfigValueWrite,
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

Req = Request[Any, Any, Any]
HTTP_KEY_INVALID = "HTTP key invalid"


# -- routes: clients -----------------------------------------------------------------------------


@route(calls.GET_REMOTE_CONFIG)
async def get_config(request: Req, ctx: CallContext) -> RemoteConfig:
    """The caller's remote config: the title's base values with the overrides of the events live
    for them (the latest start wins a key)."""
    return await calls.GET_REMOTE_CONFIG.run(node_of(request), ctx, GetRemoteConfigRequest())


@route(calls.LIST_LIVE_EVENTS)
async def list_events(
    request: Req,
    ctx: CallContext,
    window_sec: Annotated[int, Parameter(query="window_sec", **INT32, default=7 * 24 * 3600)],
    limit: Annotated[int, Parameter(query="limit", **INT32, default=20)],
) -> LiveEventViewList:
    """Events live for the caller now, then those starting within `window_sec` (at most a year)."""
    req = ListLiveEventsRequest(window_sec=window_sec, limit=limit)
    return await calls.LIST_LIVE_EVENTS.run(node_of(request), ctx, req)


client_router = Router(
    path="/",
    route_handlers=[get_config, list_events],
    dependencies={"ctx": Provide(session_context)},
    tags=["live events"],
)


# -- routes: operators ---------------------------------------------------------------------------


async def http_key_context(request: Req) -> CallContext:
    """The title of the HTTP key in `?http_key=` or as the user name of Basic auth."""
    http_key = request.query_params.get("http_key", "")
    authorization = request.headers.get("authorization", "")
    if not http_key and authorization[:6].lower() == "basic ":
        try:
            http_key = base64.b64decode(authorization[6:].strip(), validate=True).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated(HTTP_KEY_INVALID) from None
    if not http_key:
        raise Unauthenticated("HTTP key required")
    node = node_of(request)
    title = await node.titles.by_http_key(http_key)
    if title is None:
        raise Unauthenticated(HTTP_KEY_INVALID)
    if node.settings.cors_title_origins:
        check_title_origin(node.settings, title, request.scope["headers"])
    return title_context(request, title)


@route(calls.LIST_REMOTE_CONFIG)
async def admin_list_config(request: Req, ctx: CallContext) -> ConfigValueList:
    """The title's base remote config values."""
    return await calls.LIST_REMOTE_CONFIG.run(node_of(request), ctx, ListRemoteConfigRequest())


@route(calls.SET_REMOTE_CONFIG)
async def admin_set_config(
    request: Req, ctx: CallContext, key: str, data: ConfigValueWrite
) -> ConfigValueView:
    """Set a base value; with `version`, only if the key is at that version (0: new)."""
    if data.value is UNSET:
        raise InvalidArgument("value is required.")
    req = SetRemoteConfigRequest(key=key, value=data.value, version=data.version)
    return await calls.SET_REMOTE_CONFIG.run(node_of(request), ctx, req)


@route(calls.DELETE_REMOTE_CONFIG)
async def admin_delete_config(request: Req, ctx: CallContext, key: str) -> Done:
    """Delete a base value."""
    req = DeleteRemoteConfigRequest(key=key)
    return await calls.DELETE_REMOTE_CONFIG.run(node_of(request), ctx, req)


@route(calls.CREATE_LIVE_EVENT)
async def admin_create_event(request: Req, ctx: CallContext, data: LiveEventWrite) -> LiveEventFull:
    """Create a live event (checked as a whole; nothing is stored when a field is wrong)."""
    return await calls.CREATE_LIVE_EVENT.run(node_of(request), ctx, data)


@route(calls.LIST_ALL_LIVE_EVENTS)
async def admin_list_events(request: Req, ctx: CallContext) -> LiveEventFullList:
    """Every live event of the title, past, live and future, with all their fields."""
    req = ListAllLiveEventsRequest()
    return await calls.LIST_ALL_LIVE_EVENTS.run(node_of(request), ctx, req)


@route(calls.GET_LIVE_EVENT)
async def admin_get_event(request: Req, ctx: CallContext, event_id: str) -> LiveEventFull:
    """One live event, with all its fields."""
    req = LiveEventIdRequest(id=event_id)
    return await calls.GET_LIVE_EVENT.run(node_of(request), ctx, req)


@route(calls.UPDATE_LIVE_EVENT)
async def admin_update_event(
    request: Req, ctx: CallContext, event_id: str, data: LiveEventWrite
) -> LiveEventFull:
    """Change the fields given."""
    req = UpdateLiveEventRequest(id=event_id, event=data)
    return await calls.UPDATE_LIVE_EVENT.run(node_of(request), ctx, req)


@route(calls.DELETE_LIVE_EVENT)
async def admin_delete_event(request: Req, ctx: CallContext, event_id: str) -> Done:
    """Delete a live event."""
    req = LiveEventIdRequest(id=event_id)
    return await calls.DELETE_LIVE_EVENT.run(node_of(request), ctx, req)


admin_router = Router(
    path="/",
    route_handlers=[
        admin_list_config, admin_set_config, admin_delete_config, admin_create_event, admin_list_events,
        admin_get_event, admin_update_event, admin_delete_event,
    ],
    dependencies={"ctx": Provide(http_key_context)},
    tags=["live events (operators)"],
)  # fmt: skip
ROUTES = [client_router, admin_router]
