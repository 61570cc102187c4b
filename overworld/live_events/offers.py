"""What the store asks of live events about a player (`store.models.Eligibility`): the store sits
below live events and does not import them; the node hands it this."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from overworld.errors import InvalidArgument
from overworld.live_events.audience import parse_audience
from overworld.live_events.service import LiveEventService


class OfferEligibility:
    def __init__(self, live_events: LiveEventService) -> None:
        self._events = live_events

    async def live_events(self, title_id: str, user_id: str) -> frozenset[str]:
        live = await self._events.events_for(title_id, user_id, window_sec=0, limit=100)
        return frozenset(o.event.id for o in live if o.live)

    async def audiences(
        self, title_id: str, user_id: str, audiences: Sequence[Mapping[str, Any]]
    ) -> list[bool]:
        if all(not a for a in audiences):
            return [True] * len(audiences)
        player = await self._events.player(title_id, user_id)
        return [parse_audience(dict(a)).includes(player) for a in audiences]

    def check_audience(self, audience: object) -> dict[str, Any]:
        if audience is None:
            return {}
        if not isinstance(audience, dict):  # parse_audience takes JSON text too; a catalog keeps objects
            raise InvalidArgument("audience must be a JSON object.")
        parse_audience(audience)
        return dict(audience)
