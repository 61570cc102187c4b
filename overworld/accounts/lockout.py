"""Lock out repeated failed logins, per account and per client address."""

from __future__ import annotations

from overworld.errors import ResourceExhausted
from overworld.subsystems.counters import Counters

LOCKED = "Too many failed login attempts, try again later."


class LoginLockout:
    def __init__(
        self, counters: Counters, account_failures: int, address_failures: int, window_sec: int
    ) -> None:
        self._counters = counters
        self._account_failures = account_failures
        self._address_failures = address_failures
        self._window = window_sec

    @staticmethod
    def _keys(title_id: str, account: str | None, address: str | None) -> tuple[str | None, str | None]:
        return (
            f"lock:acct:{title_id}:{account}" if account else None,
            f"lock:addr:{title_id}:{address}" if address else None,
        )

    async def check(self, title_id: str, account: str | None, address: str | None) -> None:
        account_key, address_key = self._keys(title_id, account, address)
        if account_key and await self._counters.get(account_key) >= self._account_failures:
            raise ResourceExhausted(LOCKED)
        if address_key and await self._counters.get(address_key) >= self._address_failures:
            raise ResourceExhausted(LOCKED)

    async def failed(self, title_id: str, account: str | None, address: str | None) -> None:
        account_key, address_key = self._keys(title_id, account, address)
        if account_key:
            await self._counters.incr(account_key, self._window)
        if address_key:
            await self._counters.incr(address_key, self._window)

    async def succeeded(self, title_id: str, account: str | None) -> None:
        account_key, _ = self._keys(title_id, account, None)
        if account_key:
            await self._counters.reset(account_key)
