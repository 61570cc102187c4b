"""Encryption at rest of personal fields: AES-256-GCM envelopes and keyed blind indexes.

Keys come from the settings (`encryption_keys`: per title name, or `*` for every other title, a
keyring given inline or in a file), never from the database. A keyring is one or more 32-byte
master keys, each with an id, newest first: the newest seals new values, the others still open
values sealed before a rotation (`overworld keys rotate` moves every row to the newest).

From each master key two keys are derived per title with HKDF-SHA256 (the title id in `info`):
one for AES-256-GCM, one for the HMAC-SHA256 blind indexes. A title's data is therefore sealed
under keys of its own even when titles share the default keyring, and the index key is never
the encryption key.

- A sealed value is `v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, with a random 96-bit
  nonce; the associated data is the title id, the column's name and the owning row's id, so a
  value copied into another row, column or title fails to open.
- A blind index is `<key id> <base64url(HMAC-SHA256(index key, column ‖ value)[:16])>`: 128 bits,
  enough to keep unrelated values apart in a unique index, and it says nothing of the value
  without the key. It contains a space, which no device id, custom id or email may contain, so an
  identifier stored in plaintext (before a first key) is never mistaken for an index.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ENVELOPE_VERSION = "v1"
DEFAULT_TITLE = "*"  # the `encryption_keys` entry for titles not listed by name
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
KEY_BYTES = 32
NONCE_BYTES = 12
INDEX_BYTES = 16


class KeyConfigError(ValueError):
    """A keyring setting or key file is malformed (the message names where)."""


class DecryptionError(Exception):
    """A sealed value did not open: tampered, moved to another row, or sealed under another key."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    id: str
    secret: bytes = field(repr=False)


def _b64decode(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def parse_keyring(text: str, where: str) -> list[MasterKey]:
    """`id:base64,id:base64` (or one per line, `#` comments), newest first; each key 32 bytes."""
    keys: list[MasterKey] = []
    entries = [e.strip() for line in text.splitlines() for e in line.split("#", 1)[0].split(",")]
    for entry in entries:
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID.match(key_id):
            raise KeyConfigError(
                f"{where}: expected id:base64-key entries (id: 1-32 letters, digits, '_', '-', '.'),"
                f" got {entry[:12]!r}..."
            )
        try:
            secret = _b64decode(encoded)
        except ValueError:
            raise KeyConfigError(f"{where}: key {key_id!r} is not base64") from None
        if len(secret) != KEY_BYTES:
            raise KeyConfigError(
                f"{where}: key {key_id!r} is {len(secret)} bytes, must be {KEY_BYTES}"
                " (generate one with `overworld keys generate`)"
            )
        if any(k.id == key_id for k in keys):
            raise KeyConfigError(f"{where}: key id {key_id!r} appears twice")
        keys.append(MasterKey(key_id, secret))
    if not keys:
        raise KeyConfigError(f"{where}: no key given")
    return keys


def load_keyring(spec: str, where: str) -> list[MasterKey]:
    """A keyring setting's value: `file:/path/to/keyring` or the keyring inline."""
    if spec.startswith("file:"):
        path = Path(spec[5:])
        try:
            text = path.read_text()
        except OSError as exc:
            raise KeyConfigError(f"{where}: cannot read key file {str(path)!r}: {exc.strerror}") from None
        return parse_keyring(text, f"{where} (key file {str(path)!r})")
    return parse_keyring(spec, where)


def new_key_entry(key_id: str) -> str:
    """A fresh keyring entry, `id:base64`."""
    if not KEY_ID.match(key_id):
        raise KeyConfigError(f"key id {key_id!r}: 1-32 letters, digits, '_', '-' or '.'")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def _derive(secret: bytes, purpose: str, title_id: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=f"overworld/{purpose}/{title_id}".encode())  # fmt: skip
    return hkdf.derive(secret)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Hmac:
    """HMAC-SHA256 (RFC 2104) under one key, its padded key's hash states computed once: half the
    cost of `hmac.new` per digest on the sign-in path (checked against `hmac` in the tests)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = key.ljust(64, b"\0")  # keys here are 32 bytes: shorter than SHA-256's block
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class TitleKeys:
    """One title's derived keys; the AESGCM objects are built once and reused."""

    __slots__ = ("_aead", "_checks", "_index", "current", "key_ids", "plaintext", "title_id")

    def __init__(self, title_id: str, ring: list[MasterKey]) -> None:
        self.title_id = title_id
        self.current = ring[0].id
        self.key_ids = tuple(k.id for k in ring)
        # Whether rows written before the title had a key may still hold plaintext identifiers
        # (keys_used.py knows; until told, assume they may).
        self.plaintext = True
        self._aead = {k.id: AESGCM(_derive(k.secret, "data", title_id)) for k in ring}
        self._index = {k.id: _Hmac(_derive(k.secret, "index", title_id)) for k in ring}
        # A fingerprint of each key (no use to an attacker): tells a wrong key from a missing one.
        self._checks = {k.id: hmac.new(_derive(k.secret, "check", title_id), b"check", hashlib.sha256)
                        .hexdigest()[:16] for k in ring}  # fmt: skip

    def check_value(self, key_id: str) -> str | None:
        return self._checks.get(key_id)

    def _aad(self, column: str, row_id: str) -> bytes:
        return f"{self.title_id}\0{column}\0{row_id}".encode()

    def seal(self, column: str, row_id: str, value: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.current].encrypt(nonce, value.encode(), self._aad(column, row_id))
        return f"{ENVELOPE_VERSION}:{self.current}:{_b64(nonce + sealed)}"

    def open(self, column: str, row_id: str, envelope: str) -> str:
        version, _, rest = envelope.partition(":")
        key_id, _, body = rest.partition(":")
        if version != ENVELOPE_VERSION:
            raise DecryptionError(f"{column}: unknown envelope version {version[:8]!r}")
        aead = self._aead.get(key_id)
        if aead is None:
            raise DecryptionError(f"{column}: sealed under key {key_id!r}, which is not configured")
        try:
            data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise DecryptionError(f"{column}: malformed sealed value") from None
        try:
            plain = aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], self._aad(column, row_id))
        except InvalidTag:
            raise DecryptionError(
                f"{column}: sealed value failed its integrity check (tampered, moved from another"
                f" row, or key {key_id!r} is not the key it was sealed with)"
            ) from None
        return plain.decode()

    def index(self, column: str, value: str, key_id: str | None = None) -> str:
        """The blind index of `value` under `key_id` (the newest key by default)."""
        kid = key_id or self.current
        digest = self._index[kid].digest(f"{column}\0{value}".encode())
        return f"{kid} {_b64(digest[:INDEX_BYTES])}"

    def forms(self, column: str, value: str) -> Iterator[str]:
        """What a row holding `value` may have in its lookup column, each computed when asked:
        the index under each key, newest first, then the plaintext if rows from before the title
        had a key may remain."""
        for key_id in self.key_ids:
            yield self.index(column, value, key_id)
        if self.plaintext:
            yield value

    def lookups(self, column: str, value: str) -> tuple[str, ...]:
        """Every one of `forms`."""
        return tuple(self.forms(column, value))


def key_id_of(envelope: str) -> str:
    """The key id a sealed value names ('' if malformed)."""
    parts = envelope.split(":", 2)
    return parts[1] if len(parts) == 3 else ""


class Encryption:
    """The keyrings of the settings, per title (by name, else the default), derived per title id
    on first use and cached."""

    def __init__(self, rings: Mapping[str, list[MasterKey]]) -> None:
        self._rings = dict(rings)
        self._by_title: dict[str, TitleKeys | None] = {}

    @classmethod
    def from_settings(cls, encryption_keys: Mapping[str, str]) -> Encryption:
        rings = {
            name: load_keyring(spec, f"setting 'encryption_keys' [{name!r}]")
            for name, spec in encryption_keys.items()
        }
        return cls(rings)

    @property
    def enabled(self) -> bool:
        return bool(self._rings)

    def ring_of(self, title_name: str) -> list[MasterKey] | None:
        return self._rings.get(title_name) or self._rings.get(DEFAULT_TITLE)

    def keys(self, title_id: str, title_name: str) -> TitleKeys | None:
        """The title's keys, or None: its personal fields are stored in plaintext."""
        try:
            return self._by_title[title_id]
        except KeyError:
            pass
        ring = self.ring_of(title_name)
        keys = TitleKeys(title_id, ring) if ring else None
        self._by_title[title_id] = keys
        return keys
