"""Match functions of server code (`nk.match_*`), mixed into `overworld.runtime.ServerApi`, and
the registry of match handlers filled by `initializer.register_match`.

Handlers are registered per title and runtime while modules' `init` runs (before the node's
`MatchService` exists), so they are kept here, keyed by runtime, and the service reads them.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from overworld.errors import InvalidArgument
from overworld.matches.handler import HandlerEntry, check_handler
from overworld.matches.service import MatchInfo, MatchService

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title

_HANDLERS: weakref.WeakKeyDictionary[Runtime, dict[tuple[str, str], HandlerEntry]] = (
    weakref.WeakKeyDictionary()
)
_SERVICES: weakref.WeakKeyDictionary[Runtime, MatchService] = weakref.WeakKeyDictionary()
MAX_NAME = 128


def handlers(runtime: Runtime) -> dict[tuple[str, str], HandlerEntry]:
    """The match handlers registered on `runtime`, by (title id, name)."""
    return _HANDLERS.setdefault(runtime, {})


def register_match(runtime: Runtime, title: Title, name: str, handler: Any, module: str) -> None:
    """Called by `Initializer.register_match`; registering a name again replaces the handler
    (matches already running keep theirs)."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        raise ValueError(f"match handler name must be 1-{MAX_NAME} characters, got {name!r}")
    check_handler(name, handler)
    handlers(runtime)[(title.id, name)] = HandlerEntry(name, handler, module)


def attach(runtime: Runtime, service: MatchService) -> None:
    """Give the `ServerApi`s of `runtime` the node's match service."""
    _SERVICES[runtime] = service


class MatchFunctions:
    """`nk.match_create`, `match_get`, `match_list`, `match_signal`."""

    _runtime: Runtime
    _title: Title

    @property
    def _matches(self) -> MatchService:
        try:
            return _SERVICES[self._runtime]
        except KeyError:
            raise RuntimeError("matches are not available on this runtime") from None

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
