"""Which keys a title's rows may be sealed under (`encryption_keys_used`: ids and fingerprints,
never keys), so a node without one of them refuses to start instead of failing on every row."""

from __future__ import annotations

from overworld.clock import now_ms
from overworld.db import Database
from overworld.titles.crypto import Encryption, KeyConfigError
from overworld.titles.models import Title

# The `encryption_keys_used` entry meaning: rows of the title may hold plaintext identifiers
# (written before its first key). Not a key id: those have at least one character.
PLAINTEXT = ""


async def used_keys(db: Database, title_id: str) -> dict[str, str]:
    """key id -> fingerprint of the keys the title's rows may be sealed under."""
    rows = await db.fetch(
        "SELECT key_id, fingerprint FROM encryption_keys_used WHERE title_id = $1", title_id
    )
    return {r["key_id"]: r["fingerprint"] for r in rows}


async def check_keys(db: Database, encryption: Encryption, titles: list[Title]) -> None:
    """Raise KeyConfigError (one line) if a title's rows may be sealed under a key that is not
    configured, or under a key with the same id but other bytes; then record each title's newest
    key, before anything is written with it."""
    for title in titles:
        keys = encryption.keys(title.id, title.name)
        used = await used_keys(db, title.id)
        for key_id, fingerprint in sorted(used.items()):
            if key_id == PLAINTEXT:
                continue
            if keys is None:
                raise KeyConfigError(
                    f"title {title.name!r} has rows encrypted under key {key_id!r}, and no key is"
                    " configured for it (setting encryption_keys)"
                )
            if key_id not in keys.key_ids:
                raise KeyConfigError(
                    f"title {title.name!r} has rows encrypted under key {key_id!r}, which is not in its"
                    f" keyring (configured: {', '.join(keys.key_ids)}; setting encryption_keys)"
                )
            if keys.check_value(key_id) != fingerprint:
                raise KeyConfigError(
                    f"title {title.name!r}: the configured key {key_id!r} is not the key of that id"
                    " its rows were encrypted with (setting encryption_keys)"
                )
        await record_current(db, encryption, title, used)


async def record_current(
    db: Database, encryption: Encryption, title: Title, used: dict[str, str] | None = None
) -> None:
    """Record the title's newest key as in use (a no-op if it is, or if the title has no key).
    With a first key for a title that has accounts, also record PLAINTEXT: its rows written
    before may hold plaintext identifiers until `overworld keys rotate` seals them. Tells the
    title's keys whether lookups must still try the plaintext."""
    keys = encryption.keys(title.id, title.name)
    if keys is None:
        return
    if used is None:
        used = await used_keys(db, title.id)
    if keys.current not in used:
        rows = [(keys.current, keys.check_value(keys.current) or "")]
        if not used and await db.fetchval("SELECT 1 FROM users WHERE title_id = $1 LIMIT 1", title.id):
            rows.append((PLAINTEXT, ""))
        for key_id, fingerprint in rows:
            await db.execute(
                "INSERT INTO encryption_keys_used (title_id, key_id, fingerprint, create_time)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                title.id,
                key_id,
                fingerprint,
                now_ms(),
            )
        used = await used_keys(db, title.id)
    keys.plaintext = PLAINTEXT in used


async def retire(db: Database, title_id: str, keep: str) -> int:
    """After a complete rotation: no row is sealed under another key than `keep` any more."""
    return await db.execute(
        "DELETE FROM encryption_keys_used WHERE title_id = $1 AND key_id <> $2", title_id, keep
    )
