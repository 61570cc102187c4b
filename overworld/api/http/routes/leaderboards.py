"""Leaderboards and tournaments over REST, at Nakama's paths."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.api.http.routes.bounds import INT32, INT64, UINT32
from overworld.context import CallContext
from overworld.protocol import leaderboards as w
from overworld.protocol.base import Empty

Req = Request[Any, Any, Any]
Limit = Annotated[
    int | None, Parameter(query="limit", **INT32, default=None, description="Records per page.")
]
Cursor = Annotated[str, Parameter(query="cursor", default="", description="From the previous page.")]
Expiry = Annotated[
    int | None,
    Parameter(
        query="expiry",
        **INT64,
        default=None,
        description="A past period's expiry (Unix seconds); 0: current.",
    ),
]
OwnerIds = Annotated[list[str] | None, Parameter(query="owner_ids", default=None)]


@route(calls.WRITE_LEADERBOARD_RECORD)
async def write_leaderboard_record(
    request: Req, ctx: CallContext, leaderboard_id: str, data: w.LeaderboardRecordWrite
) -> w.LeaderboardRecord:
    """Submit a score; the record comes back with its rank."""
    req = w.WriteLeaderboardRecordRequest(leaderboard_id=leaderboard_id, record=data)
    return await calls.WRITE_LEADERBOARD_RECORD.run(node_of(request), ctx, req)


@route(calls.DELETE_LEADERBOARD_RECORD)
async def delete_leaderboard_record(request: Req, ctx: CallContext, leaderboard_id: str) -> Empty:
    """Delete the caller's record in the current period."""
    req = w.DeleteLeaderboardRecordRequest(leaderboard_id=leaderboard_id)
    return await calls.DELETE_LEADERBOARD_RECORD.run(node_of(request), ctx, req)


@route(calls.LIST_LEADERBOARD_RECORDS)
async def list_leaderboard_records(
    request: Req,
    ctx: CallContext,
    leaderboard_id: str,
    limit: Limit,
    cursor: Cursor,
    expiry: Expiry,
    owner_ids: OwnerIds,
) -> w.LeaderboardRecordList:
    """A page of records in rank order and/or the records of `owner_ids`."""
    req = w.ListLeaderboardRecordsRequest(
        leaderboard_id=leaderboard_id, owner_ids=owner_ids or [], limit=limit, cursor=cursor, expiry=expiry
    )
    return await calls.LIST_LEADERBOARD_RECORDS.run(node_of(request), ctx, req)


@route(calls.LIST_LEADERBOARD_RECORDS_AROUND_OWNER)
async def list_leaderboard_records_around_owner(
    request: Req,
    ctx: CallContext,
    leaderboard_id: str,
    owner_id: str,
    limit: Limit,
    cursor: Cursor,
    expiry: Expiry,
) -> w.LeaderboardRecordList:
    """Records around an owner's."""
    req = w.ListLeaderboardRecordsAroundOwnerRequest(
        leaderboard_id=leaderboard_id, owner_id=owner_id, limit=limit, cursor=cursor, expiry=expiry
    )
    return await calls.LIST_LEADERBOARD_RECORDS_AROUND_OWNER.run(node_of(request), ctx, req)


@route(calls.LIST_LEADERBOARD_PERIODS, path="/v2/leaderboard/{leaderboard_id:str}/periods")
async def list_leaderboard_periods(
    request: Req,
    ctx: CallContext,
    leaderboard_id: str,
    limit: Limit,
    before: Annotated[int | None, Parameter(query="before", **INT64, default=None)],
) -> w.LeaderboardPeriodList:
    """Overworld extension: the closed periods (seasons) of a board, newest first."""
    req = w.ListLeaderboardPeriodsRequest(leaderboard_id=leaderboard_id, limit=limit, before=before)
    return await calls.LIST_LEADERBOARD_PERIODS.run(node_of(request), ctx, req)


@route(calls.LIST_LEADERBOARD_PERIODS, path="/v2/tournament/{tournament_id:str}/periods")
async def list_tournament_periods(
    request: Req,
    ctx: CallContext,
    tournament_id: str,
    limit: Limit,
    before: Annotated[int | None, Parameter(query="before", **INT64, default=None)],
) -> w.LeaderboardPeriodList:
    """Overworld extension: the closed periods of a tournament, newest first."""
    req = w.ListLeaderboardPeriodsRequest(leaderboard_id=tournament_id, limit=limit, before=before)
    return await calls.LIST_LEADERBOARD_PERIODS.run(node_of(request), ctx, req)


@route(calls.LIST_TOURNAMENTS)
async def list_tournaments(
    request: Req,
    ctx: CallContext,
    limit: Limit,
    cursor: Cursor,
    category_start: Annotated[int | None, Parameter(query="category_start", **UINT32, default=None)],
    category_end: Annotated[int | None, Parameter(query="category_end", **UINT32, default=None)],
    start_time: Annotated[int | None, Parameter(query="start_time", **UINT32, default=None)],
    end_time: Annotated[int | None, Parameter(query="end_time", **UINT32, default=None)],
) -> w.TournamentList:
    """Tournaments by category and time window (default: those running now or later)."""
    req = w.ListTournamentsRequest(
        category_start=category_start, category_end=category_end, start_time=start_time,
        end_time=end_time, limit=limit, cursor=cursor,
    )  # fmt: skip
    return await calls.LIST_TOURNAMENTS.run(node_of(request), ctx, req)


@route(calls.JOIN_TOURNAMENT)
async def join_tournament(request: Req, ctx: CallContext, tournament_id: str) -> Empty:
    """Join a tournament (needed before writing when it requires joins)."""
    req = w.JoinTournamentRequest(tournament_id=tournament_id)
    return await calls.JOIN_TOURNAMENT.run(node_of(request), ctx, req)


async def _write_tournament(
    request: Req, ctx: CallContext, tournament_id: str, data: w.LeaderboardRecordWrite
) -> w.LeaderboardRecord:
    req = w.WriteTournamentRecordRequest(tournament_id=tournament_id, record=data)
    return await calls.WRITE_TOURNAMENT_RECORD.run(node_of(request), ctx, req)


@route(calls.WRITE_TOURNAMENT_RECORD, "PUT")
async def write_tournament_record(
    request: Req, ctx: CallContext, tournament_id: str, data: w.LeaderboardRecordWrite
) -> w.LeaderboardRecord:
    """Submit a score to the tournament's active window."""
    return await _write_tournament(request, ctx, tournament_id, data)


@route(calls.WRITE_TOURNAMENT_RECORD, "POST")
async def write_tournament_record_post(
    request: Req, ctx: CallContext, tournament_id: str, data: w.LeaderboardRecordWrite
) -> w.LeaderboardRecord:
    """Submit a score to the tournament's active window (POST form)."""
    return await _write_tournament(request, ctx, tournament_id, data)


@route(calls.DELETE_TOURNAMENT_RECORD)
async def delete_tournament_record(request: Req, ctx: CallContext, tournament_id: str) -> Empty:
    """Delete the caller's record in the current period."""
    req = w.DeleteTournamentRecordRequest(tournament_id=tournament_id)
    return await calls.DELETE_TOURNAMENT_RECORD.run(node_of(request), ctx, req)


@route(calls.LIST_TOURNAMENT_RECORDS)
async def list_tournament_records(
    request: Req,
    ctx: CallContext,
    tournament_id: str,
    limit: Limit,
    cursor: Cursor,
    expiry: Expiry,
    owner_ids: OwnerIds,
) -> w.TournamentRecordList:
    """A page of tournament records in rank order and/or the records of `owner_ids`."""
    req = w.ListTournamentRecordsRequest(
        tournament_id=tournament_id, owner_ids=owner_ids or [], limit=limit, cursor=cursor, expiry=expiry
    )
    return await calls.LIST_TOURNAMENT_RECORDS.run(node_of(request), ctx, req)


@route(calls.LIST_TOURNAMENT_RECORDS_AROUND_OWNER)
async def list_tournament_records_around_owner(
    request: Req,
    ctx: CallContext,
    tournament_id: str,
    owner_id: str,
    limit: Limit,
    cursor: Cursor,
    expiry: Expiry,
) -> w.TournamentRecordList:
    """Tournament records around an owner's."""
    req = w.ListTournamentRecordsAroundOwnerRequest(
        tournament_id=tournament_id, owner_id=owner_id, limit=limit, cursor=cursor, expiry=expiry
    )
    return await calls.LIST_TOURNAMENT_RECORDS_AROUND_OWNER.run(node_of(request), ctx, req)


router = Router(
    path="/",
    route_handlers=[
        write_leaderboard_record, delete_leaderboard_record, list_leaderboard_records,
        list_leaderboard_records_around_owner, list_leaderboard_periods, list_tournament_periods,
        list_tournaments,
        join_tournament, write_tournament_record, write_tournament_record_post, delete_tournament_record,
        list_tournament_records, list_tournament_records_around_owner,
    ],
    dependencies={"ctx": Provide(session_context)},
    tags=["leaderboards"],
)  # fmt: skip
ROUTES = [router]
