"""Argon2id password hashing, off the event loop on a small dedicated thread pool."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Two threads: hashing is CPU-bound and memory-hungry (64 MiB each with these parameters), so
# a burst of logins queues here instead of starving the rest of the server.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()  # RFC 9106 defaults: argon2id, t=3, m=64 MiB, p=4

    async def hash(self, password: str) -> bytes:
        loop = asyncio.get_running_loop()
        encoded: str = await loop.run_in_executor(_POOL, self._hasher.hash, password)
        return encoded.encode()

    async def verify(self, stored: bytes, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_POOL, self._check, stored, password)

    def _check(self, stored: bytes, password: str) -> bool:
        try:
            return self._hasher.verify(stored.decode(), password)
        except (VerificationError, InvalidHashError):
            return False
