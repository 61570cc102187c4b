"""POST /v2/account/authenticate/{device,email,custom}: server key in Basic auth."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, post
from litestar.di import Provide
from litestar.params import Parameter

from overworld.accounts import validation
from overworld.accounts.service import AuthResult
from overworld.api.http.auth import client_ip, node_of, server_key_title, title_context
from overworld.api.wire.accounts import AccountCustom, AccountDevice, AccountEmail, Session
from overworld.api.wire.base import Message
from overworld.node import Node
from overworld.titles.models import Title

Create = Annotated[
    bool, Parameter(query="create", default=True, description="Create the account if missing.")
]
Username = Annotated[str, Parameter(query="username", default="", description="Username for a new account.")]


class AuthenticateDeviceRequest(Message):
    account: AccountDevice
    create: bool = True
    username: str = ""


class AuthenticateEmailRequest(Message):
    account: AccountEmail
    create: bool = True
    username: str = ""


class AuthenticateCustomRequest(Message):
    account: AccountCustom
    create: bool = True
    username: str = ""


def _session(node: Node, title: Title, result: AuthResult, vars: dict[str, str]) -> Session:
    pair = node.sessions.issue(title, result.user_id, result.username, validation.vars_map(vars))
    return Session(created=result.created, token=pair.token, refresh_token=pair.refresh_token)


DEPENDENCIES = {"title": Provide(server_key_title)}


@post("/v2/account/authenticate/device", status_code=200, dependencies=DEPENDENCIES, tags=["authenticate"])
async def authenticate_device(
    request: Request[Any, Any, Any], title: Title, data: AccountDevice, create: Create, username: Username
) -> Session:
    """Log in or sign up with a device id."""
    node = node_of(request)
    ctx = title_context(request, title)

    async def run(req: AuthenticateDeviceRequest) -> Session:
        result = await node.accounts.authenticate_device(
            title, req.account.id, req.create, req.username, address=ctx.client_ip
        )
        return _session(node, title, result, req.account.vars)

    req = AuthenticateDeviceRequest(account=data, create=create, username=username)
    return await node.hooks.call("AuthenticateDevice", ctx, req, run)


@post("/v2/account/authenticate/email", status_code=200, dependencies=DEPENDENCIES, tags=["authenticate"])
async def authenticate_email(
    request: Request[Any, Any, Any], title: Title, data: AccountEmail, create: Create, username: Username
) -> Session:
    """Log in or sign up with an email address and password."""
    node = node_of(request)
    ctx = title_context(request, title)

    async def run(req: AuthenticateEmailRequest) -> Session:
        result = await node.accounts.authenticate_email(
            title, req.account.email, req.account.password, req.create, req.username, address=ctx.client_ip
        )
        return _session(node, title, result, req.account.vars)

    req = AuthenticateEmailRequest(account=data, create=create, username=username)
    return await node.hooks.call("AuthenticateEmail", ctx, req, run)


@post("/v2/account/authenticate/custom", status_code=200, dependencies=DEPENDENCIES, tags=["authenticate"])
async def authenticate_custom(
    request: Request[Any, Any, Any], title: Title, data: AccountCustom, create: Create, username: Username
) -> Session:
    """Log in or sign up with an identifier from the studio's own account system."""
    node = node_of(request)
    ctx = title_context(request, title)

    async def run(req: AuthenticateCustomRequest) -> Session:
        result = await node.accounts.authenticate_custom(
            title, req.account.id, req.create, req.username, address=client_ip(request)
        )
        return _session(node, title, result, req.account.vars)

    req = AuthenticateCustomRequest(account=data, create=create, username=username)
    return await node.hooks.call("AuthenticateCustom", ctx, req, run)


ROUTES = [authenticate_device, authenticate_email, authenticate_custom]
