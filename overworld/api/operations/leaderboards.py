"""Leaderboard and tournament client operations (as the calling user)."""

from __future__ import annotations

import msgspec

from overworld.api import convert
from overworld.context import CallContext
from overworld.errors import InvalidArgument, NotFound
from overworld.leaderboards.models import Leaderboard
from overworld.leaderboards.service import NOT_FOUND, check_board_id
from overworld.protocol import leaderboards as wire
from overworld.protocol.base import Empty
from overworld.services import Services

RECORD_REQUIRED = "Invalid input, record score value is required."


async def _board(node: Services, ctx: CallContext, board_id: str) -> Leaderboard:
    if not board_id:
        raise InvalidArgument("Invalid leaderboard ID.")
    check_board_id(board_id)
    b = await node.leaderboards.board(ctx.title.id, board_id)
    if b is None or b.tournament:
        raise NotFound(NOT_FOUND)
    return b


def _limit(limit: int | None, high: int) -> int | None:
    if limit is not None and not 1 <= limit <= high:
        raise InvalidArgument(f"Invalid limit - limit must be between 1 and {high}.")
    return limit


async def write_leaderboard_record(
    node: Services, ctx: CallContext, req: wire.WriteLeaderboardRecordRequest
) -> wire.LeaderboardRecord:
    if not req.leaderboard_id:
        raise InvalidArgument("Invalid leaderboard ID.")
    if req.record is None:
        raise InvalidArgument(RECORD_REQUIRED)
    r = req.record
    record = await node.leaderboards.write(
        ctx.title.id, req.leaderboard_id, ctx.user_id, ctx.user_id, ctx.username,
        r.score, r.subscore, r.metadata, wire.operator_value(r.operator),
    )  # fmt: skip
    return convert.record(record)


async def delete_leaderboard_record(
    node: Services, ctx: CallContext, req: wire.DeleteLeaderboardRecordRequest
) -> Empty:
    if not req.leaderboard_id:
        raise InvalidArgument("Invalid leaderboard ID.")
    await node.leaderboards.delete_record(ctx.title.id, req.leaderboard_id, ctx.user_id, ctx.user_id)
    return Empty()


async def list_leaderboard_records(
    node: Services, ctx: CallContext, req: wire.ListLeaderboardRecordsRequest
) -> wire.LeaderboardRecordList:
    b = await _board(node, ctx, req.leaderboard_id)
    limit = _limit(req.limit, 1000)
    if req.limit is not None and not (req.owner_ids or req.cursor or req.expiry):
        # The first page of the current period ("top 100"), from the service's short-lived cache.
        return await node.leaderboards.first_page(b, req.limit, convert.record_list, _own_copy)
    if limit is None and (not req.owner_ids or req.cursor):
        limit = 1
    page = await node.leaderboards.list_records(b, req.owner_ids, limit, req.cursor, req.expiry)
    return convert.record_list(page)


def _own_copy(page: wire.LeaderboardRecordList, rank_count: int | None) -> wire.LeaderboardRecordList:
    """A copy of a page down to its records (whose fields are immutable), so that an after hook
    changing the records of one caller's response never changes the cached page."""
    records = [msgspec.structs.replace(r) for r in page.records]
    counted = {} if rank_count is None else {"rank_count": convert.int64(rank_count)}
    return msgspec.structs.replace(page, records=records, **counted)


async def list_leaderboard_records_around_owner(
    node: Services, ctx: CallContext, req: wire.ListLeaderboardRecordsAroundOwnerRequest
) -> wire.LeaderboardRecordList:
    b = await _board(node, ctx, req.leaderboard_id)
    limit = _limit(req.limit, 100) or 1
    if not req.owner_id:
        raise InvalidArgument("Owner ID must be provided for a haystack query.")
    page = await node.leaderboards.around_owner(b, req.owner_id, limit, req.cursor, req.expiry)
    return convert.record_list(page)


async def list_leaderboard_periods(
    node: Services, ctx: CallContext, req: wire.ListLeaderboardPeriodsRequest
) -> wire.LeaderboardPeriodList:
    if not req.leaderboard_id:
        raise InvalidArgument("Invalid leaderboard ID.")
    periods = await node.leaderboards.periods(
        ctx.title.id, check_board_id(req.leaderboard_id), req.limit or 100, req.before or 0
    )
    return wire.LeaderboardPeriodList(periods=[convert.period(p) for p in periods])


# -- tournaments --------------------------------------------------------------------------------


async def list_tournaments(
    node: Services, ctx: CallContext, req: wire.ListTournamentsRequest
) -> wire.TournamentList:
    page = await node.tournaments.list_tournaments(
        ctx.title.id,
        0 if req.category_start is None else req.category_start,
        127 if req.category_end is None else req.category_end,
        -1 if req.start_time is None else req.start_time,
        -1 if req.end_time is None else req.end_time,
        100 if req.limit is None else req.limit,
        req.cursor,
    )
    return wire.TournamentList(
        tournaments=[convert.tournament(v) for v in page.tournaments], cursor=page.cursor
    )


async def join_tournament(node: Services, ctx: CallContext, req: wire.JoinTournamentRequest) -> Empty:
    await node.tournaments.join(ctx.title.id, req.tournament_id, ctx.user_id, ctx.username)
    return Empty()


async def write_tournament_record(
    node: Services, ctx: CallContext, req: wire.WriteTournamentRecordRequest
) -> wire.LeaderboardRecord:
    if not req.tournament_id:
        raise InvalidArgument("Tournament ID must be provided.")
    if req.record is None:
        raise InvalidArgument(RECORD_REQUIRED)
    r = req.record
    record = await node.tournaments.write(
        ctx.title.id, req.tournament_id, ctx.user_id, ctx.user_id, ctx.username,
        r.score, r.subscore, r.metadata, wire.operator_value(r.operator),
    )  # fmt: skip
    return convert.record(record)


async def delete_tournament_record(
    node: Services, ctx: CallContext, req: wire.DeleteTournamentRecordRequest
) -> Empty:
    if not req.tournament_id:
        raise InvalidArgument("Invalid tournament ID.")
    await node.tournaments.delete_record(ctx.title.id, req.tournament_id, ctx.user_id, ctx.user_id)
    return Empty()


async def list_tournament_records(
    node: Services, ctx: CallContext, req: wire.ListTournamentRecordsRequest
) -> wire.TournamentRecordList:
    if not req.tournament_id:
        raise InvalidArgument("Tournament ID must be provided")
    limit = _limit(req.limit, 100)
    if limit is None and (not req.owner_ids or not req.cursor):
        limit = 10
    page = await node.tournaments.list_records(
        ctx.title.id, req.tournament_id, req.owner_ids, limit, req.cursor, req.expiry
    )
    return convert.tournament_record_list(page)


async def list_tournament_records_around_owner(
    node: Services, ctx: CallContext, req: wire.ListTournamentRecordsAroundOwnerRequest
) -> wire.TournamentRecordList:
    if not req.tournament_id:
        raise InvalidArgument("Invalid tournament ID.")
    limit = _limit(req.limit, 100) or 100
    if not req.owner_id:
        raise InvalidArgument("Owner ID must be provided for a haystack query.")
    page = await node.tournaments.around_owner(
        ctx.title.id, req.tournament_id, req.owner_id, limit, req.cursor, req.expiry
    )
    return convert.tournament_record_list(page)
