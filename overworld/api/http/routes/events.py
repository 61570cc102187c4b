"""Client events over REST."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router
from litestar.di import Provide

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.context import CallContext
from overworld.protocol.base import Empty
from overworld.protocol.events import Event

Req = Request[Any, Any, Any]


@route(calls.EVENT)
async def send_event(request: Req, ctx: CallContext, data: Event) -> Empty:
    """Hand an event (name and string properties) to the server code's event handlers; they run
    in the background after the answer."""
    return await calls.EVENT.run(node_of(request), ctx, data)


router = Router(
    path="/", route_handlers=[send_event], dependencies={"ctx": Provide(session_context)}, tags=["events"]
)
ROUTES = [router]
