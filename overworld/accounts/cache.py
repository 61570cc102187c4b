"""A bounded in-memory cache of accounts, by (title id, user id).

The database stays the source of truth; the cache only saves the read of `GET /v2/account` and
of a session refresh. It learns of changes in two ways:

- the account service drops an entry itself right after each of its own writes (update, link,
  unlink, delete), so a caller always reads its own write on this node;
- the database's change feed (`Database.watch_accounts`) tells every node of every committed
  change to a user row or its devices, whoever wrote it (the friends service changes
  `edge_count`, other nodes change anything): PostgreSQL sends a NOTIFY from a trigger at commit
  (migration 0007), SQLite calls back after its group commit.

In a cluster the service also drops the entry on every peer before it answers a write
(accounts/peers.py): the feed alone may reach another node after the client's next request.

A read that started before an invalidation never fills the cache with what it read (`epoch`), and
while the feed is down (its PostgreSQL connection was lost) nothing is cached at all.
"""

from __future__ import annotations

from collections import OrderedDict

from overworld.accounts.models import Account

Key = tuple[str, str]


class AccountCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Key, Account] = OrderedDict()
        self._epoch = 0  # bumped by every invalidation
        self._live = size > 0
        self.hits = 0
        self.misses = 0

    def get(self, title_id: str, user_id: str) -> Account | None:
        account = self._entries.get((title_id, user_id))
        if account is None:
            self.misses += 1
            return None
        self._entries.move_to_end((title_id, user_id))
        self.hits += 1
        return account

    @property
    def epoch(self) -> int:
        """Take this before reading from the database and give it to `put`."""
        return self._epoch

    def put(self, title_id: str, user_id: str, account: Account, epoch: int) -> None:
        if not self._live or epoch != self._epoch:
            return  # an invalidation happened while the row was read: it may be stale
        self._entries[(title_id, user_id)] = account
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    # -- the change feed (overworld.db.database.AccountChanges) ------------------------------------

    def changed(self, title_id: str, user_id: str) -> None:
        self._epoch += 1
        self._entries.pop((title_id, user_id), None)

    def feed(self, live: bool) -> None:
        """The change feed stopped (False: forget everything, cache nothing) or is back (True)."""
        self._epoch += 1
        self._entries.clear()
        self._live = live and self.size > 0

    def __len__(self) -> int:
        return len(self._entries)
