"""Profiles whose time-dependent traits are due for a refresh."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_profile.tables import orders, points_entries, profiles, subscriptions


async def claim_due(session: AsyncSession, cutoff: datetime, limit: int) -> dict[str, list[str]]:
    """Lock up to ``limit`` live profiles with orders, subscriptions or points whose traits
    were computed before ``cutoff``, oldest first; ``{tenant: [profile ids]}``.

    ``SKIP LOCKED``: rows another replica (or a consumer) holds are left to it.
    """
    p, o, s = profiles, orders, subscriptions
    has_orders = exists().where(o.c.tenant_id == p.c.tenant_id, o.c.profile_id == p.c.profile_id)
    has_subs = exists().where(s.c.tenant_id == p.c.tenant_id, s.c.profile_id == p.c.profile_id)
    e = points_entries  # points expire with time alone too
    has_points = exists().where(e.c.tenant_id == p.c.tenant_id, e.c.profile_id == p.c.profile_id)
    rows = await session.execute(
        select(p.c.tenant_id, p.c.profile_id)
        .where(
            p.c.merged_into.is_(None),
            p.c.traits_computed_at < cutoff,
            has_orders | has_subs | has_points,
        )
        .order_by(p.c.traits_computed_at)
        .limit(limit)
        .with_for_update(of=p, skip_locked=True)
    )
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r.tenant_id, []).append(r.profile_id)
    return out


async def mark_computed(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str], at: datetime
) -> None:
    """Record that these profiles' traits were computed as of ``at``."""
    if not profile_ids:
        return
    p = profiles
    await session.execute(
        update(p)
        .where(p.c.tenant_id == tenant_id, p.c.profile_id.in_(sorted(profile_ids)))
        .values(traits_computed_at=at)
    )
