"""POST /v2/account/authenticate/{device,email,custom}: server key in Basic auth."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, server_key_title, title_context
from overworld.api.http.routes.bind import route
from overworld.protocol.accounts import (
    AccountCustom,
    AccountDevice,
    AccountEmail,
    AuthenticateCustomRequest,
    AuthenticateDeviceRequest,
    AuthenticateEmailRequest,
    Session,
)
from overworld.titles.models import Title

Create = Annotated[
    bool, Parameter(query="create", default=True, description="Create the account if missing.")
]
Username = Annotated[str, Parameter(query="username", default="", description="Username for a new account.")]
DEPENDENCIES = {"title": Provide(server_key_title)}


@route(calls.AUTHENTICATE_DEVICE, dependencies=DEPENDENCIES, tags=["authenticate"])
async def authenticate_device(
    request: Request[Any, Any, Any], title: Title, data: AccountDevice, create: Create, username: Username
) -> Session:
    """Log in or sign up with a device id."""
    req = AuthenticateDeviceRequest(account=data, create=create, username=username)
    ctx = title_context(request, title)
    return await calls.AUTHENTICATE_DEVICE.run(node_of(request), ctx, req)


@route(calls.AUTHENTICATE_EMAIL, dependencies=DEPENDENCIES, tags=["authenticate"])
async def authenticate_email(
    request: Request[Any, Any, Any], title: Title, data: AccountEmail, create: Create, username: Username
) -> Session:
    """Log in or sign up with an email address and password."""
    req = AuthenticateEmailRequest(account=data, create=create, username=username)
    ctx = title_context(request, title)
    return await calls.AUTHENTICATE_EMAIL.run(node_of(request), ctx, req)


@route(calls.AUTHENTICATE_CUSTOM, dependencies=DEPENDENCIES, tags=["authenticate"])
async def authenticate_custom(
    request: Request[Any, Any, Any], title: Title, data: AccountCustom, create: Create, username: Username
) -> Session:
    """Log in or sign up with an identifier from the studio's own account system."""
    req = AuthenticateCustomRequest(account=data, create=create, username=username)
    ctx = title_context(request, title)
    return await calls.AUTHENTICATE_CUSTOM.run(node_of(request), ctx, req)


ROUTES = [authenticate_device, authenticate_email, authenticate_custom]
