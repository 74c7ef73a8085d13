"""Segment rows: create, read, change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Text, func, insert, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.tables import memberships, segments

SegmentRow = Any  # a Row of the segments table


async def add(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(segments).values(**values))


async def get(
    session: AsyncSession, tenant_id: str, segment_id: str, *, lock: bool = False
) -> SegmentRow | None:
    stmt = select(segments).where(
        segments.c.tenant_id == tenant_id, segments.c.segment_id == segment_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).first()


async def list_of(
    session: AsyncSession, tenant_id: str, status: str | None
) -> Sequence[SegmentRow]:
    stmt = select(segments).where(segments.c.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(segments.c.status == status)
    return (
        await session.execute(stmt.order_by(segments.c.created_at, segments.c.segment_id))
    ).all()


async def active(session: AsyncSession, tenant_id: str) -> Sequence[SegmentRow]:
    """Every active segment of the tenant, dynamic and snapshot."""
    return await list_of(session, tenant_id, "active")


async def change(session: AsyncSession, segment_id: str, values: dict[str, Any]) -> None:
    await session.execute(
        update(segments).where(segments.c.segment_id == segment_id).values(**values)
    )


async def with_template(session: AsyncSession, tenant_id: str, key: str) -> SegmentRow | None:
    stmt = select(segments).where(
        segments.c.tenant_id == tenant_id,
        segments.c.template_key == key,
        segments.c.status == "active",
    )
    return (await session.execute(stmt.limit(1))).first()


async def size(session: AsyncSession, tenant_id: str, segment_id: str) -> int:
    m = memberships.c
    count = await session.scalar(
        select(func.count())
        .select_from(memberships)
        .where(m.tenant_id == tenant_id, m.segment_id == segment_id, m.exited_at.is_(None))
    )
    return int(count or 0)


def _at(moment: datetime) -> Any:
    return literal(moment, DateTime(timezone=True))


async def due_snapshots(
    session: AsyncSession,
    now: datetime,
    limit: int = 10,
    after: tuple[datetime, str] | None = None,
) -> Sequence[SegmentRow]:
    """Scheduled 固定 segments whose moment has come (re-checked under the tenant lock),
    in (snapshot_at, segment_id) order after ``after``: one that cannot be filled
    never hides the ones behind it."""
    key = tuple_(segments.c.snapshot_at, segments.c.segment_id)
    stmt = (
        select(segments.c.tenant_id, segments.c.segment_id, segments.c.snapshot_at)
        .where(
            segments.c.kind == "snapshot",
            segments.c.status == "active",
            segments.c.filled_at.is_(None),
            segments.c.snapshot_at <= now,
            *([key > tuple_(_at(after[0]), literal(after[1], Text()))] if after else []),
        )
        .order_by(segments.c.snapshot_at, segments.c.segment_id)
        .limit(limit)
    )
    return (await session.execute(stmt)).all()
