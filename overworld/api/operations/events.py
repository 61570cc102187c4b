"""Client events: `POST /v2/event` (Nakama's Event call) reaches the title's event handlers."""

from __future__ import annotations

from overworld.context import CallContext
from overworld.protocol import events as wire
from overworld.protocol.base import Empty
from overworld.runtime.server_api import check_event_name
from overworld.services import Services


async def send_event(node: Services, ctx: CallContext, req: wire.Event) -> Empty:
    node.runtime.emit(
        ctx.title, check_event_name(req.name), dict(req.properties), ctx.user_id, external=req.external
    )
    return Empty()
