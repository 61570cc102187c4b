"""Data protection: a player's data exported, erased, their consents recorded, and each title's
retention policies applied (docs/data-protection.md)."""
