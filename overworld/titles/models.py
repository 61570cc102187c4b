from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Title:
    id: str
    name: str
    server_key: str
    http_key: str
    token_secret: bytes
    refresh_secret: bytes
    disabled: bool = False
    # Keys replaced by a rotation, still accepted until `previous_keys_expire` (ms since the epoch).
    previous_server_key: str | None = None
    previous_http_key: str | None = None
    previous_keys_expire: int = 0
    region: str = ""  # data residency: only nodes of this region serve it ('': any node without a region)

    def __repr__(self) -> str:  # never print keys or secrets
        return f"Title(id={self.id!r}, name={self.name!r})"
