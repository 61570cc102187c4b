"""Matches on the socket: the operations of match_create, match_join, match_leave and
match_data_send (declared in overworld.api.calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overworld.api.socket.errors import MATCH_JOIN_REJECTED, MATCH_NOT_FOUND, SocketError
from overworld.matches.service import MatchJoinRejected, MatchNotFound
from overworld.protocol import matches as wire
from overworld.protocol.base import int64
from overworld.realtime.connection import Connection

if TYPE_CHECKING:
    from overworld.services import Services


async def match_create(node: Services, conn: Connection, req: wire.MatchCreate) -> wire.Match:
    return await node.matches.create(conn, req.name)


async def match_join(node: Services, conn: Connection, req: wire.MatchJoin) -> wire.Match:
    try:
        return await node.matches.join(conn, req.match_id, req.token, req.metadata)
    except MatchNotFound as exc:
        raise SocketError(MATCH_NOT_FOUND, exc.message) from None
    except MatchJoinRejected as exc:
        raise SocketError(MATCH_JOIN_REJECTED, exc.message) from None


async def match_leave(node: Services, conn: Connection, req: wire.MatchLeave) -> None:
    node.matches.leave(conn, req.match_id)


async def match_data_send(node: Services, conn: Connection, req: wire.MatchDataSend) -> None:
    op_code = int64(req.op_code, "op_code")
    node.matches.send_data(conn, req.match_id, op_code, req.data, req.presences, req.reliable)
