"""The complete schema: importing this module registers every domain's tables."""

from overworld.accounts import tables as _accounts
from overworld.chat import tables as _chat  # noqa: F401
from overworld.db.metadata import metadata
from overworld.friends import tables as _friends  # noqa: F401
from overworld.groups import tables as _groups  # noqa: F401
from overworld.leaderboards import tables as _leaderboards  # noqa: F401
from overworld.live_events import tables as _live_events  # noqa: F401
from overworld.matchmaking import tables as _matchmaking  # noqa: F401
from overworld.notifications import tables as _notifications  # noqa: F401
from overworld.privacy import tables as _privacy  # noqa: F401
from overworld.sessions import tables as _sessions
from overworld.storage import tables as _storage
from overworld.titles import tables as _titles
from overworld.wallets import tables as _wallets  # noqa: F401

__all__ = ["metadata"]
_ = (_accounts, _sessions, _storage, _titles)
