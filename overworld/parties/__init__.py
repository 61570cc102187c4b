"""Parties: players grouped together while online, led by one of them."""
