"""Match functions of server code (`nk.match_*`), mixed into `overworld.runtime.ServerApi`, and
`initializer.register_match`, which puts a handler into the node's `MatchService` with the `nk`
its matches are given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from overworld.errors import InvalidArgument
from overworld.matches.handler import HandlerEntry, check_handler
from overworld.matches.service import MatchInfo, MatchService

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title

MAX_NAME = 128


def register_match(runtime: Runtime, title: Title, name: str, handler: Any, module: str) -> None:
    """Called by `Initializer.register_match`; registering a name again replaces the handler
    (matches already running keep theirs)."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        raise ValueError(f"match handler name must be 1-{MAX_NAME} characters, got {name!r}")
    check_handler(name, handler)
    from overworld.runtime.server_api import ServerApi  # the class this module is mixed into

    nk = ServerApi(runtime, title, name)  # what the handler's matches are given as `nk`
    runtime.services.matches.handlers[(title.id, name)] = HandlerEntry(name, handler, module, nk)


class MatchFunctions:
    """`nk.match_create`, `match_get`, `match_list`, `match_signal`."""

    _runtime: Runtime
    _title: Title

    @property
    def _matches(self) -> MatchService:
        return self._runtime.services.matches

    async def match_create(self, module: str, params: Mapping[str, Any] | None = None) -> str:
        """Start an authoritative match of the handler registered as `module` on this node;
        returns its id (`<uuid>.<node>`). `params` are given to its `match_init`.

            match_id = await nk.match_create("arena", {"mode": "ranked"})
        """
        if params is not None and not isinstance(params, Mapping):
            raise InvalidArgument("Match params must be a mapping.")
        return await self._matches.create_authoritative(self._title, module, dict(params or {}))

    def match_get(self, match_id: str) -> MatchInfo | None:
        """A match of this title by id (any node), or None. Not a coroutine."""
        return self._matches.get(self._title.id, match_id)

    def match_list(
        self,
        limit: int = 1,
        authoritative: bool | None = None,
        label: str | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        query: str | None = None,
    ) -> list[MatchInfo]:
        """Matches of this title, as `GET /v2/match` (docs/matches.md: query syntax). Not a
        coroutine.

            open_games = nk.match_list(10, True, query="+label.open:true label.level:>=5")
        """
        return self._matches.list(self._title.id, limit, authoritative, label, min_size, max_size, query)

    async def match_signal(self, match_id: str, data: str = "") -> str:
        """Call the match's `match_signal` with `data` (on its node) and return its reply.
        NOT_FOUND if there is no such authoritative match."""
        return await self._matches.signal(self._title.id, match_id, data)
