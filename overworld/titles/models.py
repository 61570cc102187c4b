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

    def __repr__(self) -> str:  # never print keys or secrets
        return f"Title(id={self.id!r}, name={self.name!r})"
