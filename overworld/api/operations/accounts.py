"""Authentication, sessions, the account and users."""

from __future__ import annotations

from overworld.accounts import validation
from overworld.accounts.models import AccountUpdate
from overworld.accounts.service import AuthResult
from overworld.api import convert
from overworld.context import CallContext
from overworld.errors import ApiError, InvalidArgument, Unauthenticated
from overworld.protocol import accounts as wire
from overworld.protocol.base import Empty
from overworld.services import Services
from overworld.sessions.service import REFRESH_INVALID


def _session(node: Services, ctx: CallContext, result: AuthResult, vars: dict[str, str]) -> wire.Session:
    pair = node.sessions.issue(ctx.title, result.user_id, result.username, validation.vars_map(vars))
    return wire.Session(created=result.created, token=pair.token, refresh_token=pair.refresh_token)


async def authenticate_device(
    node: Services, ctx: CallContext, req: wire.AuthenticateDeviceRequest
) -> wire.Session:
    result = await node.accounts.authenticate_device(
        ctx.title, req.account.id, req.create, req.username, address=ctx.client_ip
    )
    return _session(node, ctx, result, req.account.vars)


async def authenticate_email(
    node: Services, ctx: CallContext, req: wire.AuthenticateEmailRequest
) -> wire.Session:
    result = await node.accounts.authenticate_email(
        ctx.title, req.account.email, req.account.password, req.create, req.username, address=ctx.client_ip
    )
    return _session(node, ctx, result, req.account.vars)


async def authenticate_custom(
    node: Services, ctx: CallContext, req: wire.AuthenticateCustomRequest
) -> wire.Session:
    result = await node.accounts.authenticate_custom(
        ctx.title, req.account.id, req.create, req.username, address=ctx.client_ip
    )
    return _session(node, ctx, result, req.account.vars)


async def session_refresh(node: Services, ctx: CallContext, req: wire.SessionRefreshRequest) -> wire.Session:
    if not req.token:
        raise InvalidArgument("Refresh token is required.")
    claims = await node.sessions.use_refresh_token(ctx.title, req.token)
    try:
        user = await node.accounts.session_user(ctx.title, claims.user_id)
    except ApiError:
        raise Unauthenticated(REFRESH_INVALID) from None
    vars_ = validation.vars_map(req.vars) or claims.vars
    pair = node.sessions.issue(ctx.title, user.user_id, user.username, vars_)
    return wire.Session(token=pair.token, refresh_token=pair.refresh_token)


async def session_logout(node: Services, ctx: CallContext, req: wire.SessionLogoutRequest) -> Empty:
    await node.sessions.logout(ctx, req.token, req.refresh_token)
    return Empty()


async def get_account(node: Services, ctx: CallContext, _: Empty) -> wire.Account:
    return convert.account(await node.accounts.get_account(ctx.title, ctx.user_id))


async def update_account(node: Services, ctx: CallContext, req: wire.UpdateAccountRequest) -> Empty:
    update = AccountUpdate(
        username=req.username,
        display_name=req.display_name,
        avatar_url=req.avatar_url,
        lang_tag=req.lang_tag,
        location=req.location,
        timezone=req.timezone,
    )
    await node.accounts.update_account(ctx.title, ctx.user_id, update)
    return Empty()


async def delete_account(node: Services, ctx: CallContext, _: Empty) -> Empty:
    await node.accounts.delete_account(ctx.title, ctx.user_id)
    return Empty()


async def link_device(node: Services, ctx: CallContext, req: wire.AccountDevice) -> Empty:
    await node.accounts.link_device(ctx.title, ctx.user_id, req.id, req.vars)
    return Empty()


async def link_email(node: Services, ctx: CallContext, req: wire.AccountEmail) -> Empty:
    await node.accounts.link_email(ctx.title, ctx.user_id, req.email, req.password)
    return Empty()


async def link_custom(node: Services, ctx: CallContext, req: wire.AccountCustom) -> Empty:
    await node.accounts.link_custom(ctx.title, ctx.user_id, req.id)
    return Empty()


async def unlink_device(node: Services, ctx: CallContext, req: wire.AccountDevice) -> Empty:
    await node.accounts.unlink_device(ctx.title, ctx.user_id, req.id)
    return Empty()


async def unlink_email(node: Services, ctx: CallContext, req: wire.AccountEmail) -> Empty:
    await node.accounts.unlink_email(ctx.title, ctx.user_id, req.email)
    return Empty()


async def unlink_custom(node: Services, ctx: CallContext, req: wire.AccountCustom) -> Empty:
    await node.accounts.unlink_custom(ctx.title, ctx.user_id, req.id)
    return Empty()


async def get_users(node: Services, ctx: CallContext, req: wire.GetUsersRequest) -> wire.Users:
    found = await node.accounts.get_users(ctx.title, req.ids, req.usernames)
    connected = node.hub.with_sockets(ctx.title.id, [u.id for u in found])
    return wire.Users(users=[convert.user(u, u.id in connected) for u in found])
