"""The outbound call list and the outcomes the call team records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.tables import call_list, call_outcomes

c, o = call_list, call_outcomes


async def add_entry(session: AsyncSession, values: dict[str, Any]) -> None:
    stmt = pg_insert(c).values(**values, state="open")
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["entry_id"]))


async def list_entries(
    session: AsyncSession, tenant_id: str, state: str | None, limit: int
) -> Sequence[RowMapping]:
    query = select(c).where(c.c.tenant_id == tenant_id)
    if state is not None:
        query = query.where(c.c.state == state)
    query = query.order_by(c.c.created_at, c.c.entry_id).limit(limit)
    return (await session.execute(query)).mappings().all()


async def lock_entry(session: AsyncSession, tenant_id: str, entry_id: str) -> RowMapping | None:
    query = select(c).where(c.c.tenant_id == tenant_id, c.c.entry_id == entry_id).with_for_update()
    return (await session.execute(query)).mappings().first()


async def add_outcome(
    session: AsyncSession, tenant_id: str, entry_id: str, outcome: str, note: str | None
) -> int:
    """Record the next outcome of an entry; returns its sequence number (1, 2 ...)."""
    seq = await session.scalar(
        select(func.coalesce(func.max(o.c.seq), 0) + 1).where(o.c.entry_id == entry_id)
    )
    await session.execute(
        o.insert().values(
            entry_id=entry_id, seq=seq, tenant_id=tenant_id, outcome=outcome, note=note
        )
    )
    done = outcome != "no_answer"
    await session.execute(
        c.update()
        .where(c.c.entry_id == entry_id)
        .values(last_outcome=outcome, state="done" if done else "open")
    )
    return int(seq or 1)
