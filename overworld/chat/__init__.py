"""Chat: room, group and direct channels on the socket, with persisted history over REST."""
