"""Multiplayer matches: relayed and authoritative (Python handlers), on the node that runs them."""
