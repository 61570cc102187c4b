"""Who follows whom, for the sockets on this node.

Follows belong to a socket session and end with it, as in Nakama. Status changes themselves are
presences on each user's status stream, replicated by the tracker; each node tells its own
followers about them.
"""

from __future__ import annotations


class StatusFollows:
    def __init__(self, max_per_session: int = 1000) -> None:
        self.max_per_session = max_per_session
        self._followers: dict[tuple[str, str], set[str]] = {}  # (title, user) -> session ids
        self._following: dict[str, set[tuple[str, str]]] = {}  # session id -> (title, user)

    def follow(self, session_id: str, title_id: str, user_ids: list[str]) -> list[str]:
        """Follow users (up to the limit); returns the ids followed by this call or before."""
        following = self._following.setdefault(session_id, set())
        done = []
        for user_id in user_ids:
            key = (title_id, user_id)
            if key not in following:
                if len(following) >= self.max_per_session:
                    break
                following.add(key)
                self._followers.setdefault(key, set()).add(session_id)
            done.append(user_id)
        return done

    def unfollow(self, session_id: str, title_id: str, user_ids: list[str]) -> None:
        following = self._following.get(session_id)
        if not following:
            return
        for user_id in user_ids:
            key = (title_id, user_id)
            if key in following:
                following.discard(key)
                self._drop_follower(key, session_id)

    def drop(self, session_id: str) -> None:
        for key in self._following.pop(session_id, ()):
            self._drop_follower(key, session_id)

    def _drop_follower(self, key: tuple[str, str], session_id: str) -> None:
        followers = self._followers.get(key)
        if followers is not None:
            followers.discard(session_id)
            if not followers:
                del self._followers[key]

    def followers_of(self, title_id: str, user_id: str) -> set[str]:
        return self._followers.get((title_id, user_id), set())
