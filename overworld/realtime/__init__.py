"""The realtime socket: Nakama's `/ws` protocol, its sessions and the delivery of messages."""
