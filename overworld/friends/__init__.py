"""Friends: two directed edges per relationship, invitations, blocking (Nakama's friend graph)."""
