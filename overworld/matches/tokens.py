"""Match tokens: what the matchmaker hands each matched player to join a relayed match.

A token is an HS256 JWT signed with the title's token secret, naming the match (`mid`) and
expiring after `ttl_sec`; `match_join` with a token joins that match on any node.
"""

from __future__ import annotations

import time

import jwt

from overworld.titles.models import Title

DEFAULT_TTL_SEC = 30


class MatchTokenError(Exception):
    pass


def issue(title: Title, match_id: str, ttl_sec: int = DEFAULT_TTL_SEC) -> str:
    claims = {"mid": match_id, "exp": int(time.time()) + ttl_sec, "kid": title.id}
    return jwt.encode(claims, title.token_secret, algorithm="HS256")


def verify(title: Title, token: str) -> str:
    """The match id in `token`; raises MatchTokenError when it is forged, expired or not a match token."""
    try:
        claims = jwt.decode(token, title.token_secret, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.PyJWTError as exc:
        raise MatchTokenError(f"Invalid match token: {exc}") from None
    match_id = claims.get("mid")
    if not isinstance(match_id, str) or not match_id or claims.get("kid") != title.id:
        raise MatchTokenError("Invalid match token")
    return match_id
