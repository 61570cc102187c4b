"""Player ratings per queue, kept in the database and updated with openskill (Plackett-Luce).

A rating is a mean `mu` (starting at 25) and a deviation `sigma` (starting at 25/3); the
matchmaker uses `mu` as the skill of a ticket that does not state one. Server code reports
results with `nk.matchmaker_report(queue, teams, ranks)`; each report updates every player in it
in one transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from openskill.models import PlackettLuce

from overworld.db import Database
from overworld.db.database import Tx
from overworld.errors import InvalidArgument
from overworld.ids import parse_uuid

MAX_QUEUE = 128
_MODEL = PlackettLuce()
DEFAULT_MU = _MODEL.mu
DEFAULT_SIGMA = _MODEL.sigma


@dataclass(frozen=True, slots=True)
class Rating:
    user_id: str
    mu: float = DEFAULT_MU
    sigma: float = DEFAULT_SIGMA
    matches: int = 0

    @property
    def ordinal(self) -> float:
        """A conservative skill estimate (mu - 3 sigma), for leaderboards."""
        return self.mu - 3 * self.sigma


def check_queue(queue: str) -> str:
    if not isinstance(queue, str) or len(queue) > MAX_QUEUE:
        raise InvalidArgument(f"Queue name must be a string of at most {MAX_QUEUE} characters.")
    return queue


class RatingStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = db.sql.lock_rows

    async def get(self, title_id: str, queue: str, user_ids: list[str]) -> dict[str, Rating]:
        """Every requested user's rating (the default one for users never rated)."""
        out = {u: Rating(u) for u in user_ids}
        if not user_ids:
            return out
        marks = ", ".join(f"${i + 3}" for i in range(len(user_ids)))
        rows = await self._db.fetch(
            "SELECT user_id, mu, sigma, matches FROM matchmaker_ratings"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            f" WHERE title_id = $1 AND queue = $2 AND user_id IN ({marks})",
            title_id, queue, *user_ids,
        )  # fmt: skip
        for r in rows:
            out[r["user_id"]] = Rating(r["user_id"], float(r["mu"]), float(r["sigma"]), int(r["matches"]))
        return out

    async def report(
        self,
        title_id: str,
        queue: str,
        teams: list[list[str]],
        ranks: list[float] | None = None,
        scores: list[float] | None = None,
    ) -> list[list[Rating]]:
        """Rate one finished match: `teams` of user ids, with `ranks` (1 = first; ties allowed)
        or `scores` (higher is better), or neither (the teams finished in the order given)."""
        check_queue(queue)
        if not isinstance(teams, list) or len(teams) < 2:
            raise InvalidArgument("A match report needs at least two teams.")
        seen: set[str] = set()
        for team in teams:
            if not isinstance(team, list) or not team:
                raise InvalidArgument("Each team must be a non-empty list of user ids.")
            for u in team:
                if not isinstance(u, str) or parse_uuid(u) is None:
                    raise InvalidArgument(f"Invalid user id {u!r} in a match report.")
                if u in seen:
                    raise InvalidArgument(f"User {u} appears twice in a match report.")
                seen.add(u)
        for name, values in (("ranks", ranks), ("scores", scores)):
            if values is not None and (
                len(values) != len(teams) or not all(isinstance(v, int | float) for v in values)
            ):
                raise InvalidArgument(f"{name} must give one number per team.")
        users = sorted(seen)  # one lock order for every report: no deadlock between two
        kwargs: dict[str, Any] = {}
        if ranks is not None:
            kwargs["ranks"] = [float(r) for r in ranks]
        elif scores is not None:
            kwargs["scores"] = [float(s) for s in scores]
        now = int(time.time() * 1000)
        # Read and write in one transaction with the players' rows locked (rows created first,
        # so that never-rated players are locked too): two reports about one player apply one
        # after the other instead of the second overwriting the first.
        async with self._db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO matchmaker_ratings (title_id, queue, user_id, mu, sigma, matches, update_time)"
                " VALUES ($1, $2, $3, $4, $5, 0, $6) ON CONFLICT (title_id, queue, user_id) DO NOTHING",
                [(title_id, queue, u, DEFAULT_MU, DEFAULT_SIGMA, now) for u in users],
            )
            marks = ", ".join(f"${i + 3}" for i in range(len(users)))
            rows = await tx.fetch(
                "SELECT user_id, mu, sigma, matches FROM matchmaker_ratings"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                f" WHERE title_id = $1 AND queue = $2 AND user_id IN ({marks}) ORDER BY user_id{self._lock}",
                title_id, queue, *users,
            )  # fmt: skip
            current = {
                r["user_id"]: Rating(r["user_id"], float(r["mu"]), float(r["sigma"]), int(r["matches"]))
                for r in rows
            }
            model_teams = [
                [_MODEL.create_rating([current[u].mu, current[u].sigma], name=u) for u in team]
                for team in teams
            ]
            rated = _MODEL.rate(model_teams, **kwargs)
            out = [
                [Rating(str(p.name), p.mu, p.sigma, current[str(p.name)].matches + 1) for p in team]
                for team in rated
            ]
            await tx.executemany(
                "UPDATE matchmaker_ratings SET mu = $4, sigma = $5, matches = $6, update_time = $7"
                " WHERE title_id = $1 AND queue = $2 AND user_id = $3",
                [(title_id, queue, r.user_id, r.mu, r.sigma, r.matches, now) for team in out for r in team],
            )
        return out

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """Account deletion: the user's ratings go with it."""
        await tx.execute(
            "DELETE FROM matchmaker_ratings WHERE title_id = $1 AND user_id = $2", title_id, user_id
        )
