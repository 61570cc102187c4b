"""Nakama's party listing (`api/api.proto`: ListPartiesRequest, Party, PartyList), `GET /v2/party`."""

from __future__ import annotations

import msgspec

from overworld.protocol.base import Message


class ListPartiesRequest(Message):
    limit: int | None = None
    open: bool | None = None
    query: str | None = None
    cursor: str | None = None


class ApiParty(Message):
    """A listed party (api.Party)."""

    party_id: str = ""
    open: bool = False
    hidden: bool = False
    max_size: int = 0
    label: str = ""


class PartyList(Message):
    parties: list[ApiParty] = msgspec.field(default_factory=list)
    cursor: str = ""
