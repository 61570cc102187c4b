"""A player's wallet and ledger: Overworld's extension under `/v2/overworld/` (docs/economy.md),
with the session token. Every call goes through the hooks under its name."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.api.operations.wallets import (
    GetWalletRequest,
    ListWalletLedgerRequest,
    Wallet,
    WalletLedgerList,
)
from overworld.context import CallContext

Req = Request[Any, Any, Any]


@route(calls.GET_WALLET)
async def get_wallet(request: Req, ctx: CallContext) -> Wallet:
    """The caller's wallet, read from the database (never a cached copy)."""
    return await calls.GET_WALLET.run(node_of(request), ctx, GetWalletRequest())


@route(calls.LIST_WALLET_LEDGER)
async def list_ledger(
    request: Req,
    ctx: CallContext,
    limit: Annotated[int, Parameter(query="limit", default=100)],
    cursor: Annotated[str, Parameter(query="cursor", default="")],
) -> WalletLedgerList:
    """One page (1-100) of the caller's wallet ledger, newest first."""
    req = ListWalletLedgerRequest(limit=limit, cursor=cursor)
    return await calls.LIST_WALLET_LEDGER.run(node_of(request), ctx, req)


ROUTES = [
    Router(
        path="/",
        route_handlers=[get_wallet, list_ledger],
        dependencies={"ctx": Provide(session_context)},
        tags=["wallets"],
    )
]
