"""The complete schema: importing this module registers every domain's tables."""

from overworld.accounts import tables as _accounts
from overworld.db.metadata import metadata
from overworld.sessions import tables as _sessions
from overworld.storage import tables as _storage
from overworld.titles import tables as _titles

__all__ = ["metadata"]
_ = (_accounts, _sessions, _storage, _titles)
