"""Client events: `POST /v2/event` (Nakama's Event call) reaches the title's event handlers."""

from __future__ import annotations

from overworld.context import CallContext
from overworld.errors import InvalidArgument
from overworld.protocol import events as wire
from overworld.protocol.base import Empty
from overworld.runtime.server_api import BUILTIN_EVENTS
from overworld.services import Services

MAX_NAME = 128


async def send_event(node: Services, ctx: CallContext, req: wire.Event) -> Empty:
    if not req.name:
        raise InvalidArgument("Event name is required.")
    if len(req.name) > MAX_NAME:
        raise InvalidArgument(f"Event name must be at most {MAX_NAME} characters.")
    if req.name in BUILTIN_EVENTS:
        raise InvalidArgument(f"Event name {req.name!r} is reserved for the server.")
    node.runtime.emit(ctx.title, req.name, dict(req.properties), ctx.user_id, external=req.external)
    return Empty()
