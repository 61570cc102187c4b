"""Titles: the games hosted by one deployment, each with its own keys, secrets and data."""
