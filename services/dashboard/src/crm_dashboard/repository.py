"""All SQL of the dashboard: console users and the local copy of tenants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_dashboard.tables import login_failures, tenants, users


async def user_by_login(session: AsyncSession, tenant_id: str, email: str) -> Any | None:
    query = select(users).where(users.c.tenant_id == tenant_id, users.c.email == email)
    return (await session.execute(query)).first()


async def user_by_id(session: AsyncSession, user_id: str) -> Any | None:
    return (await session.execute(select(users).where(users.c.user_id == user_id))).first()


async def users_of(session: AsyncSession, tenant_id: str) -> list[Any]:
    query = select(users).where(users.c.tenant_id == tenant_id).order_by(users.c.email)
    return list((await session.execute(query)).all())


async def insert_user(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(users).values(**values))
    await session.flush()


async def set_password_hash(session: AsyncSession, user_id: str, password_hash: str) -> None:
    stmt = update(users).where(users.c.user_id == user_id).values(password_hash=password_hash)
    await session.execute(stmt)


async def set_role(session: AsyncSession, tenant_id: str, user_id: str, role: str) -> int:
    stmt = (
        update(users)
        .where(users.c.tenant_id == tenant_id, users.c.user_id == user_id)
        .values(role=role)
    )
    return (await session.execute(stmt)).rowcount or 0  # type: ignore[attr-defined]


async def touch_login(session: AsyncSession, user_id: str, at: datetime) -> None:
    stmt = update(users).where(users.c.user_id == user_id).values(last_login_at=at)
    await session.execute(stmt)


async def tenant(session: AsyncSession, tenant_id: str) -> Any | None:
    query = select(tenants).where(tenants.c.tenant_id == tenant_id)
    return (await session.execute(query)).first()


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(users))).scalar_one())


async def failures_in(session: AsyncSession, keys: list[str], window_start: int) -> dict[str, int]:
    """Failed sign-ins of each key in the window starting at ``window_start``."""
    f = login_failures.c
    query = select(f.key, f.failures).where(f.key.in_(keys), f.window_start == window_start)
    return {row.key: int(row.failures) for row in await session.execute(query)}


async def add_failure(session: AsyncSession, keys: list[str], window_start: int) -> None:
    rows = [{"key": k, "window_start": window_start, "failures": 1} for k in sorted(keys)]
    stmt = pg_insert(login_failures).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key", "window_start"],
        set_={"failures": login_failures.c.failures + 1},
    )
    await session.execute(stmt)


async def forget_failures(session: AsyncSession, key: str, before: int | None = None) -> None:
    """Drop ``key``'s counts (a successful sign-in), or every key's before a window."""
    f = login_failures.c
    condition = f.window_start < before if before is not None else f.key == key
    await session.execute(delete(login_failures).where(condition))
