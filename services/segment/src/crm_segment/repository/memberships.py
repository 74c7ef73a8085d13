"""Membership rows: open ones are current, closed ones are history."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.tables import memberships

_OPEN = text(
    "SELECT profile_id, array_agg(segment_id) AS segment_ids FROM segment.memberships"
    " WHERE tenant_id = :tenant AND profile_id = ANY(CAST(:pids AS text[]))"
    " AND exited_at IS NULL GROUP BY profile_id"
)
_OPEN_IN = text(
    "SELECT profile_id, array_agg(segment_id) AS segment_ids FROM segment.memberships"
    " WHERE tenant_id = :tenant AND profile_id = ANY(CAST(:pids AS text[]))"
    " AND segment_id = ANY(CAST(:sids AS text[])) AND exited_at IS NULL GROUP BY profile_id"
)


async def open_of(
    session: AsyncSession,
    tenant_id: str,
    profile_ids: Collection[str],
    segment_ids: Collection[str] | None = None,
) -> dict[str, list[str]]:
    """profile id -> the segments it is a member of (among ``segment_ids`` if given):
    one row per profile, the segment ids aggregated by PostgreSQL."""
    if not profile_ids or (segment_ids is not None and not segment_ids):
        return {}
    params: dict[str, Any] = {"tenant": tenant_id, "pids": list(profile_ids)}
    if segment_ids is None:
        rows = await session.execute(_OPEN, params)
    else:
        rows = await session.execute(_OPEN_IN, {**params, "sids": list(segment_ids)})
    return {row.profile_id: row.segment_ids for row in rows}


async def close_segment(
    session: AsyncSession, tenant_id: str, segment_id: str, at: datetime
) -> None:
    """Close every open row of a segment (archiving: no events)."""
    m = memberships.c
    await session.execute(
        update(memberships)
        .where(m.tenant_id == tenant_id, m.segment_id == segment_id, m.exited_at.is_(None))
        .values(exited_at=at)
    )


async def move(
    session: AsyncSession, tenant_id: str, merged_id: str, survivor_id: str, at: datetime
) -> None:
    """Give the merged profile's rows to the survivor without an exit or an entry.

    Where both are members, the alias's open row is closed silently; every
    other row (open or history) is re-keyed to the survivor.
    """
    m = memberships.c
    survivor = memberships.alias("survivor")
    await session.execute(
        update(memberships)
        .where(
            m.tenant_id == tenant_id,
            m.profile_id == merged_id,
            m.exited_at.is_(None),
            exists().where(
                and_(
                    survivor.c.tenant_id == tenant_id,
                    survivor.c.profile_id == survivor_id,
                    survivor.c.segment_id == m.segment_id,
                    survivor.c.exited_at.is_(None),
                )
            ),
        )
        .values(exited_at=at)
    )
    await session.execute(
        update(memberships)
        .where(m.tenant_id == tenant_id, m.profile_id == merged_id)
        .values(profile_id=survivor_id)
    )
