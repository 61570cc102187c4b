"""Account operations. Callers pass an already-resolved title; nothing here knows about HTTP."""

from __future__ import annotations

import asyncio
import os
import secrets
import string
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from overworld.accounts import validation as check
from overworld.accounts.cache import AccountCache
from overworld.accounts.lockout import Attempt, LoginLockout, account_counter
from overworld.accounts.models import Account, AccountUpdate, Device, User
from overworld.accounts.passwords import Passwords
from overworld.accounts.peers import PeerCaches
from overworld.accounts.store import AccountStore, IdentifierColumn, Identifiers
from overworld.clock import now_ms
from overworld.db import Database, IntegrityError, Row, Tx
from overworld.db.database import Executor
from overworld.errors import (
    AlreadyExists,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from overworld.sessions.service import SessionService
from overworld.titles.crypto import DecryptionError, Encryption, TitleKeys
from overworld.titles.models import Title

log = structlog.get_logger(__name__)
NOT_FOUND = "User account not found."
BANNED = "User account banned."
BAD_CREDENTIALS = "Invalid credentials."
USERNAME_TAKEN = "Username is already in use."
LAST_IDENTIFIER = "Cannot unlink last account identifier. Check profile exists and is not last link."
MAX_USERS_PER_CALL = 100
_LETTERS = string.ascii_letters
_LOW62 = (1 << 62) - 1

DeletionStep = Callable[[Tx, str, str], Awaitable[None]]
# Told of each sign-up before the account is made (title, device id, custom id, email): raises to
# refuse it (an erased account's identifiers, overworld/privacy).
SignupGuard = Callable[[Title, str | None, str | None, str | None], Awaitable[None]]
# Told of each new account: title, user id, username, how it was made ("device", "email", "custom").
CreatedCallback = Callable[[Title, str, str, str], None]
# (title id, address or None) -> None, or raises RateLimited: the sign-up limit per address.
SignupLimit = Callable[[str, str | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AuthResult:
    user_id: str
    username: str
    created: bool


def new_user_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Time-ordered ids
    make new rows land on the right-most pages of the primary-key B-trees instead of anywhere
    (measured on SQLite: 86 -> 68 us per sign-up); the creation time they reveal is public anyway
    (`create_time`)."""
    rand = int.from_bytes(os.urandom(10), "big")
    n = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | rand & _LOW62
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _generated_username() -> str:
    # 10 letters from 52: about 57 bits. The modulo bias of 256 % 52 is irrelevant for a name.
    return "".join(_LETTERS[b % 52] for b in secrets.token_bytes(10))


class AccountService:
    def __init__(
        self,
        db: Database,
        sessions: SessionService,
        lockout: LoginLockout,
        passwords: Passwords | None = None,
        cache_size: int = 0,
        encryption: Encryption | None = None,
        signup_limit: SignupLimit | None = None,
    ) -> None:
        self._db = db
        self._encryption = encryption or Encryption({})
        self._store = AccountStore(db)
        self.cache = AccountCache(cache_size)
        self._sessions = sessions
        self._lockout = lockout
        self._passwords = passwords or Passwords()
        self._signup_limit = signup_limit
        self._deletion_steps: list[DeletionStep] = []
        self._created_callbacks: list[CreatedCallback] = []
        self._signup_guards: list[SignupGuard] = []
        self._peers: PeerCaches | None = None

    async def start(self) -> None:
        """Subscribe the account cache to the database's change feed (needs a running loop)."""
        if self.cache.size > 0:
            await self._db.watch_accounts(self.cache)

    def tell_peers(self, peers: PeerCaches) -> None:
        """In a cluster: tell the other nodes' caches of each account write before answering it."""
        self._peers = peers

    def on_delete(self, step: DeletionStep) -> None:
        """Register a step that removes a domain's rows of a deleted user, in the same transaction."""
        self._deletion_steps.append(step)

    def guard_signups(self, guard: SignupGuard) -> None:
        """Register a check run before each account is created, which may refuse it by raising."""
        self._signup_guards.append(guard)

    def on_created(self, callback: CreatedCallback) -> None:
        """Register a function told of every account created; it must return at once (start
        background work for anything slow) and its errors are logged, never seen by the caller."""
        self._created_callbacks.append(callback)

    def _keys(self, title: Title) -> TitleKeys | None:
        """The title's encryption keys (None: its personal fields are stored in plaintext)."""
        return self._encryption.keys(title.id, title.name)

    async def identifiers(self, ex: Executor, title: Title, user_id: str) -> Identifiers | None:
        """The user's email, custom id and device ids in plaintext, decrypted if sealed (on the
        database or in the caller's transaction); None if there is no such user. For an export or
        an erasure's tombstones: other domains never read those columns themselves."""
        try:
            return await self._store.identifiers(ex, title.id, user_id, self._keys(title))
        except DecryptionError as exc:
            log.error("personal data of an account did not decrypt", title=title.name, user_id=user_id,
                      error=str(exc))  # fmt: skip
            raise Internal("The account's personal data could not be decrypted.") from None

    def lockout_counter(self, title: Title, account: str) -> str:
        """The name of the lockout counter of `account` (an email, or `username:<name>`), as
        this title names it (a blind index when it has a key): what an erasure resets."""
        return account_counter(title.id, account, self._hider(title))

    def _hider(self, title: Title) -> Callable[[str], str] | None:
        """What names the lockout's counters for this title: blind indexes when it has a key."""
        keys = self._keys(title)
        if keys is None:
            return None
        return lambda value: keys.index("lockout", value).replace(" ", ":")

    # -- authentication ---------------------------------------------------------------------------

    async def authenticate_device(
        self, title: Title, device_id: str, create: bool, username: str = "", address: str | None = None
    ) -> AuthResult:
        device_id = check.device_id(device_id)
        keys = self._keys(title)
        return await self._authenticate_by_identifier(
            title,
            lambda: self._store.by_device(title.id, device_id, keys),
            create,
            username,
            address,
            device_id=device_id,
            custom_id=None,
        )

    async def authenticate_custom(
        self, title: Title, custom_id: str, create: bool, username: str = "", address: str | None = None
    ) -> AuthResult:
        custom_id = check.custom_id(custom_id)
        keys = self._keys(title)
        return await self._authenticate_by_identifier(
            title,
            lambda: self._store.by_custom_id(title.id, custom_id, keys),
            create,
            username,
            address,
            device_id=None,
            custom_id=custom_id,
        )

    async def _authenticate_by_identifier(
        self,
        title: Title,
        lookup: Callable[[], Awaitable[Row | None]],
        create: bool,
        username: str,
        address: str | None,
        device_id: str | None,
        custom_id: str | None,
    ) -> AuthResult:
        """Log in with an identifier that is its own proof (device id, custom id), or sign up."""
        row = await lookup()
        if row is not None:
            return self._existing(row)
        if not create:
            await self._lockout.failed(title.id, address, self._hider(title))
            raise NotFound(NOT_FOUND)
        try:
            return await self._create(
                title, username, device_id=device_id, custom_id=custom_id, address=address
            )
        except _IdentifierTaken:  # created by a concurrent request with the same identifier
            row = await lookup()
            if row is None:
                raise
            return self._existing(row)

    async def authenticate_email(
        self,
        title: Title,
        email: str,
        password: str,
        create: bool,
        username: str = "",
        address: str | None = None,
    ) -> AuthResult:
        """Sign up or log in by email and password. Without an email, as in Nakama, a log-in by
        `username` and password (never a sign-up: `create` is ignored)."""
        if not email:
            return await self._username_login(title, username, password, address)
        email = check.email(email)
        password = check.password(password)
        attempt = await self._lockout.attempt(title.id, email, address, self._hider(title))
        row = await self._store.by_email(title.id, email, self._keys(title))
        if row is not None:
            return await self._password_login(row, password, attempt)
        if not create:
            await self._lockout.failed_guess(attempt)
            raise NotFound(NOT_FOUND)  # the reserved guess counts: it told whether the email exists
        await self._lockout.not_a_guess(attempt)
        hashed = await self._passwords.hash(password)
        try:
            return await self._create(title, username, email=email, password=hashed, address=address)
        except _IdentifierTaken:
            raise AlreadyExists("Email address is already in use.") from None

    async def _username_login(
        self, title: Title, username: str, password: str, address: str | None
    ) -> AuthResult:
        password = check.password(password)
        if not username:
            raise InvalidArgument("Username is required when email address is not supplied.")
        username = check.username(username)
        account = f"username:{username}"  # the lockout's key for this account ("@" marks emails)
        attempt = await self._lockout.attempt(title.id, account, address, self._hider(title))
        row = await self._store.by_username(title.id, username)
        if row is None:
            await self._lockout.failed_guess(attempt)
            raise NotFound(NOT_FOUND)
        return await self._password_login(row, password, attempt)

    async def _password_login(self, row: Row, password: str, attempt: Attempt) -> AuthResult:
        """Check the password of a guess reserved with the lockout (which stays counted unless
        the password is right)."""
        if row["password"] is None or not await self._passwords.verify(bytes(row["password"]), password):
            await self._lockout.failed_guess(attempt)
            raise Unauthenticated(BAD_CREDENTIALS)
        await self._lockout.succeeded(attempt)
        return self._existing(row)

    def _existing(self, row: Row) -> AuthResult:
        if row["disable_time"]:
            raise PermissionDenied(BANNED)
        return AuthResult(user_id=row["id"], username=row["username"], created=False)

    async def _create(
        self,
        title: Title,
        username: str,
        *,
        device_id: str | None = None,
        email: str | None = None,
        password: bytes | None = None,
        custom_id: str | None = None,
        address: str | None = None,
    ) -> AuthResult:
        chosen = check.username(username) if username else ""
        for guard in self._signup_guards:
            await guard(title, device_id, custom_id, email)
        if self._signup_limit is not None:  # after the guards: a refused sign-up spends nothing
            await self._signup_limit(title.id, address)  # sign-ups per address (RateLimited)
        for _ in range(5):
            name = chosen or _generated_username()
            user_id = new_user_id()
            try:
                await self._store.create(
                    title.id,
                    user_id,
                    name,
                    now_ms(),
                    device_id=device_id,
                    email=email,
                    password=password,
                    custom_id=custom_id,
                    keys=self._keys(title),
                )
            except IntegrityError as exc:
                if exc.involves("username"):
                    if chosen:
                        raise AlreadyExists(USERNAME_TAKEN) from None
                    continue  # a generated name clashed: draw another
                raise _IdentifierTaken() from None
            method = "device" if device_id else "email" if email else "custom"
            for callback in self._created_callbacks:
                try:
                    callback(title, user_id, name, method)
                except Exception:
                    log.exception("account created callback failed", title=title.name)
            return AuthResult(user_id=user_id, username=name, created=True)
        raise AlreadyExists(USERNAME_TAKEN)

    async def session_user(self, title: Title, user_id: str) -> AuthResult:
        """The current username of a user who is refreshing a session; fails if gone or banned."""
        cached = self.cache.get(title.id, user_id)
        if cached is not None:
            if cached.disable_time:
                raise PermissionDenied(BANNED)
            return AuthResult(user_id=user_id, username=cached.user.username, created=False)
        row = await self._store.login_state(title.id, user_id)
        if row is None:
            raise NotFound(NOT_FOUND)
        return self._existing(row)

    # -- account and users ----------------------------------------------------------------------

    async def get_account(self, title: Title, user_id: str) -> Account:
        """The account (a copy: callers, server code among them, may change what they get)."""
        account = self.cache.get(title.id, user_id)
        if account is None:
            epoch = self.cache.epoch
            account = await self._store.account(title.id, user_id, self._keys(title))
            if account is None:
                raise NotFound(NOT_FOUND)
            self.cache.put(title.id, user_id, account, epoch)
        return _copy(account)

    async def users_changed(self, title_id: str, user_ids: list[str]) -> None:
        """Another service changed these users' rows (the friends service, `edge_count`): drop
        them here and on the peers before its caller is answered."""
        for user_id in user_ids:
            self.cache.changed(title_id, user_id)
        if self._peers is not None:
            peers = self._peers
            await asyncio.gather(*(peers.changed(title_id, user_id) for user_id in user_ids))

    async def _changed(self, title: Title, user_id: str) -> None:
        # The change feed tells every node after the commit (PostgreSQL: a moment later); drop
        # the entry here and on the peers before answering, so that the caller reads its own
        # write on any node (see accounts/peers.py).
        self.cache.changed(title.id, user_id)
        if self._peers is not None:
            await self._peers.changed(title.id, user_id)

    async def changed(self, keys: list[tuple[str, str]]) -> None:
        """Accounts (title id, user id) that another domain changed in the database (the wallets):
        drop them here and on the peers, as after this service's own writes."""
        for title_id, user_id in keys:
            self.cache.changed(title_id, user_id)
        if self._peers is not None and keys:
            await self._peers.changed_many(keys)

    async def update_account(self, title: Title, user_id: str, update: AccountUpdate) -> None:
        fields = self._update_fields(update)
        if not fields:
            return
        try:
            changed = await self._store.update(self._db, title.id, user_id, fields, now_ms())
        except IntegrityError as exc:
            if exc.involves("username"):  # Nakama answers INVALID_ARGUMENT here (ALREADY_EXISTS at sign-up)
                raise InvalidArgument(USERNAME_TAKEN) from None
            raise
        await self._changed(title, user_id)
        if changed == 0:
            raise NotFound(NOT_FOUND)

    async def update_account_in(self, tx: Tx, title: Title, user_id: str, update: AccountUpdate) -> None:
        """`update_account` inside the caller's transaction (the wallets' `multi_update`), which a
        clash aborts; the caller tells the caches (`changed`) once it commits."""
        fields = self._update_fields(update)
        if not fields:
            return
        try:
            changed = await self._store.update(tx, title.id, user_id, fields, now_ms())
        except IntegrityError as exc:
            if exc.involves("username"):
                raise InvalidArgument(USERNAME_TAKEN) from None
            raise
        if changed == 0:
            raise NotFound(NOT_FOUND)

    def _update_fields(self, update: AccountUpdate) -> dict[str, object]:
        fields: dict[str, object] = {}
        if update.username is not None:
            fields["username"] = check.username(update.username)
        if update.display_name is not None:
            fields["display_name"] = check.text_field("display name", update.display_name, 255) or None
        if update.avatar_url is not None:
            fields["avatar_url"] = check.avatar_url(update.avatar_url) or None
        if update.lang_tag is not None:
            fields["lang_tag"] = check.lang_tag(update.lang_tag) or "en"
        if update.location is not None:
            fields["location"] = check.text_field("location", update.location, 255) or None
        if update.timezone is not None:
            fields["timezone"] = check.text_field("timezone", update.timezone, 255) or None
        if update.metadata is not None:
            fields["metadata"] = check.metadata(update.metadata)
        return fields

    async def get_users(self, title: Title, ids: list[str], usernames: list[str]) -> list[User]:
        ids = list(dict.fromkeys(i for i in ids if i))
        usernames = list(dict.fromkeys(u for u in usernames if u))
        if len(ids) + len(usernames) > MAX_USERS_PER_CALL:
            raise InvalidArgument(f"Too many users requested, at most {MAX_USERS_PER_CALL} at once.")
        for user_id in ids:
            if not _is_uuid(user_id):
                raise InvalidArgument(f"Invalid user ID {user_id!r}.")
        found = {u.id: u for u in await self._store.users_by_ids(title.id, ids)}
        for user in await self._store.users_by_usernames(title.id, usernames):
            found.setdefault(user.id, user)
        return list(found.values())

    async def delete_account(
        self, title: Title, user_id: str, first: Callable[[Tx], Awaitable[None]] | None = None
    ) -> None:
        """Delete the account and its rows in every domain, in one transaction that holds the
        user's row first. `first`: run in that transaction before the domains' steps (erasure:
        counting and anonymising what the steps would delete)."""
        async with self._db.transaction() as tx:
            if not await self._store.lock_for_deletion(tx, title.id, user_id):
                raise NotFound(NOT_FOUND)
            if first is not None:
                await first(tx)
            for step in self._deletion_steps:
                await step(tx, title.id, user_id)
            deleted = await self._store.delete(tx, title.id, user_id)
        await self._changed(title, user_id)
        if not deleted:
            raise NotFound(NOT_FOUND)
        await self._sessions.logout_everywhere(title, user_id)

    # -- linking --------------------------------------------------------------------------------

    async def link_device(self, title: Title, user_id: str, device_id: str, vars: dict[str, str]) -> None:
        device_id = check.device_id(device_id)
        async with self._db.transaction() as tx:
            if await self._store.lock_identity(tx, title.id, user_id) is None:
                raise NotFound(NOT_FOUND)
            keys = self._keys(title)
            owner = await self._store.device_owner(tx, title.id, device_id, keys)
            if owner == user_id:
                return
            if owner is not None:
                raise AlreadyExists("Device ID already in use.")
            await self._store.add_device(tx, title.id, device_id, user_id, vars, keys)
            # As Nakama does; the UPDATE also tells other nodes' account caches (the change feed
            # watches updates of users, not inserts of devices, which every sign-up makes).
            await self._store.touch(tx, title.id, user_id, now_ms())
        await self._changed(title, user_id)

    async def link_custom(self, title: Title, user_id: str, custom_id: str) -> None:
        await self._link_column(
            title, user_id, "custom_id", check.custom_id(custom_id), "Custom ID already in use."
        )

    async def link_email(self, title: Title, user_id: str, email: str, password: str) -> None:
        email = check.email(email)
        hashed = await self._passwords.hash(check.password(password))
        await self._link_column(title, user_id, "email", email, "Email is already in use.", password=hashed)

    async def _link_column(
        self,
        title: Title,
        user_id: str,
        column: IdentifierColumn,
        value: str,
        taken: str,
        password: bytes | None = None,
    ) -> None:
        now = now_ms()
        try:
            async with self._db.transaction() as tx:
                if await self._store.lock_identity(tx, title.id, user_id) is None:
                    raise NotFound(NOT_FOUND)
                await self._store.set_identifier(
                    tx, title.id, user_id, column, value, now, password, self._keys(title)
                )
        except IntegrityError:
            raise AlreadyExists(taken) from None
        await self._changed(title, user_id)

    async def unlink_device(self, title: Title, user_id: str, device_id: str) -> None:
        device_id = check.device_id(device_id)
        async with self._db.transaction() as tx:
            await self._require_other_identifier(tx, title, user_id)
            if not await self._store.remove_device(tx, title.id, device_id, user_id, self._keys(title)):
                raise NotFound("Device ID is not linked to this account.")
        await self._changed(title, user_id)

    async def unlink_custom(self, title: Title, user_id: str, custom_id: str) -> None:
        custom_id = check.custom_id(custom_id)
        await self._unlink_column(
            title, user_id, "custom_id", custom_id, "Custom ID is not linked to this account."
        )

    async def unlink_email(self, title: Title, user_id: str, email: str) -> None:
        email = check.email(email)
        await self._unlink_column(title, user_id, "email", email, "Email is not linked to this account.")

    async def _unlink_column(
        self, title: Title, user_id: str, column: IdentifierColumn, value: str, missing: str
    ) -> None:
        async with self._db.transaction() as tx:
            await self._require_other_identifier(tx, title, user_id)
            if not await self._store.clear_identifier(
                tx, title.id, user_id, column, value, now_ms(), self._keys(title)
            ):
                raise NotFound(missing)
        await self._changed(title, user_id)

    async def _require_other_identifier(self, tx: Tx, title: Title, user_id: str) -> None:
        ids = await self._store.lock_identity(tx, title.id, user_id)
        if ids is None:
            raise NotFound(NOT_FOUND)
        remaining = ids["devices"] + (1 if ids["email"] else 0) + (1 if ids["custom_id"] else 0)
        if remaining <= 1:
            raise PermissionDenied(LAST_IDENTIFIER)


class _IdentifierTaken(Exception):
    """The device id, email or custom id was claimed by another account meanwhile."""


def _copy(a: Account) -> Account:
    u = a.user
    return Account(
        user=User(u.id, u.username, u.display_name, u.avatar_url, u.lang_tag, u.location, u.timezone,
                  u.metadata, u.edge_count, u.create_time, u.update_time, u.online),
        email=a.email,
        custom_id=a.custom_id,
        devices=[Device(d.id, dict(d.vars)) for d in a.devices],
        verify_time=a.verify_time,
        disable_time=a.disable_time,
        wallet=a.wallet,
    )  # fmt: skip


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
