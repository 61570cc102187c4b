from overworld.subsystems.counters.base import Counters
from overworld.subsystems.counters.embedded import EmbeddedCounters

__all__ = ["Counters", "EmbeddedCounters"]
