"""Postal DM print batches: one open batch per tenant and local date."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import RowMapping, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.tables import dm_batch_items, dm_batches

b, i = dm_batches, dm_batch_items


async def open_batch(session: AsyncSession, tenant_id: str, local_date: date) -> str:
    """The open batch of (tenant, day), created if there is none."""
    stmt = pg_insert(b).values(
        batch_id=str(uuid.uuid4()), tenant_id=tenant_id, local_date=local_date, state="open"
    )
    # The partial index's predicate as SQL text, not a bound parameter: from the
    # sixth execution on a connection PostgreSQL plans generically and can no longer
    # match ``state = $n`` to the index ("no unique or exclusion constraint").
    await session.execute(
        stmt.on_conflict_do_nothing(
            index_elements=["tenant_id", "local_date"], index_where=text("state = 'open'")
        )
    )
    batch_id = await session.scalar(
        select(b.c.batch_id).where(
            b.c.tenant_id == tenant_id, b.c.local_date == local_date, b.c.state == "open"
        )
    )
    assert batch_id is not None
    return str(batch_id)


async def add_item(
    session: AsyncSession, batch_id: str, tenant_id: str, message_id: str, row: dict[str, Any]
) -> None:
    position = await session.scalar(
        select(func.coalesce(func.max(i.c.position), 0) + 1).where(i.c.batch_id == batch_id)
    )
    stmt = pg_insert(i).values(
        batch_id=batch_id,
        message_id=message_id,
        tenant_id=tenant_id,
        position=position,
        row=row,
        state="pending",
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["batch_id", "message_id"]))


async def list_batches(session: AsyncSession, tenant_id: str) -> Sequence[RowMapping]:
    counts = (
        select(i.c.batch_id, func.count().label("item_count"))
        .where(i.c.tenant_id == tenant_id)
        .group_by(i.c.batch_id)
        .subquery()
    )
    query = (
        select(b, func.coalesce(counts.c.item_count, 0).label("items"))
        .outerjoin(counts, counts.c.batch_id == b.c.batch_id)
        .where(b.c.tenant_id == tenant_id)
        .order_by(b.c.local_date.desc(), b.c.created_at.desc())
    )
    return (await session.execute(query)).mappings().all()


async def lock_batch(session: AsyncSession, tenant_id: str, batch_id: str) -> RowMapping | None:
    query = select(b).where(b.c.tenant_id == tenant_id, b.c.batch_id == batch_id).with_for_update()
    return (await session.execute(query)).mappings().first()


async def batch_items(session: AsyncSession, batch_id: str) -> Sequence[RowMapping]:
    query = select(i).where(i.c.batch_id == batch_id).order_by(i.c.position)
    return (await session.execute(query)).mappings().all()


async def mark_exported(session: AsyncSession, batch_id: str, at: datetime) -> list[str]:
    """Batch exported, its pending items sent; returns the message ids that became sent."""
    await session.execute(
        b.update()
        .where(b.c.batch_id == batch_id, b.c.state == "open")
        .values(state="exported", exported_at=at)
    )
    result = await session.execute(
        i.update()
        .where(i.c.batch_id == batch_id, i.c.state == "pending")
        .values(state="sent")
        .returning(i.c.message_id)
    )
    return [mid for (mid,) in result]
