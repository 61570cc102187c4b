"""A player's own data (Overworld's extension under `/v2/overworld/`, docs/data-protection.md),
with the session token: the export as a ZIP archive, consent records. Every call goes through
the hooks under its name."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.api.operations.privacy import ConsentList, ConsentRecord, ConsentWrite, ListConsentsRequest
from overworld.context import CallContext
from overworld.protocol.base import Empty

Req = Request[Any, Any, Any]


@route(
    calls.EXPORT_ACCOUNT,
    media_type="application/zip",
    response_headers=[ResponseHeader(name="Content-Disposition", value='attachment; filename="export.zip"')],
)
async def export_account(request: Req, ctx: CallContext) -> bytes:
    """Everything the title holds about the caller: a ZIP archive of JSON files, one per domain
    (account, sessions, storage, friends, groups, chat, notifications, leaderboards, wallets,
    matchmaking, consents) and `manifest.json`."""
    return await calls.EXPORT_ACCOUNT.run(node_of(request), ctx, Empty())


@route(calls.RECORD_CONSENT)
async def record_consent(request: Req, ctx: CallContext, data: ConsentWrite) -> ConsentRecord:
    """Record the caller's consent to a policy's version for a purpose (or its withdrawal,
    `granted: false`); every record is kept with its time."""
    return await calls.RECORD_CONSENT.run(node_of(request), ctx, data)


@route(calls.LIST_CONSENTS)
async def list_consents(
    request: Req,
    ctx: CallContext,
    current: Annotated[bool, Parameter(query="current", default=False)],
) -> ConsentList:
    """The caller's consent records, oldest first (`current`: the newest per policy and purpose)."""
    return await calls.LIST_CONSENTS.run(node_of(request), ctx, ListConsentsRequest(current=current))


ROUTES = [
    Router(
        path="/",
        route_handlers=[export_account, record_consent, list_consents],
        dependencies={"ctx": Provide(session_context)},
        tags=["data protection"],
    )
]
