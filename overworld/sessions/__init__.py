"""Sessions: signed session and refresh tokens, refresh with rotation, logout and revocation."""
