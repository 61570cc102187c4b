"""The protocol layer: Nakama's wire messages and the HTTP (and later socket) adapters."""
