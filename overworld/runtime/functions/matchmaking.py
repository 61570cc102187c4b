"""Matchmaker functions of server code (`nk.matchmaker_*`), mixed into `ServerApi`, and the
registration of queue rules and matchmaker hooks (`Initializer.register_matchmaker_*`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from overworld.errors import InvalidArgument
from overworld.matchmaking.models import MatchmakerStats, QueueRules
from overworld.matchmaking.ratings import Rating, check_queue
from overworld.matchmaking.service import HookEntry, MatchmakerService

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title

RULE_NAMES = frozenset(f.name for f in fields(QueueRules))


def register_hook(runtime: Runtime, title: Title, kind: str, fn: Callable[..., Any], module: str) -> None:
    """One function per title and kind ("matched", "override" or "backfilled"); registering again
    replaces it."""
    if not callable(fn):
        raise TypeError(f"matchmaker {kind} hook: expected a function, got {type(fn).__name__}")
    mm = runtime.services.matchmaker
    tables = {"matched": mm.matched_hooks, "override": mm.override_hooks, "backfilled": mm.backfilled_hooks}
    table = tables[kind]
    table[title.id] = HookEntry(fn, module)


def register_queue(
    runtime: Runtime, title: Title, queue: str, rules: QueueRules | None, options: dict[str, Any]
) -> None:
    check_queue(queue)
    unknown = sorted(set(options) - RULE_NAMES)
    if unknown:
        raise ValueError(
            f"unknown matchmaker queue rule(s): {', '.join(unknown)}; known: {', '.join(sorted(RULE_NAMES))}"
        )
    try:
        made = QueueRules(**options) if rules is None else rules
    except TypeError as exc:
        raise ValueError(f"matchmaker queue {queue!r}: {exc}") from None
    if made.teams == 1 or made.teams < 0:
        raise ValueError("teams must be 0 (no teams) or at least 2")
    runtime.services.matchmaker.rules[(title.id, queue)] = made


class MatchmakerFunctions:
    """`nk.matchmaker_*` (coroutines)."""

    _runtime: Runtime
    _title: Title

    @property
    def _mm(self) -> MatchmakerService:
        return self._runtime.services.matchmaker

    async def matchmaker_stats(self) -> MatchmakerStats:
        """This title's matchmaker as `GET /v2/matchmaker/stats` (docs/matchmaking.md): as of the
        matcher's last pass, `ticket_count`, `oldest` (Unix seconds or None) and `completions`
        ((created, completed) Unix seconds of the last 10 players matched).

            stats = await nk.matchmaker_stats()
        """
        return await self._mm.stats(self._title.id)

    async def matchmaker_report(
        self,
        queue: str,
        teams: Sequence[Sequence[str]],
        ranks: Sequence[float] | None = None,
        scores: Sequence[float] | None = None,
    ) -> list[list[Rating]]:
        """Report a finished match of `queue`: `teams` of user ids, with `ranks` (1 = first, ties
        allowed) or `scores` (higher is better), or neither (teams in finishing order). Updates
        and returns every player's rating (openskill Plackett-Luce)."""
        return await self._mm.ratings.report(
            self._title.id, queue, [list(t) for t in teams],
            None if ranks is None else list(ranks), None if scores is None else list(scores),
        )  # fmt: skip

    async def matchmaker_ratings(self, queue: str, user_ids: Sequence[str]) -> dict[str, Rating]:
        """The players' ratings in `queue` (mu 25, sigma 25/3 for a player never rated)."""
        check_queue(queue)
        return await self._mm.ratings.get(self._title.id, queue, list(user_ids))

    async def matchmaker_backfill(
        self,
        match_id: str,
        slots: int,
        query: str = "*",
        string_properties: Mapping[str, str] | None = None,
        numeric_properties: Mapping[str, float] | None = None,
    ) -> str:
        """Open a backfill request: up to `slots` waiting players whose tickets accept these
        properties (and whom `query` accepts) are matched into `match_id` (their
        `matchmaker_matched` carries it). Backfills are served before new matches. Returns the
        request id, for `matchmaker_backfill_cancel`; the request ends when its slots are filled."""
        if not isinstance(slots, int) or isinstance(slots, bool):
            raise InvalidArgument("slots must be an integer")
        return await self._mm.backfill(
            self._title.id, match_id, slots, query,
            dict(string_properties or {}), dict(numeric_properties or {}),
        )  # fmt: skip

    async def matchmaker_backfill_cancel(self, backfill_id: str) -> bool:
        """Close a backfill request; False when it is filled or gone already."""
        return await self._mm.remove(self._title.id, backfill_id, "backfill")

    def matchmaker_pool_size(self) -> int:
        """Tickets waiting in this title's pool, as seen by the matcher (0 on other nodes of a
        cluster). Not a coroutine."""
        pool = self._mm.engine.pools.get(self._title.id)
        return 0 if pool is None else len(pool)
