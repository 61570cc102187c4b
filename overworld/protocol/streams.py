"""Streams: what presences are tracked on and messages are delivered to.

A stream is identified as in Nakama by a mode and up to three strings, and here also by the
title, so that two titles can never share one.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class Mode(IntEnum):
    NOTIFICATIONS = 0
    STATUS = 1
    CHANNEL = 2
    GROUP = 3
    DM = 4
    MATCH_RELAYED = 5
    MATCH_AUTHORITATIVE = 6
    PARTY = 7


class Stream(NamedTuple):
    title_id: str
    mode: int
    subject: str = ""
    subcontext: str = ""
    label: str = ""


def notifications_stream(title_id: str, user_id: str) -> Stream:
    return Stream(title_id, Mode.NOTIFICATIONS, user_id)


def status_stream(title_id: str, user_id: str) -> Stream:
    return Stream(title_id, Mode.STATUS, user_id)
