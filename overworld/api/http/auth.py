"""Resolve who is calling: a title from the server key (Basic auth) or a session (Bearer).

The `*_from_header` functions work on raw header values and are shared by the Litestar routes
and the fast path; the others are Litestar dependencies. Once the title is known they refuse a
browser page's origin that the title does not allow (overworld.api.origins).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from litestar import Request

from overworld.api.origins import check_title_origin
from overworld.context import CallContext
from overworld.errors import Unauthenticated
from overworld.services import Services
from overworld.titles.models import Title

Headers = Iterable[tuple[bytes, bytes]]  # the request's, as ASGI has them


async def title_from_header(node: Services, header: str, headers: Headers) -> Title:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise Unauthenticated("Server key required")
    try:
        key = base64.b64decode(value.strip(), validate=True).decode().split(":", 1)[0]
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Server key invalid") from None
    title = await node.titles.by_server_key(key)
    if title is None:
        raise Unauthenticated("Server key invalid")
    if node.settings.cors_title_origins:
        check_title_origin(node.settings, title, headers)
    return title


def session_from_header(
    node: Services, header: str, client_ip: str, request_id: str, headers: Headers
) -> CallContext:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Auth token required")
    title, claims = node.sessions.authenticate(token.strip())
    if node.settings.cors_title_origins:
        check_title_origin(node.settings, title, headers)
    return CallContext(
        title=title,
        user_id=claims.user_id,
        username=claims.username,
        vars=claims.vars,
        token_id=claims.token_id,
        session_expires_at=claims.expires_at,
        client_ip=client_ip,
        request_id=request_id,
    )


def node_of(request: Request[Any, Any, Any]) -> Services:
    node: Services = request.app.state.node
    return node


def client_ip(request: Request[Any, Any, Any]) -> str:
    client = request.scope.get("client")
    return client[0] if client else ""


def request_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


async def server_key_title(request: Request[Any, Any, Any]) -> Title:
    node = node_of(request)
    return await title_from_header(node, request.headers.get("authorization", ""), request.scope["headers"])


async def session_context(request: Request[Any, Any, Any]) -> CallContext:
    header = request.headers.get("authorization", "")
    return session_from_header(
        node_of(request), header, client_ip(request), request_id(request), request.scope["headers"]
    )


def title_context(request: Request[Any, Any, Any], title: Title) -> CallContext:
    return CallContext(title=title, client_ip=client_ip(request), request_id=request_id(request))
