"""Accounts: authentication by device, email or custom id, linking, profiles and users."""
