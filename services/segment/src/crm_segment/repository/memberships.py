"""Membership rows: open ones are current, closed ones are history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, bindparam, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.tables import memberships

OpenRows = dict[str, dict[str, datetime]]
"""profile id -> segment id -> entered_at of the open row."""


async def open_of(session: AsyncSession, tenant_id: str, profile_ids: Collection[str]) -> OpenRows:
    found: OpenRows = defaultdict(dict)
    if not profile_ids:
        return found
    m = memberships.c
    rows = await session.execute(
        select(m.profile_id, m.segment_id, m.entered_at).where(
            m.tenant_id == tenant_id, m.profile_id.in_(list(profile_ids)), m.exited_at.is_(None)
        )
    )
    for row in rows:
        found[row.profile_id][row.segment_id] = row.entered_at
    return found


async def enter(
    session: AsyncSession, tenant_id: str, pairs: Sequence[tuple[str, str]], at: datetime
) -> None:
    """Open a row per ``(segment_id, profile_id)``."""
    if pairs:
        await session.execute(
            insert(memberships),
            [
                {"tenant_id": tenant_id, "segment_id": s, "profile_id": p, "entered_at": at}
                for s, p in pairs
            ],
        )


async def leave(
    session: AsyncSession, tenant_id: str, pairs: Sequence[tuple[str, str]], at: datetime
) -> None:
    """Close the open row of each ``(segment_id, profile_id)``."""
    if not pairs:
        return
    m = memberships.c
    stmt = (
        update(memberships)
        .where(
            m.tenant_id == tenant_id,
            m.segment_id == bindparam("sid"),
            m.profile_id == bindparam("pid"),
            m.exited_at.is_(None),
        )
        .values(exited_at=at)
    )
    await session.execute(stmt, [{"sid": s, "pid": p} for s, p in pairs])


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
