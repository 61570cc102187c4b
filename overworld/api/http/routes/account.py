"""The caller's own account: get, update, delete, link and unlink identifiers."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, delete, get, post, put
from litestar.di import Provide

from overworld.accounts.models import AccountUpdate
from overworld.api.http.auth import node_of, session_context
from overworld.api.wire.accounts import (
    Account,
    AccountCustom,
    AccountDevice,
    AccountEmail,
    UpdateAccountRequest,
)
from overworld.api.wire.base import Empty, Message
from overworld.context import CallContext


class GetAccountRequest(Message):
    pass


@get("/account")
async def get_account(request: Request[Any, Any, Any], ctx: CallContext) -> Account:
    """The caller's account: profile, identifiers and devices."""
    node = node_of(request)

    async def run(_: GetAccountRequest) -> Account:
        return Account.of(await node.accounts.get_account(ctx.title, ctx.user_id))

    return await node.hooks.call("GetAccount", ctx, GetAccountRequest(), run)


@put("/account", status_code=200)
async def update_account(
    request: Request[Any, Any, Any], ctx: CallContext, data: UpdateAccountRequest
) -> Empty:
    """Change profile fields; fields left out stay as they are."""
    node = node_of(request)

    async def run(req: UpdateAccountRequest) -> Empty:
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

    return await node.hooks.call("UpdateAccount", ctx, data, run)


@delete("/account", status_code=200)
async def delete_account(request: Request[Any, Any, Any], ctx: CallContext) -> Empty:
    """Delete the caller's account and everything it owns; its sessions end at once."""
    node = node_of(request)

    async def run(_: Empty) -> Empty:
        await node.accounts.delete_account(ctx.title, ctx.user_id)
        return Empty()

    return await node.hooks.call("DeleteAccount", ctx, Empty(), run)


@post("/account/link/device", status_code=200)
async def link_device(request: Request[Any, Any, Any], ctx: CallContext, data: AccountDevice) -> Empty:
    node = node_of(request)

    async def run(req: AccountDevice) -> Empty:
        await node.accounts.link_device(ctx.title, ctx.user_id, req.id, req.vars)
        return Empty()

    return await node.hooks.call("LinkDevice", ctx, data, run)


@post("/account/link/email", status_code=200)
async def link_email(request: Request[Any, Any, Any], ctx: CallContext, data: AccountEmail) -> Empty:
    node = node_of(request)

    async def run(req: AccountEmail) -> Empty:
        await node.accounts.link_email(ctx.title, ctx.user_id, req.email, req.password)
        return Empty()

    return await node.hooks.call("LinkEmail", ctx, data, run)


@post("/account/link/custom", status_code=200)
async def link_custom(request: Request[Any, Any, Any], ctx: CallContext, data: AccountCustom) -> Empty:
    node = node_of(request)

    async def run(req: AccountCustom) -> Empty:
        await node.accounts.link_custom(ctx.title, ctx.user_id, req.id)
        return Empty()

    return await node.hooks.call("LinkCustom", ctx, data, run)


@post("/account/unlink/device", status_code=200)
async def unlink_device(request: Request[Any, Any, Any], ctx: CallContext, data: AccountDevice) -> Empty:
    node = node_of(request)

    async def run(req: AccountDevice) -> Empty:
        await node.accounts.unlink_device(ctx.title, ctx.user_id, req.id)
        return Empty()

    return await node.hooks.call("UnlinkDevice", ctx, data, run)


@post("/account/unlink/email", status_code=200)
async def unlink_email(request: Request[Any, Any, Any], ctx: CallContext, data: AccountEmail) -> Empty:
    node = node_of(request)

    async def run(req: AccountEmail) -> Empty:
        await node.accounts.unlink_email(ctx.title, ctx.user_id, req.email)
        return Empty()

    return await node.hooks.call("UnlinkEmail", ctx, data, run)


@post("/account/unlink/custom", status_code=200)
async def unlink_custom(request: Request[Any, Any, Any], ctx: CallContext, data: AccountCustom) -> Empty:
    node = node_of(request)

    async def run(req: AccountCustom) -> Empty:
        await node.accounts.unlink_custom(ctx.title, ctx.user_id, req.id)
        return Empty()

    return await node.hooks.call("UnlinkCustom", ctx, data, run)


router = Router(
    path="/v2",
    route_handlers=[
        get_account, update_account, delete_account,
        link_device, link_email, link_custom, unlink_device, unlink_email, unlink_custom,
    ],
    dependencies={"ctx": Provide(session_context)},
    tags=["account"],
)  # fmt: skip
ROUTES = [router]
