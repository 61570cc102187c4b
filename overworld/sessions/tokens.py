"""Session and refresh tokens: HS256 JWTs signed with per-title secrets.

Claims are the ones Nakama clients decode: `tid` (token id), `uid` (user id), `usn` (username),
`vrs` (session vars), `exp` and `iat`. The JWT header's `kid` names the title, so a server
hosting many titles knows which secret verifies a token before it trusts any claim.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jwt
import orjson

from overworld.titles.models import Title

_ALGORITHMS = ["HS256"]


@dataclass(frozen=True, slots=True)
class Claims:
    title_id: str
    token_id: str
    user_id: str
    username: str
    expires_at: int  # Unix seconds
    issued_at_us: int
    vars: dict[str, str] = field(default_factory=dict)


class TokenError(Exception):
    pass


def issue(
    title: Title, user_id: str, username: str, vars: dict[str, str], ttl_sec: int, refresh: bool
) -> str:
    return _signed(title, _payload(user_id, username, vars, ttl_sec), refresh)


def sign(
    title: Title, user_id: str, username: str, vars: dict[str, str], ttl_sec: int, refresh: bool
) -> tuple[str, Claims]:
    """A new token, and the claims `verify` will find in it."""
    payload = _payload(user_id, username, vars, ttl_sec)
    claims = Claims(
        title_id=title.id,
        token_id=payload["tid"],
        user_id=user_id,
        username=username,
        expires_at=payload["exp"],
        issued_at_us=payload["ius"],
        vars=dict(vars),
    )
    return _signed(title, payload, refresh), claims


def _payload(user_id: str, username: str, vars: dict[str, str], ttl_sec: int) -> dict[str, Any]:
    now_ns = time.time_ns()
    payload: dict[str, Any] = {
        "tid": _uuid4(),
        "uid": user_id,
        "usn": username,
        "exp": now_ns // 1_000_000_000 + ttl_sec,
        "iat": now_ns // 1_000_000_000,
        "ius": now_ns // 1_000,  # microseconds, for revocation cut-offs finer than a second
    }
    if vars:
        payload["vrs"] = vars
    return payload


def _signed(title: Title, payload: dict[str, Any], refresh: bool) -> str:
    secret = title.refresh_secret if refresh else title.token_secret
    # Signing is HMAC-SHA256 over base64url(header).base64url(payload), as RFC 7515 defines; done
    # here with orjson because PyJWT's stdlib-json encoder was a third of the cost of a sign-up.
    # Verification stays with PyJWT (`verify`), and the tests check PyJWT accepts these tokens.
    signing_input = _header(title.id) + b"." + _b64(orjson.dumps(payload))
    signature = _b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


def _uuid4() -> str:
    """A random (version 4) UUID string, as str(uuid.uuid4()) without building a UUID object."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


# The variant nibble (10xx): the two random bits that are left, as the hex digit 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=1024)
def _header(title_id: str) -> bytes:
    return _b64(orjson.dumps({"alg": "HS256", "kid": title_id, "typ": "JWT"}))


def title_id_of(token: str) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise TokenError("malformed token") from None
    if not isinstance(kid, str):
        raise TokenError("token names no title")
    return kid


def verify(title: Title, token: str, refresh: bool) -> Claims:
    secret = title.refresh_secret if refresh else title.token_secret
    try:
        data = jwt.decode(
            token, secret, algorithms=_ALGORITHMS, options={"require": ["exp", "tid", "uid", "iat"]}
        )
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from None
    vars_ = data.get("vrs") or {}
    if not isinstance(vars_, dict):
        raise TokenError("vars claim is not an object")
    # A validly signed token is still only as good as its claims' types (PyJWT checks exp and iat).
    issued_at_us = data.get("ius", int(data["iat"]) * 1_000_000)
    if type(issued_at_us) is not int:
        raise TokenError("ius claim is not an integer")
    for claim in ("tid", "uid"):
        if not isinstance(data[claim], str):
            raise TokenError(f"{claim} claim is not a string")
    return Claims(
        title_id=title.id,
        token_id=data["tid"],
        user_id=data["uid"],
        username=str(data.get("usn", "")),
        expires_at=int(data["exp"]),
        issued_at_us=issued_at_us,
        vars={str(k): str(v) for k, v in vars_.items()},
    )


class VerifiedTokenCache:
    """Remembers tokens whose signature already checked out, so a busy client's repeated calls
    skip the HMAC and JSON work. Expiry and revocation are still checked on every use."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._items: OrderedDict[str, Claims] = OrderedDict()
        self._capacity = capacity

    def get(self, token: str) -> Claims | None:
        claims = self._items.get(token)
        if claims is not None:
            self._items.move_to_end(token)
        return claims

    def put(self, token: str, claims: Claims) -> None:
        self._items[token] = claims
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def discard(self, token: str) -> None:
        self._items.pop(token, None)
