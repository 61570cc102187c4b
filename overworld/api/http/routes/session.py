"""Session refresh (server key) and logout (session)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import Provide

from overworld.api import calls
from overworld.api.http.auth import node_of, server_key_title, session_context, title_context
from overworld.api.http.routes.bind import route
from overworld.context import CallContext
from overworld.protocol.accounts import Session, SessionLogoutRequest, SessionRefreshRequest
from overworld.protocol.base import Empty
from overworld.titles.models import Title


@route(
    calls.SESSION_REFRESH,
    dependencies={"title": Provide(server_key_title)},
    tags=["session"],
)
async def session_refresh(
    request: Request[Any, Any, Any], title: Title, data: SessionRefreshRequest
) -> Session:
    """Trade a refresh token for a new session; the refresh token is replaced (use it once)."""
    ctx = title_context(request, title)
    return await calls.SESSION_REFRESH.run(node_of(request), ctx, data)


@route(calls.SESSION_LOGOUT, dependencies={"ctx": Provide(session_context)}, tags=["session"])
async def session_logout(
    request: Request[Any, Any, Any], ctx: CallContext, data: SessionLogoutRequest
) -> Empty:
    """End this session (or the given one) and its refresh token, on every node."""
    return await calls.SESSION_LOGOUT.run(node_of(request), ctx, data)


ROUTES = [session_refresh, session_logout]
