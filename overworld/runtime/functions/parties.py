"""Party functions of server code (`nk.party_list`), mixed into `overworld.runtime.ServerApi`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overworld.parties.index import PartyEntry
from overworld.parties.service import PartyService

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title


class PartyFunctions:
    """`nk.party_list` (a coroutine)."""

    _runtime: Runtime
    _title: Title

    @property
    def _parties(self) -> PartyService:
        return self._runtime.services.parties

    async def party_list(
        self,
        limit: int = 10,
        open: bool | None = None,
        query: str | None = None,
        cursor: str | None = None,
        show_hidden: bool = False,
    ) -> tuple[list[PartyEntry], str]:
        """Parties of this title, as `GET /v2/party` (docs/realtime.md), and the cursor of the next
        page ("" when none); with `show_hidden`, hidden parties too (as Nakama's runtime allows).
        A `PartyEntry` has `party_id`, `open`, `hidden`, `max_size`, `label`, `node`, `created`.

            parties, cursor = await nk.party_list(10, open=True, query="+label.mode:raid")
        """
        return await self._parties.list_parties(self._title.id, limit, open, query, cursor, show_hidden)
