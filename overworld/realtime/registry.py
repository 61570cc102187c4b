"""The sockets connected to this node, by session id and by user."""

from __future__ import annotations

from collections.abc import Iterator

from overworld.realtime.connection import Connection


class Registry:
    def __init__(self) -> None:
        self._sessions: dict[str, Connection] = {}
        self._by_user: dict[tuple[str, str], dict[str, Connection]] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._sessions.values()))

    def add(self, conn: Connection) -> None:
        self._sessions[conn.id] = conn
        self._by_user.setdefault((conn.title_id, conn.user_id), {})[conn.id] = conn

    def remove(self, conn: Connection) -> None:
        self._sessions.pop(conn.id, None)
        key = (conn.title_id, conn.user_id)
        of_user = self._by_user.get(key)
        if of_user is not None:
            of_user.pop(conn.id, None)
            if not of_user:
                del self._by_user[key]

    def get(self, session_id: str) -> Connection | None:
        return self._sessions.get(session_id)

    def of_user(self, title_id: str, user_id: str) -> list[Connection]:
        """The user's sockets on this node, oldest first."""
        return list(self._by_user.get((title_id, user_id), {}).values())
