from overworld.subsystems.ranks.base import RankEntry, RankIndex
from overworld.subsystems.ranks.embedded import EmbeddedRankIndex

__all__ = ["EmbeddedRankIndex", "RankEntry", "RankIndex"]
