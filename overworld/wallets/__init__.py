"""Wallets (per account, many currencies), their ledger and multi-updates, as in Nakama."""
