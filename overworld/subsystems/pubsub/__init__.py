from overworld.subsystems.pubsub.base import Handler, PubSub
from overworld.subsystems.pubsub.embedded import EmbeddedPubSub

__all__ = ["EmbeddedPubSub", "Handler", "PubSub"]
