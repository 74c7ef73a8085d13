"""Console users: create, sign in (argon2id hashes, rehash on parameter change)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_dashboard import repository as repo
from crm_dashboard.tables import ROLES

_hasher = PasswordHasher()
# Verified when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
MIN_PASSWORD = 8


class UserError(ValueError):
    """A user cannot be created as asked (field, message)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class User:
    """A console user: ``role`` within the tenant; ``operator``: also runs the whole
    installation (every tenant's dead letters, installation-wide numbers)."""

    user_id: str
    tenant_id: str
    email: str
    role: str
    operator: bool = False

    @classmethod
    def of(cls, row: Any) -> User:
        return cls(row.user_id, row.tenant_id, row.email, row.role, bool(row.operator))


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_new_user(tenant_id: str, email: str, role: str, password: str) -> None:
    if not tenant_id.strip():
        raise UserError("tenant", "required")
    if "@" not in email:
        raise UserError("email", "not an email address")
    if role not in ROLES:
        raise UserError("role", f"one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise UserError("password", f"at least {MIN_PASSWORD} characters")


async def create_user(
    session: AsyncSession,
    tenant_id: str,
    email: str,
    role: str,
    password: str,
    *,
    operator: bool = False,
) -> User:
    """A new user; ``operator`` only from the CLI (the console's users page never sets
    it, so a tenant's admin cannot make an installation operator)."""
    email = normalize_email(email)
    check_new_user(tenant_id, email, role, password)
    user = User("usr_" + secrets.token_hex(8), tenant_id.strip(), email, role, operator)
    values = {
        "user_id": user.user_id,
        "tenant_id": user.tenant_id,
        "email": email,
        "role": role,
        "operator": operator,
        "password_hash": await asyncio.to_thread(_hasher.hash, password),
    }
    try:
        async with session.begin_nested():
            await repo.insert_user(session, values)
    except IntegrityError:
        raise UserError("email", "already a user of this tenant") from None
    return user


async def ensure_user(
    session: AsyncSession, tenant_id: str, email: str, role: str, password: str
) -> bool:
    """Create the user unless one with this login exists; True when created."""
    if await repo.user_by_login(session, tenant_id.strip(), normalize_email(email)) is not None:
        return False
    await create_user(session, tenant_id, email, role, password)
    return True


async def sign_in(session: AsyncSession, tenant_id: str, email: str, password: str) -> User | None:
    """The user, or None. argon2 runs in a worker thread: a guesser's hashes never
    hold the event loop (every other console request) for their ~50 ms each."""
    row = await repo.user_by_login(session, tenant_id.strip(), normalize_email(email))
    if row is None:
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        return None
    if not await asyncio.to_thread(_verify, row.password_hash, password):
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        rehashed = await asyncio.to_thread(_hasher.hash, password)
        await repo.set_password_hash(session, row.user_id, rehashed)
    await repo.touch_login(session, row.user_id, datetime.now(UTC))
    return User.of(row)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def load_user(session: AsyncSession, user_id: str) -> User | None:
    row = await repo.user_by_id(session, user_id)
    return User.of(row) if row is not None else None
