"""SQL for accounts. Every statement names the title."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import structlog

from overworld.accounts.lookups import LookupBatcher
from overworld.accounts.models import Account, Device, User
from overworld.accounts.signups import SignupBatcher
from overworld.db import Database, IntegrityError, Row, SqlDialect, Tx
from overworld.db.database import Executor
from overworld.errors import Internal
from overworld.titles.crypto import DecryptionError, TitleKeys

log = structlog.get_logger(__name__)
USER_COLUMNS = (
    "id, username, display_name, avatar_url, lang_tag, location, timezone, metadata, edge_count,"
    " create_time, update_time"
)
_INSERT_USER = (
    "INSERT INTO users (title_id, id, username, lang_tag, metadata, email, password, custom_id,"
    " edge_count, create_time, update_time, email_sealed, custom_id_sealed)"
    " VALUES ($1, $2, $3, 'en', '{}', $4, $5, $6, 0, $7, $7, $8, $9)"
)
_INSERT_DEVICE = "INSERT INTO user_devices (title_id, id, user_id, id_sealed) VALUES ($1, $2, $3, $4)"
_DELETE_USER = "DELETE FROM users WHERE title_id = $1 AND id = $2"
_BY_DEVICE = (
    "SELECT u.id, u.username, u.disable_time FROM user_devices d JOIN users u"
    " ON u.title_id = d.title_id AND u.id = d.user_id WHERE d.title_id = $1 AND d.id = $2"
)
# The same for the (title id, identifier) pairs of a batch of lookups (accounts/lookups.py).
_BY_DEVICES = (
    "SELECT d.title_id AS lookup_title, d.id AS lookup_key, u.id, u.username, u.disable_time"
    " FROM user_devices d JOIN users u ON u.title_id = d.title_id AND u.id = d.user_id"
    " WHERE (d.title_id, d.id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
)
_BY_CUSTOM_IDS = (
    "SELECT title_id AS lookup_title, custom_id AS lookup_key, id, username, disable_time FROM users"
    " WHERE (title_id, custom_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
)
_BY_EMAIL = "SELECT id, username, disable_time, password FROM users WHERE title_id = $1 AND email = $2"
_BY_CUSTOM_ID = "SELECT id, username, disable_time FROM users WHERE title_id = $1 AND custom_id = $2"
# The columns `update` may set (their names are written into the statement).
UPDATABLE = frozenset(
    {"username", "display_name", "avatar_url", "lang_tag", "location", "timezone", "metadata"}
)
# The same, qualified for queries that join users as "u".
JOINED_USER_COLUMNS = ", ".join("u." + c.strip() for c in USER_COLUMNS.split(","))

# A users column holding a login identifier that can be linked and unlinked (devices have their own table).
IdentifierColumn = Literal["email", "custom_id"]

# Personal identifiers at rest (overworld/titles/crypto.py, docs/data-protection.md). For a title
# with a key, the identifier's own column (`users.email`, `users.custom_id`, `user_devices.id`)
# holds its blind index, which the unique indexes and the lookups use, and `<column>_sealed` its
# AES-GCM envelope (associated data: the title, the column, the owning user's id). For a title
# without a key, or a row written before the title had one, the column holds the plaintext and
# `<column>_sealed` is NULL. A lookup tries every form the value can have (`TitleKeys.lookups`):
# sign-ins one after the other, newest key first (one `=` probe when the title has one key and no
# plaintext rows left: an `IN` list costs SQLite ~5 us more per sign-in), the others in one query.
# On PostgreSQL, device and custom-id sign-ins are batched per turn of the event loop, every form
# of each in one query (accounts/lookups.py).
EMAIL = "users.email"
CUSTOM_ID = "users.custom_id"
DEVICE_ID = "user_devices.id"
_COLUMN_NAMES = {"email": EMAIL, "custom_id": CUSTOM_ID}


def stored(
    keys: TitleKeys | None, column: str, owner: str, value: str | None
) -> tuple[str | None, str | None]:
    """What to store for `value`: (lookup column, sealed column)."""
    if value is None or keys is None:
        return value, None
    return keys.index(column, value), keys.seal(column, owner, value)


def reveal(keys: TitleKeys | None, column: str, owner: str, lookup: str | None, sealed: str | None) -> str:
    """The identifier a row holds ('' if none); raises DecryptionError."""
    if sealed is None:
        return lookup or ""
    if keys is None:
        raise DecryptionError(f"{column}: the row is encrypted but the title has no key configured")
    return keys.open(column, owner, sealed)


def _match(keys: TitleKeys | None, column: str, value: str, first: int) -> tuple[str, tuple[str, ...]]:
    """A condition on the lookup column `column` (its SQL name) for `value`, its placeholders
    numbered from `first`, and their arguments."""
    sql_column = column.rsplit(".", 1)[1]
    if keys is None:
        return f"{sql_column} = ${first}", (value,)
    options = keys.lookups(column, value)
    marks = ", ".join(f"${first + i}" for i in range(len(options)))
    return f"{sql_column} IN ({marks})", options


@dataclass(frozen=True, slots=True)
class Identifiers:
    """A user's sign-in identifiers, in plaintext ('' / [] when none)."""

    email: str
    custom_id: str
    devices: list[str]
    device_vars: dict[str, str | None] = field(default_factory=dict)  # device id -> its vars (JSON)


def user_from_row(row: Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"] or "",
        avatar_url=row["avatar_url"] or "",
        lang_tag=row["lang_tag"] or "",
        location=row["location"] or "",
        timezone=row["timezone"] or "",
        metadata=row["metadata"] or "{}",
        edge_count=row["edge_count"],
        create_time=row["create_time"],
        update_time=row["update_time"],
    )


class AccountStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._signups = SignupBatcher(db) if db.sql.batch_writes else None
        self._devices = LookupBatcher(db, _BY_DEVICES) if db.sql.batch_writes else None
        self._custom_ids = LookupBatcher(db, _BY_CUSTOM_IDS) if db.sql.batch_writes else None

    # -- lookups used by authentication -------------------------------------------------------

    async def _first(
        self, sql: str, title_id: str, keys: TitleKeys | None, column: str, value: str
    ) -> Row | None:
        """The row `sql` finds for the first stored form of `value` that matches."""
        if keys is None:
            return await self._db.fetchrow(sql, title_id, value)
        for form in keys.forms(column, value):
            row = await self._db.fetchrow(sql, title_id, form)
            if row is not None:
                return row
        return None

    async def by_device(self, title_id: str, device_id: str, keys: TitleKeys | None = None) -> Row | None:
        if self._devices is not None:
            return await self._devices.find(
                title_id, keys.lookups(DEVICE_ID, device_id) if keys else (device_id,)
            )
        return await self._first(_BY_DEVICE, title_id, keys, DEVICE_ID, device_id)

    async def by_email(self, title_id: str, email: str, keys: TitleKeys | None = None) -> Row | None:
        return await self._first(_BY_EMAIL, title_id, keys, EMAIL, email)

    async def by_username(self, title_id: str, username: str) -> Row | None:
        return await self._db.fetchrow(
            "SELECT id, username, disable_time, password FROM users WHERE title_id = $1 AND username = $2",
            title_id,
            username,
        )

    async def by_custom_id(self, title_id: str, custom_id: str, keys: TitleKeys | None = None) -> Row | None:
        if self._custom_ids is not None:
            forms = keys.lookups(CUSTOM_ID, custom_id) if keys else (custom_id,)
            return await self._custom_ids.find(title_id, forms)
        return await self._first(_BY_CUSTOM_ID, title_id, keys, CUSTOM_ID, custom_id)

    async def login_state(self, title_id: str, user_id: str) -> Row | None:
        return await self._db.fetchrow(
            "SELECT id, username, disable_time FROM users WHERE title_id = $1 AND id = $2", title_id, user_id
        )

    # -- creation -------------------------------------------------------------------------------

    async def create(
        self,
        title_id: str,
        user_id: str,
        username: str,
        now: int,
        *,
        device_id: str | None = None,
        email: str | None = None,
        password: bytes | None = None,
        custom_id: str | None = None,
        keys: TitleKeys | None = None,
    ) -> None:
        """Insert a user (and its device) atomically; raises IntegrityError on any clash. The
        caller has looked the identifier up in every stored form (`by_*`): the unique indexes
        catch clashes between rows written under the same key."""
        insert_user = _INSERT_USER
        email, email_sealed = stored(keys, EMAIL, user_id, email)
        custom_id, custom_sealed = stored(keys, CUSTOM_ID, user_id, custom_id)
        device_id, device_sealed = stored(keys, DEVICE_ID, user_id, device_id)
        args: tuple[Any, ...] = (
            title_id, user_id, username, email, password, custom_id, now, email_sealed, custom_sealed,
        )  # fmt: skip
        if self._signups is not None and email is None:
            await self._signups.create(
                title_id, user_id, username, now, device_id, custom_id, device_sealed, custom_sealed
            )
        elif device_id is None:
            await self._db.execute(insert_user, *args)
        else:
            # Both rows or neither (SQLite: in one turn of the group commit, no SAVEPOINT).
            await self._db.write_steps(
                [
                    (insert_user, args, _DELETE_USER, (title_id, user_id)),
                    (_INSERT_DEVICE, (title_id, device_id, user_id, device_sealed), "", ()),
                ]
            )

    # -- reads ----------------------------------------------------------------------------------

    async def account(self, title_id: str, user_id: str, keys: TitleKeys | None = None) -> Account | None:
        rows = await self._db.fetch(
            f"SELECT {JOINED_USER_COLUMNS}, u.email, u.custom_id, u.verify_time, u.disable_time, u.wallet,"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " u.email_sealed, u.custom_id_sealed,"
            " d.id AS device_id, d.id_sealed AS device_sealed, d.vars AS device_vars"
            " FROM users u LEFT JOIN user_devices d"
            " ON d.title_id = u.title_id AND d.user_id = u.id WHERE u.title_id = $1 AND u.id = $2",
            title_id,
            user_id,
        )
        if not rows:
            return None
        first = rows[0]
        try:
            email = reveal(keys, EMAIL, user_id, first["email"], first["email_sealed"])
            custom_id = reveal(keys, CUSTOM_ID, user_id, first["custom_id"], first["custom_id_sealed"])
            devices = [
                Device(
                    id=reveal(keys, DEVICE_ID, user_id, r["device_id"], r["device_sealed"]),
                    vars=orjson.loads(r["device_vars"]) if r["device_vars"] else {},
                )
                for r in rows
                if r["device_id"] is not None
            ]
        except DecryptionError as exc:
            log.error("personal data of an account did not decrypt", title_id=title_id, user_id=user_id,
                      error=str(exc))  # fmt: skip
            raise Internal("The account's personal data could not be decrypted.") from None
        return Account(
            user=user_from_row(first),
            email=email,
            custom_id=custom_id,
            # Sorted here: an ORDER BY on the device id led SQLite's planner away from the user index.
            devices=sorted(devices, key=lambda d: d.id),
            verify_time=first["verify_time"],
            disable_time=first["disable_time"],
            wallet=first["wallet"],
        )

    async def identifiers(
        self, ex: Executor, title_id: str, user_id: str, keys: TitleKeys | None = None
    ) -> Identifiers | None:
        """The user's identifiers in plaintext (for an export, or the tombstones of an erasure:
        never read `users.email`, `users.custom_id` or `user_devices.id` directly, they may hold
        blind indexes); raises DecryptionError."""
        row = await ex.fetchrow(
            "SELECT email, email_sealed, custom_id, custom_id_sealed FROM users"
            " WHERE title_id = $1 AND id = $2",
            title_id,
            user_id,
        )
        if row is None:
            return None
        devices = await ex.fetch(
            "SELECT id, id_sealed, vars FROM user_devices WHERE title_id = $1 AND user_id = $2",
            title_id,
            user_id,
        )
        device_vars = {reveal(keys, DEVICE_ID, user_id, d["id"], d["id_sealed"]): d["vars"] for d in devices}
        return Identifiers(
            email=reveal(keys, EMAIL, user_id, row["email"], row["email_sealed"]),
            custom_id=reveal(keys, CUSTOM_ID, user_id, row["custom_id"], row["custom_id_sealed"]),
            devices=sorted(device_vars),
            device_vars=device_vars,
        )

    async def users_by_ids(self, title_id: str, ids: list[str]) -> list[User]:
        if not ids:
            return []
        marks = ", ".join(f"${i + 2}" for i in range(len(ids)))
        rows = await self._db.fetch(
            f"SELECT {USER_COLUMNS} FROM users WHERE title_id = $1 AND id IN ({marks})",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            *ids,
        )
        return [user_from_row(r) for r in rows]

    async def users_by_usernames(self, title_id: str, usernames: list[str]) -> list[User]:
        if not usernames:
            return []
        marks = ", ".join(f"${i + 2}" for i in range(len(usernames)))
        rows = await self._db.fetch(
            f"SELECT {USER_COLUMNS} FROM users WHERE title_id = $1 AND username IN ({marks})",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            *usernames,
        )
        return [user_from_row(r) for r in rows]

    # -- changes --------------------------------------------------------------------------------

    async def update(
        self, ex: Executor, title_id: str, user_id: str, fields: dict[str, Any], now: int
    ) -> int:
        """Change the user's fields (on the database, or in a transaction); returns the rows changed."""
        unknown = fields.keys() - UPDATABLE
        if unknown:  # the names go into the SQL text: never anything but these columns
            raise ValueError(f"not updatable user columns: {sorted(unknown)}")
        assignments = [f"{name} = ${i + 3}" for i, name in enumerate(fields)]
        assignments.append(f"update_time = ${len(fields) + 3}")
        return await ex.execute(
            f"UPDATE users SET {', '.join(assignments)} WHERE title_id = $1 AND id = $2",  # nosec B608 # column names checked against UPDATABLE; values bound as $n
            title_id,
            user_id,
            *fields.values(),
            now,
        )

    async def lock_identity(self, tx: Tx, title_id: str, user_id: str) -> Row | None:
        """Lock the user row for an identity change; returns its identifiers and device count."""
        row = await tx.fetchrow(
            f"SELECT id, email, custom_id FROM users WHERE title_id = $1 AND id = $2{self._db.sql.lock_rows}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            user_id,
        )
        if row is None:
            return None
        devices = await tx.fetchval(
            "SELECT count(*) FROM user_devices WHERE title_id = $1 AND user_id = $2", title_id, user_id
        )
        return {"email": row["email"], "custom_id": row["custom_id"], "devices": int(devices)}

    async def lock_for_deletion(self, tx: Tx, title_id: str, user_id: str) -> bool:
        """Lock the user row before a deletion removes the user's rows in every domain: a write
        holding the row (`hold_users`) finishes first, and one that comes later finds no user."""
        row = await tx.fetchrow(
            f"SELECT id FROM users WHERE title_id = $1 AND id = $2{self._db.sql.lock_rows}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            user_id,
        )
        return row is not None

    async def delete(self, tx: Tx, title_id: str, user_id: str) -> bool:
        await tx.execute("DELETE FROM user_devices WHERE title_id = $1 AND user_id = $2", title_id, user_id)
        return await tx.execute("DELETE FROM users WHERE title_id = $1 AND id = $2", title_id, user_id) == 1

    # -- linking (inside the service's transaction, after lock_identity) ----------------------------

    async def device_owner(
        self, tx: Tx, title_id: str, device_id: str, keys: TitleKeys | None = None
    ) -> str | None:
        """The id of the user the device is linked to, or None."""
        where, args = _match(keys, DEVICE_ID, device_id, 2)
        owner: str | None = await tx.fetchval(
            f"SELECT user_id FROM user_devices WHERE title_id = $1 AND {where}",  # nosec B608 # where is built from IdentifierColumn literals; values bound as $n
            title_id,
            *args,
        )
        return owner

    async def add_device(
        self,
        tx: Tx,
        title_id: str,
        device_id: str,
        user_id: str,
        vars: dict[str, str],
        keys: TitleKeys | None = None,
    ) -> None:
        """Link a device (its owner checked with `device_owner` first); raises IntegrityError if
        it is linked already."""
        lookup, sealed = stored(keys, DEVICE_ID, user_id, device_id)
        await tx.execute(
            "INSERT INTO user_devices (title_id, id, user_id, vars, id_sealed) VALUES ($1, $2, $3, $4, $5)",
            title_id,
            lookup,
            user_id,
            orjson.dumps(vars).decode() if vars else None,
            sealed,
        )

    async def touch(self, tx: Tx, title_id: str, user_id: str, now: int) -> None:
        """Set the user's update time (an UPDATE of users: the change feed sees it)."""
        await tx.execute(
            "UPDATE users SET update_time = $3 WHERE title_id = $1 AND id = $2",
            title_id,
            user_id,
            now,
        )

    async def remove_device(
        self, tx: Tx, title_id: str, device_id: str, user_id: str, keys: TitleKeys | None = None
    ) -> bool:
        """Unlink the device if it is linked to this user; False if it is not."""
        where, args = _match(keys, DEVICE_ID, device_id, 3)
        removed = await tx.execute(
            f"DELETE FROM user_devices WHERE title_id = $1 AND user_id = $2 AND {where}",  # nosec B608 # where is built from IdentifierColumn literals; values bound as $n
            title_id,
            user_id,
            *args,
        )
        return removed != 0

    async def set_identifier(
        self,
        tx: Tx,
        title_id: str,
        user_id: str,
        column: IdentifierColumn,
        value: str,
        now: int,
        password: bytes | None = None,
        keys: TitleKeys | None = None,
    ) -> None:
        """Link an email (with its password hash) or a custom id; raises IntegrityError if another
        user has it (in any stored form: the unique index sees only the same form)."""
        name = _COLUMN_NAMES[column]
        if keys is not None:
            where, match_args = _match(keys, name, value, 3)
            other = await tx.fetchval(
                f"SELECT id FROM users WHERE title_id = $1 AND id <> $2 AND {where}",  # nosec B608 # where is built from IdentifierColumn literals; values bound as $n
                title_id,
                user_id,
                *match_args,
            )
            if other is not None:
                raise IntegrityError(column)
        lookup, sealed = stored(keys, name, user_id, value)
        extra = ", password = $6" if password is not None else ""
        args: list[object] = [title_id, user_id, lookup, now, sealed]
        if password is not None:
            args.append(password)
        await tx.execute(
            f"UPDATE users SET {column} = $3, update_time = $4, {column}_sealed = $5{extra}"  # nosec B608 # column is an IdentifierColumn literal; values bound as $n
            " WHERE title_id = $1 AND id = $2",
            *args,
        )

    async def clear_identifier(
        self,
        tx: Tx,
        title_id: str,
        user_id: str,
        column: IdentifierColumn,
        value: str,
        now: int,
        keys: TitleKeys | None = None,
    ) -> bool:
        """Unlink the email (and its password) or custom id if the user has this one; False if not."""
        extra = ", password = NULL" if column == "email" else ""
        where, args = _match(keys, _COLUMN_NAMES[column], value, 4)
        changed = await tx.execute(
            f"UPDATE users SET {column} = NULL, {column}_sealed = NULL, update_time = $3{extra}"  # nosec B608 # column is an IdentifierColumn literal; values bound as $n
            f" WHERE title_id = $1 AND id = $2 AND {where}",
            title_id,
            user_id,
            now,
            *args,
        )
        return changed != 0


async def hold_users(tx: Tx, sql: SqlDialect, title_id: str, user_ids: Iterable[str]) -> set[str]:
    """The users of `user_ids` that exist, their rows held until `tx` ends: a concurrent account
    deletion waits for `tx` to commit (and then removes what it wrote), or, if it came first,
    the user is gone here. Every write of rows owned by a user calls this in its transaction, so
    nothing can be written for a deleted account, whatever its sessions still claim."""
    found: set[str] = set()
    for user_id in sorted(set(user_ids)):  # one order everywhere: no deadlocks between holders
        row = await tx.fetchrow(
            f"SELECT id FROM users WHERE title_id = $1 AND id = $2{sql.share_rows}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            user_id,
        )
        if row is not None:
            found.add(user_id)
    return found
