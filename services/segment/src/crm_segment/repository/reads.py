"""Read-only queries behind the REST API: member pages, a profile's segments, history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.tables import memberships, profiles, segments


def members_page_query(
    tenant_id: str, segment_id: str, after: str | None, limit: int | None
) -> Select[Any]:
    m = memberships.c
    stmt = select(m.profile_id, m.entered_at).where(
        m.tenant_id == tenant_id, m.segment_id == segment_id, m.exited_at.is_(None)
    )
    if after is not None:
        stmt = stmt.where(m.profile_id > after)
    stmt = stmt.order_by(m.profile_id)
    return stmt if limit is None else stmt.limit(limit)


EXPORT_TRAITS = (
    "rfm_rank",
    "f_stage",
    "orders_count",
    "total_spent",
    "last_order_at",
    "prefecture",
)
"""Snapshot traits exported with the members (the read model holds no name or contact)."""


def members_export_query(tenant_id: str, segment_id: str) -> Select[Any]:
    """Open memberships by profile id, with :data:`EXPORT_TRAITS` of each profile's snapshot."""
    m, p = memberships.c, profiles.c
    traits = [p.traits[name].astext.label(name) for name in EXPORT_TRAITS]
    joined = memberships.outerjoin(
        profiles, (p.tenant_id == m.tenant_id) & (p.profile_id == m.profile_id)
    )
    return (
        select(m.profile_id, m.entered_at, *traits)
        .select_from(joined)
        .where(m.tenant_id == tenant_id, m.segment_id == segment_id, m.exited_at.is_(None))
        .order_by(m.profile_id)
    )


async def members_page(
    session: AsyncSession, tenant_id: str, segment_id: str, after: str | None, limit: int
) -> Sequence[Any]:
    result = await session.execute(members_page_query(tenant_id, segment_id, after, limit))
    return list(result.all())


async def segments_of_profile(
    session: AsyncSession, tenant_id: str, profile_id: str
) -> Sequence[Any]:
    m = memberships.c
    stmt = (
        select(m.segment_id, m.entered_at, segments.c.name, segments.c.kind)
        .join(segments, segments.c.segment_id == m.segment_id)
        .where(m.tenant_id == tenant_id, m.profile_id == profile_id, m.exited_at.is_(None))
        .order_by(m.entered_at, m.segment_id)
    )
    return (await session.execute(stmt)).all()


# Size at the end of each local day: rows entered before it and not exited by then.
_HISTORY = text(
    """
    WITH days AS (
        SELECT d::date AS day,
               ((d::date + 1)::timestamp AT TIME ZONE :tz) AS day_end
        FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d
    )
    SELECT days.day, count(m.profile_id) AS size
    FROM days
    LEFT JOIN segment.memberships AS m
      ON m.tenant_id = :tenant AND m.segment_id = :segment
     AND m.entered_at < days.day_end
     AND (m.exited_at IS NULL OR m.exited_at >= days.day_end)
    GROUP BY days.day
    ORDER BY days.day
    """
)


async def history(
    session: AsyncSession, tenant_id: str, segment_id: str, first: date, last: date, tz: str
) -> list[tuple[date, int]]:
    rows = await session.execute(
        _HISTORY,
        {"tenant": tenant_id, "segment": segment_id, "first": first, "last": last, "tz": tz},
    )
    return [(row.day, int(row.size)) for row in rows]
