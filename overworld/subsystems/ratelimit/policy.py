"""Which budgets a call spends: the rate limits of the settings, as bucket tables made once per
call and title.

Every REST call (by its name in the registry, `overworld.api.calls`) and every socket message
kind (`match_data_send`, `rpc`, ...; RPCs over REST count as `rpc` too) has a budget per address,
per user and per title: the scope's default (`rate_limit_address`, `rate_limit_user`,
`rate_limit_title`) unless `rate_limit_calls` overrides it for that call. A call spends one event
of each budget that applies (the user's only when there is one, the address's only when it is
known) in one atomic `RateLimiter.take_now` (or `take_in`, when the limiter must ask Redis first).
Each budget of a call in a title is a table of buckets of its own (`<title>:<scope>:<call>`, keyed
by the address or user id), so one title's traffic never spends another's budget.

Loopback addresses (127.0.0.0/8, ::1) have no address budget and no sign-up limit: they are this
machine, i.e. server-to-server callers or a reverse proxy on the same host that is not listed in
`trusted_proxies` (then every player would seem to come from it, and share one budget). Their
calls still spend the user's and the title's budgets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

from overworld.config import RATE_SCOPES, ConfigError, Rate, Settings, parse_rate
from overworld.errors import RateLimited, retry_after_seconds
from overworld.subsystems.ratelimit.base import Buckets, RateLimiter, Spend, address_key, spends_of

Rates = tuple[Rate | None, Rate | None, Rate | None]  # address, user, title
Tables = tuple[Buckets[Any] | None, Buckets[Any] | None, Buckets[Any] | None]  # the same, as tables
RATE_LIMITED = "Rate limit exceeded"
NO_LIMITER = "rate limits are off: no limiter to ask"


class RateLimits:
    def __init__(
        self,
        limiter: RateLimiter | None,
        defaults: Rates = (None, None, None),
        overrides: Mapping[str, Mapping[str, Rate | None]] | None = None,
        signups: Rate | None = None,
    ) -> None:
        self.limiter = limiter
        some = any(defaults) or any(r is not None for o in (overrides or {}).values() for r in o.values())
        self.enabled = limiter is not None and some  # False: `check` is never needed
        self._defaults = defaults
        self._overrides = dict(overrides or {})
        self._tables: dict[str, dict[str, Tables]] = {}  # call name -> title id -> its tables
        self._take_now = limiter.take_now if limiter is not None else _no_limiter
        self._where = _AddressKeys()
        self.signups = signups if limiter is not None else None

    @classmethod
    def disabled(cls) -> RateLimits:
        return cls(None)

    @classmethod
    def of(
        cls,
        settings: Settings,
        limiter: RateLimiter,
        names: Iterable[str],
        aliases: Mapping[str, str] | None = None,
    ) -> RateLimits:
        """The settings' limits. `names`: every call name and socket kind there is (an override
        for another name is a configuration error); `aliases`: other names of some of them (a
        socket call's name for its kind)."""
        known = set(names)
        aliases = aliases or {}
        overrides: dict[str, dict[str, Rate | None]] = {}
        for name, scopes in settings.rate_limit_calls.items():
            target = aliases.get(name, name)
            if target not in known:
                raise ConfigError(
                    f"setting rate_limit_calls: {name!r} is neither a call name (e.g."
                    " AuthenticateEmail) nor a socket message kind (e.g. match_data_send)"
                )
            entry = overrides.setdefault(target, {})
            for scope, text in scopes.items():
                entry[scope] = parse_rate(text)
        signups = parse_rate(settings.signup_limit_address)
        if not settings.rate_limits:
            return cls(limiter, signups=signups)
        defaults = (
            parse_rate(settings.rate_limit_address),
            parse_rate(settings.rate_limit_user),
            parse_rate(settings.rate_limit_title),
        )
        return cls(limiter, defaults, overrides, signups)

    def rates(self, name: str) -> Rates:
        """The (address, user, title) rates of the call or kind `name` (None: no limit)."""
        own = self._overrides.get(name, {})
        address, user, title = (
            own.get(scope, default) for scope, default in zip(RATE_SCOPES, self._defaults, strict=True)
        )
        return address, user, title

    def _new_tables(self, name: str, title_id: str) -> Tables:
        """The (address, user, title) bucket tables of the call or kind `name` in a title (None:
        no limit), from the limiter, kept for `spend` to find by name and title from then on."""
        limiter = self._limiter()
        address, user, title = (
            None if rate is None else limiter.buckets(f"{title_id}:{scope}:{name}", rate)
            for scope, rate in zip("aut", self.rates(name), strict=True)
        )
        found = self._tables.setdefault(name, {})[title_id] = (address, user, title)
        return found

    def spend(self, name: str, title_id: str, user_id: str, address: str) -> Awaitable[None] | None:
        """Spend one event of `name`'s budgets, or raise RateLimited (HTTP 429, Retry-After).
        Decided at once when the limiter can (None); otherwise the awaitable that decides:

            pending = limits.spend(...)
            if pending is not None:
                await pending
        """
        per_title = self._tables.get(name)
        tables = per_title.get(title_id) if per_title is not None else None
        if tables is None:
            tables = self._new_tables(name, title_id)
        by_address, by_user, by_title = tables
        where = ""
        if by_address is not None:
            where = self._where[address]
            if not where:  # no address, or a loopback one
                by_address = None
        if by_user is not None and not user_id:
            by_user = None
        if by_address is None and by_user is None and by_title is None:
            return None
        wait = self._take_now(by_address, where, by_user, user_id, by_title, "")
        if wait == 0.0:
            return None
        if wait is None:
            return self._take(name, spends_of(by_address, where, by_user, user_id, by_title, ""))
        raise _refused(name, wait)

    async def _take(self, name: str, spends: list[Spend]) -> None:
        wait = await self._limiter().take_in(spends)
        if wait > 0:
            raise _refused(name, wait)

    def _limiter(self) -> RateLimiter:
        """The limiter, for the paths that need one (reached only with rate limits on)."""
        if self.limiter is None:
            raise RuntimeError(NO_LIMITER)
        return self.limiter

    async def check(self, name: str, title_id: str, user_id: str, address: str) -> None:
        """`spend`, awaited."""
        if self.enabled:
            pending = self.spend(name, title_id, user_id, address)
            if pending is not None:
                await pending

    async def check_signup(self, title_id: str, address: str | None) -> None:
        """Spend one of the address's sign-ups (`signup_limit_address`), or raise RateLimited."""
        where = self._where[address] if address else ""
        if self.signups is None or not where:
            return
        wait = await self._limiter().take([(f"{title_id}:signup:{where}", self.signups)])
        if wait > 0:
            raise RateLimited(
                f"Too many accounts created from this address: retry in {retry_after_seconds(wait)} s", wait
            )


def _refused(name: str, wait: float) -> RateLimited:
    return RateLimited(f"{RATE_LIMITED} ({name}): retry in {retry_after_seconds(wait)} s", wait)


def _no_limiter(*_: object) -> float:
    raise RuntimeError(NO_LIMITER)


class _AddressKeys(dict[str, str]):
    """address -> the key its budgets count under (`address_key`), or "" for a loopback address
    (no address budget); worked out once per address (a plain lookup per request after that)."""

    def __missing__(self, address: str) -> str:
        try:
            loopback = ipaddress.ip_address(address).is_loopback
        except ValueError:
            loopback = False
        found = "" if loopback else address_key(address)
        if len(self) >= 65536:
            self.clear()
        self[address] = found
        return found
