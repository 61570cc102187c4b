"""Leaderboards and tournaments: records, ranks, resets and archives of past periods."""
