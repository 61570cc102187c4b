"""Session refresh (server key) and logout (session)."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.di import Provide

from overworld.accounts import validation
from overworld.api.http.auth import node_of, server_key_title, session_context, title_context
from overworld.api.wire.accounts import Session, SessionLogoutRequest, SessionRefreshRequest
from overworld.api.wire.base import Empty
from overworld.context import CallContext
from overworld.errors import InvalidArgument, Unauthenticated
from overworld.sessions.service import REFRESH_INVALID
from overworld.titles.models import Title


@post(
    "/v2/account/session/refresh",
    status_code=200,
    dependencies={"title": Provide(server_key_title)},
    tags=["session"],
)
async def session_refresh(
    request: Request[Any, Any, Any], title: Title, data: SessionRefreshRequest
) -> Session:
    """Trade a refresh token for a new session; the refresh token is replaced (use it once)."""
    node = node_of(request)
    ctx = title_context(request, title)

    async def run(req: SessionRefreshRequest) -> Session:
        if not req.token:
            raise InvalidArgument("Refresh token is required.")
        claims = await node.sessions.use_refresh_token(title, req.token)
        try:
            user = await node.accounts.session_user(title, claims.user_id)
        except Exception:
            raise Unauthenticated(REFRESH_INVALID) from None
        vars_ = validation.vars_map(req.vars) or claims.vars
        pair = node.sessions.issue(title, user.user_id, user.username, vars_)
        return Session(token=pair.token, refresh_token=pair.refresh_token)

    return await node.hooks.call("SessionRefresh", ctx, data, run)


@post("/v2/session/logout", status_code=200, dependencies={"ctx": Provide(session_context)}, tags=["session"])
async def session_logout(
    request: Request[Any, Any, Any], ctx: CallContext, data: SessionLogoutRequest
) -> Empty:
    """End this session (or the given one) and its refresh token, on every node."""
    node = node_of(request)
    claims = node.sessions.parse_session(
        ctx.title, request.headers["authorization"].partition(" ")[2].strip()
    )

    async def run(req: SessionLogoutRequest) -> Empty:
        assert claims is not None
        await node.sessions.logout(ctx.title, claims, req.token, req.refresh_token)
        return Empty()

    return await node.hooks.call("SessionLogout", ctx, data, run)


ROUTES = [session_refresh, session_logout]
