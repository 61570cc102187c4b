"""Tournaments: leaderboards with active windows, sizes, attempt limits and joins."""
