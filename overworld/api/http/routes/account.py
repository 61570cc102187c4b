"""The caller's own account: get, update, delete, link and unlink identifiers."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, delete, get, post, put
from litestar.di import Provide

from overworld.api import operations as ops
from overworld.api.http.auth import node_of, session_context
from overworld.api.operations import accounts
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


@get("/account")
async def get_account(request: Req, ctx: CallContext) -> Account:
    """The caller's account: profile, identifiers and devices."""
    return await ops.call("GetAccount", accounts.get_account, node_of(request), ctx, Empty())


@put("/account", status_code=200)
async def update_account(request: Req, ctx: CallContext, data: UpdateAccountRequest) -> Empty:
    """Change profile fields; fields left out stay as they are, "" clears one."""
    return await ops.call("UpdateAccount", accounts.update_account, node_of(request), ctx, data)


@delete("/account", status_code=200)
async def delete_account(request: Req, ctx: CallContext) -> Empty:
    """Delete the caller's account and everything it owns; its sessions end at once."""
    return await ops.call("DeleteAccount", accounts.delete_account, node_of(request), ctx, Empty())


@post("/account/link/device", status_code=200)
async def link_device(request: Req, ctx: CallContext, data: AccountDevice) -> Empty:
    """Add a device id to the caller's account."""
    return await ops.call("LinkDevice", accounts.link_device, node_of(request), ctx, data)


@post("/account/link/email", status_code=200)
async def link_email(request: Req, ctx: CallContext, data: AccountEmail) -> Empty:
    """Add (or replace) the caller's email and password."""
    return await ops.call("LinkEmail", accounts.link_email, node_of(request), ctx, data)


@post("/account/link/custom", status_code=200)
async def link_custom(request: Req, ctx: CallContext, data: AccountCustom) -> Empty:
    """Add (or replace) the caller's custom id."""
    return await ops.call("LinkCustom", accounts.link_custom, node_of(request), ctx, data)


@post("/account/unlink/device", status_code=200)
async def unlink_device(request: Req, ctx: CallContext, data: AccountDevice) -> Empty:
    """Remove a device id, unless it is the account's last way to log in."""
    return await ops.call("UnlinkDevice", accounts.unlink_device, node_of(request), ctx, data)


@post("/account/unlink/email", status_code=200)
async def unlink_email(request: Req, ctx: CallContext, data: AccountEmail) -> Empty:
    """Remove the email and password, unless they are the account's last way to log in."""
    return await ops.call("UnlinkEmail", accounts.unlink_email, node_of(request), ctx, data)


@post("/account/unlink/custom", status_code=200)
async def unlink_custom(request: Req, ctx: CallContext, data: AccountCustom) -> Empty:
    """Remove the custom id, unless it is the account's last way to log in."""
    return await ops.call("UnlinkCustom", accounts.unlink_custom, node_of(request), ctx, data)


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
