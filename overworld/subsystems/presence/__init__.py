from overworld.subsystems.presence.base import Presence, PresenceListener, PresenceMeta, Tracker
from overworld.subsystems.presence.embedded import EmbeddedTracker

__all__ = ["EmbeddedTracker", "Presence", "PresenceListener", "PresenceMeta", "Tracker"]
