"""The matchmaker: tickets, queries, skill ratings and the matching pass."""
