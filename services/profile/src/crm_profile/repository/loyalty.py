"""Loyalty rules (versioned per tenant) and points entries."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_profile.domain.loyalty_rules import LoyaltyRules, Programme, RulesVersion
from crm_profile.domain.points import PointsEntry
from crm_profile.repository.settings import tenant_currency
from crm_profile.tables import loyalty_settings, points_entries, profiles, tenants


async def programme_of(session: AsyncSession, tenant_id: str) -> Programme | None:
    """Every version of the tenant's rules, oldest first; None without a programme."""
    s = loyalty_settings
    rows = await session.execute(
        select(s.c.effective_from, s.c.rules)
        .where(s.c.tenant_id == tenant_id)
        .order_by(s.c.effective_from)
    )
    versions = tuple(
        RulesVersion(effective_from=r.effective_from, rules=LoyaltyRules.model_validate(r.rules))
        for r in rows
    )
    if not versions:
        return None
    currency = await tenant_currency(session, tenant_id)
    return Programme(currency=currency or "JPY", versions=versions)


async def save_rules(
    session: AsyncSession, tenant_id: str, effective_from: datetime, rules: dict[str, Any]
) -> None:
    s = loyalty_settings
    stmt = pg_insert(s).values(tenant_id=tenant_id, effective_from=effective_from, rules=rules)
    stmt = stmt.on_conflict_do_update(
        index_elements=[s.c.tenant_id, s.c.effective_from], set_={"rules": stmt.excluded.rules}
    )
    await session.execute(stmt)


async def entries_of(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str]
) -> dict[str, list[PointsEntry]]:
    out: dict[str, list[PointsEntry]] = {pid: [] for pid in profile_ids}
    if not profile_ids:
        return out
    e = points_entries
    rows = await session.execute(
        select(e.c.profile_id, e.c.entry).where(
            e.c.tenant_id == tenant_id, e.c.profile_id.in_(sorted(profile_ids))
        )
    )
    for r in rows:
        out.setdefault(r.profile_id, []).append(PointsEntry.model_validate(r.entry))
    return out


async def entry_by_key(
    session: AsyncSession, tenant_id: str, key: str
) -> tuple[str, PointsEntry] | None:
    e = points_entries
    row = (
        await session.execute(
            select(e.c.profile_id, e.c.entry).where(
                e.c.tenant_id == tenant_id, e.c.entry_key == key
            )
        )
    ).first()
    return (row.profile_id, PointsEntry.model_validate(row.entry)) if row else None


async def add_entries(
    session: AsyncSession, tenant_id: str, rows: list[tuple[str, PointsEntry]]
) -> set[str]:
    """Insert entries ``(profile_id, entry)``; an existing key is left as it is.
    Returns the profiles that got a new entry."""
    if not rows:
        return set()
    e = points_entries
    values = [
        {
            "tenant_id": tenant_id,
            "entry_key": entry.key,
            "profile_id": pid,
            "entry": entry.model_dump(mode="json"),
        }
        for pid, entry in rows
    ]
    stmt = pg_insert(e).values(values).on_conflict_do_nothing().returning(e.c.profile_id)
    return set((await session.scalars(stmt)).all())


async def tenants_with_programmes(session: AsyncSession) -> list[str]:
    s = loyalty_settings
    return list((await session.scalars(select(s.c.tenant_id).distinct())).all())


async def born_on(session: AsyncSession, tenant_id: str, month_day: str) -> list[str]:
    """Live, not deleted profiles whose stored birthday falls on ``MM-DD``."""
    p = profiles
    birthday = p.c.attributes["birthday"]["value"].astext
    rows = await session.scalars(
        select(p.c.profile_id).where(
            p.c.tenant_id == tenant_id,
            p.c.merged_into.is_(None),
            p.c.deleted_at.is_(None),
            birthday.like(f"%-{month_day}"),
        )
    )
    return list(rows.all())


async def tenant_timezone(session: AsyncSession, tenant_id: str) -> str:
    t = tenants
    zone = await session.scalar(select(t.c.timezone).where(t.c.tenant_id == tenant_id))
    return zone or "Asia/Tokyo"


async def forget_reasons(session: AsyncSession, tenant_id: str, profile_id: str) -> None:
    """Erasure: drop the free-text reasons of the person's entries (a merchant may have
    written personal data there); amounts, kinds, times and keys stay."""
    e = points_entries
    await session.execute(
        update(e)
        .where(e.c.tenant_id == tenant_id, e.c.profile_id == profile_id)
        .values(entry=e.c.entry.op("-")("reason"))
    )
