"""Overworld: a self-hostable game backend that speaks the Nakama client protocol."""

__version__ = "0.1.0"
