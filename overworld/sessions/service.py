"""Issue, verify, refresh and revoke sessions."""

from __future__ import annotations

import time
from dataclasses import dataclass

from overworld.context import CallContext
from overworld.errors import InvalidArgument, Unauthenticated
from overworld.sessions import tokens
from overworld.sessions.revocations import REFRESH, SESSION, Revocations
from overworld.sessions.tokens import Claims, TokenError, VerifiedTokenCache
from overworld.titles.models import Title
from overworld.titles.service import TitleService, wrong_region

TOKEN_INVALID = "Auth token invalid"  # noqa: S105  # nosec B105 # a message, not a secret
REFRESH_INVALID = "Refresh token invalid or expired."


@dataclass(frozen=True, slots=True)
class SessionPair:
    token: str
    refresh_token: str


class SessionService:
    def __init__(
        self, titles: TitleService, revocations: Revocations, session_ttl_sec: int, refresh_ttl_sec: int
    ) -> None:
        self._titles = titles
        self._revocations = revocations
        self.session_ttl_sec = session_ttl_sec
        self.refresh_ttl_sec = refresh_ttl_sec
        self._cache = VerifiedTokenCache()

    def issue(self, title: Title, user_id: str, username: str, vars: dict[str, str]) -> SessionPair:
        token, claims = tokens.sign(title, user_id, username, vars, self.session_ttl_sec, refresh=False)
        # The client's next call (often its socket's upgrade, right after signing in) finds the
        # claims here rather than verifying a signature this node has just made.
        self._cache.put(token, claims)
        return SessionPair(
            token=token,
            refresh_token=tokens.issue(title, user_id, username, vars, self.refresh_ttl_sec, refresh=True),
        )

    def authenticate(self, token: str) -> tuple[Title, Claims]:
        """The title and claims of a valid, unexpired, unrevoked session token."""
        claims = self._cache.get(token)
        if claims is None:
            try:
                title_id = tokens.title_id_of(token)
                title = self._titles.get(title_id)
                if title is None:
                    foreign = self._titles.foreign(title_id)
                    if foreign is not None:  # data residency: another region's nodes serve it
                        tokens.verify(foreign, token, refresh=False)
                        raise wrong_region(foreign, self._titles.region)
                    raise Unauthenticated(TOKEN_INVALID)
                claims = tokens.verify(title, token, refresh=False)
            except TokenError:
                raise Unauthenticated(TOKEN_INVALID) from None
            self._cache.put(token, claims)
        elif claims.expires_at <= time.time():
            self._cache.discard(token)
            raise Unauthenticated(TOKEN_INVALID)
        title = self._titles.get(claims.title_id)
        if title is None and (foreign := self._titles.foreign(claims.title_id)) is not None:
            raise wrong_region(foreign, self._titles.region)
        if title is None or title.disabled:
            raise Unauthenticated(TOKEN_INVALID)
        if self._revocations.is_revoked(title.id, claims.token_id, claims.user_id, claims.issued_at_us):
            raise Unauthenticated(TOKEN_INVALID)
        return title, claims

    async def use_refresh_token(self, title: Title, refresh_token: str) -> Claims:
        """Check a refresh token and revoke it, so it can be used once (rotation)."""
        try:
            if tokens.title_id_of(refresh_token) != title.id:
                raise Unauthenticated(REFRESH_INVALID)
            claims = tokens.verify(title, refresh_token, refresh=True)
        except TokenError:
            raise Unauthenticated(REFRESH_INVALID) from None
        if self._revocations.is_revoked(title.id, "", claims.user_id, claims.issued_at_us):
            raise Unauthenticated(REFRESH_INVALID)
        first_use = await self._revocations.revoke_token(
            title.id, claims.token_id, claims.user_id, claims.expires_at * 1000, REFRESH
        )
        if not first_use:
            raise Unauthenticated(REFRESH_INVALID)
        return claims

    def parse_refresh(self, title: Title, refresh_token: str) -> Claims | None:
        try:
            return tokens.verify(title, refresh_token, refresh=True)
        except TokenError:
            return None

    def parse_session(self, title: Title, token: str) -> Claims | None:
        try:
            return tokens.verify(title, token, refresh=False)
        except TokenError:
            return None

    async def logout(self, caller: CallContext, token: str, refresh_token: str) -> None:
        """End the given session (the caller's own when `token` is empty) and its refresh token.
        With neither token given, every session of the caller ends."""
        title = caller.title
        if not token and not refresh_token:
            await self.logout_everywhere(title, caller.user_id)
            return
        refresh = self.parse_refresh(title, refresh_token) if refresh_token else None
        if refresh_token and (refresh is None or refresh.user_id != caller.user_id):
            raise InvalidArgument("Refresh token invalid.")
        if token:
            session = self.parse_session(title, token)
            if session is None or session.user_id != caller.user_id:
                raise InvalidArgument("Session token invalid.")
            await self._revocations.revoke_token(
                title.id, session.token_id, session.user_id, session.expires_at * 1000, SESSION
            )
            self._cache.discard(token)
        else:
            await self._revocations.revoke_token(
                title.id, caller.token_id, caller.user_id, caller.session_expires_at * 1000, SESSION
            )
        if refresh is not None:
            await self._revocations.revoke_token(
                title.id, refresh.token_id, refresh.user_id, refresh.expires_at * 1000, REFRESH
            )

    async def logout_everywhere(self, title: Title, user_id: str) -> None:
        lifetime_ms = max(self.session_ttl_sec, self.refresh_ttl_sec) * 1000
        await self._revocations.revoke_user(title.id, user_id, lifetime_ms)
