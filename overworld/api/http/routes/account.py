"""The caller's own account: get, update, delete, link and unlink identifiers."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router
from litestar.di import Provide

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.context import CallContext
from overworld.protocol.accounts import (
    Account,
    AccountCustom,
    AccountDevice,
    AccountEmail,
    UpdateAccountRequest,
)
from overworld.protocol.base import Empty

Req = Request[Any, Any, Any]


@route(calls.GET_ACCOUNT)
async def get_account(request: Req, ctx: CallContext) -> Account:
    """The caller's account: profile, identifiers and devices."""
    return await calls.GET_ACCOUNT.run(node_of(request), ctx, Empty())


@route(calls.UPDATE_ACCOUNT)
async def update_account(request: Req, ctx: CallContext, data: UpdateAccountRequest) -> Empty:
    """Change profile fields; fields left out stay as they are, "" clears one."""
    return await calls.UPDATE_ACCOUNT.run(node_of(request), ctx, data)


@route(calls.DELETE_ACCOUNT)
async def delete_account(request: Req, ctx: CallContext) -> Empty:
    """Delete the caller's account and everything it owns; its sessions end at once."""
    return await calls.DELETE_ACCOUNT.run(node_of(request), ctx, Empty())


@route(calls.LINK_DEVICE)
async def link_device(request: Req, ctx: CallContext, data: AccountDevice) -> Empty:
    """Add a device id to the caller's account."""
    return await calls.LINK_DEVICE.run(node_of(request), ctx, data)


@route(calls.LINK_EMAIL)
async def link_email(request: Req, ctx: CallContext, data: AccountEmail) -> Empty:
    """Add (or replace) the caller's email and password."""
    return await calls.LINK_EMAIL.run(node_of(request), ctx, data)


@route(calls.LINK_CUSTOM)
async def link_custom(request: Req, ctx: CallContext, data: AccountCustom) -> Empty:
    """Add (or replace) the caller's custom id."""
    return await calls.LINK_CUSTOM.run(node_of(request), ctx, data)


@route(calls.UNLINK_DEVICE)
async def unlink_device(request: Req, ctx: CallContext, data: AccountDevice) -> Empty:
    """Remove a device id, unless it is the account's last way to log in."""
    return await calls.UNLINK_DEVICE.run(node_of(request), ctx, data)


@route(calls.UNLINK_EMAIL)
async def unlink_email(request: Req, ctx: CallContext, data: AccountEmail) -> Empty:
    """Remove the email and password, unless they are the account's last way to log in."""
    return await calls.UNLINK_EMAIL.run(node_of(request), ctx, data)


@route(calls.UNLINK_CUSTOM)
async def unlink_custom(request: Req, ctx: CallContext, data: AccountCustom) -> Empty:
    """Remove the custom id, unless it is the account's last way to log in."""
    return await calls.UNLINK_CUSTOM.run(node_of(request), ctx, data)


router = Router(
    path="/",
    route_handlers=[
        get_account, update_account, delete_account,
        link_device, link_email, link_custom, unlink_device, unlink_email, unlink_custom,
    ],
    dependencies={"ctx": Provide(session_context)},
    tags=["account"],
)  # fmt: skip
ROUTES = [router]
