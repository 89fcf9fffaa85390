"""Accounts: sign-up, log-in, lookups and profile edits."""

from __future__ import annotations

import re
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from hearth.services.ids import parse_id
from hearth.storage.models import Account

USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

_hasher = PasswordHasher()
# A hash to verify against when the account does not exist, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash("not a real password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_username(username: str) -> str:
    username = (username or "").strip().lstrip("@")
    if not USERNAME_RE.match(username):
        raise Invalid("username must be 1-30 letters, digits or underscores")
    return username


async def register(db: AsyncSession, username: str, password: str, email: str | None = None,
                   display_name: str | None = None, note: str = "", open_registrations: bool = True) -> Account:
    if not open_registrations:
        raise Forbidden("registrations are closed on this server")
    username = check_username(username)
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if email is not None:
        email = email.strip().lower() or None
        if email is not None and not EMAIL_RE.match(email):
            raise Invalid("email address is not valid")
    display_name = (display_name or username).strip()[:100]
    if await db.scalar(select(Account.id).where(Account.username_key == username.lower())):
        raise Conflict(f"username {username!r} is taken")
    if email and await db.scalar(select(Account.id).where(Account.email == email)):
        raise Conflict("an account with this email address exists")
    account = Account(username=username, username_key=username.lower(), email=email,
                      display_name=display_name, note=note, password_hash=hash_password(password))
    db.add(account)
    try:
        await db.commit()
    except IntegrityError:  # lost a race with another sign-up
        await db.rollback()
        raise Conflict(f"username {username!r} is taken") from None
    return account


async def create_profile(db: AsyncSession, username: str, display_name: str = "", note: str = "",
                         bot: bool = False) -> Account:
    """An account that cannot log in (seeded creators, demo people)."""
    username = check_username(username)
    account = Account(username=username, username_key=username.lower(), display_name=display_name or username,
                      note=note, bot=bot)
    db.add(account)
    await db.flush()
    return account


async def authenticate(db: AsyncSession, login: str, password: str) -> Account:
    """The account whose username or email and password match, else Unauthorized."""
    login = (login or "").strip().lstrip("@").lower()
    account = await db.scalar(select(Account).where(or_(Account.username_key == login, Account.email == login)))
    stored = account.password_hash if account is not None and account.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password or "")
        ok = account is not None and account.password_hash is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        raise Unauthorized("wrong username or password")
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
        await db.commit()
    return account


async def load_many(db: AsyncSession, account_ids: Iterable[int]) -> dict[int, Account]:
    """Accounts by id; ids that do not exist are left out."""
    ids = list(set(account_ids))
    if not ids:
        return {}
    return {a.id: a for a in await db.scalars(select(Account).where(Account.id.in_(ids)))}


async def get_account(db: AsyncSession, account_id: int | str) -> Account:
    key = parse_id(account_id)
    if key is None:
        raise NotFound(f"account {account_id!r} not found")
    account = await db.get(Account, key)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


async def lookup(db: AsyncSession, acct: str, domain: str = "localhost") -> Account:
    """By `name` or `name@this-domain` (there is no federation)."""
    name = (acct or "").strip().lstrip("@")
    if "@" in name:
        name, _, host = name.partition("@")
        if host.lower() != domain.lower():
            raise NotFound(f"account {acct!r} not found (this server does not federate)")
    account = await db.scalar(select(Account).where(Account.username_key == name.lower()))
    if account is None:
        raise NotFound(f"account {acct!r} not found")
    return account


async def update_profile(db: AsyncSession, viewer: Account, display_name: str | None = None,
                         note: str | None = None, locked: bool | None = None, bot: bool | None = None,
                         discoverable: bool | None = None, max_note: int = 500) -> Account:
    if display_name is not None:
        if len(display_name) > 100:
            raise Invalid("display name is longer than 100 characters")
        viewer.display_name = display_name.strip()
    if note is not None:
        if len(note) > max_note:
            raise Invalid(f"bio is longer than {max_note} characters")
        viewer.note = note
    if locked is not None:
        viewer.locked = bool(locked)
    if bot is not None:
        viewer.bot = bool(bot)
    if discoverable is not None:
        viewer.discoverable = bool(discoverable)
    await db.commit()
    return viewer


async def count_accounts(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count(Account.id))) or 0)
