"""Engagement facts, the touches an order can be credited to, and attributions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.domain.attribution import Touch
from crm_messaging.tables import messages, profile_aliases
from crm_messaging.tables_campaigns import attributions, engagements

m = messages
e = engagements
a = attributions


async def record_engagement(session: AsyncSession, values: dict[str, Any]) -> None:
    stmt = pg_insert(e).values(**values).on_conflict_do_nothing(index_elements=["event_id"])
    await session.execute(stmt)


async def profile_ids(session: AsyncSession, tenant_id: str, profile_id: str) -> list[str]:
    """The profile and every profile merged into it (their messages count as its own)."""
    pa = profile_aliases
    query = select(pa.c.merged_id).where(
        pa.c.tenant_id == tenant_id, pa.c.survivor_id == profile_id
    )
    return [profile_id, *(await session.scalars(query)).all()]


async def touches(
    session: AsyncSession, tenant_id: str, profiles: list[str], since: datetime, until: datetime
) -> list[Touch]:
    """Opens and clicks (read back from crm.events.v1) and postal DMs sent, in [since, until]."""
    engaged = (
        select(e.c.message_id, m.c.channel, e.c.kind, e.c.at)
        .join(m, m.c.message_id == e.c.message_id)
        .where(
            e.c.tenant_id == tenant_id,
            m.c.profile_id.in_(profiles),
            e.c.at.between(since, until),
        )
    )
    mailed = select(m.c.message_id, m.c.channel, literal("sent"), m.c.sent_at).where(
        m.c.tenant_id == tenant_id,
        m.c.profile_id.in_(profiles),
        m.c.channel == "postal_dm",
        m.c.sent_at.between(since, until),
    )
    rows = await session.execute(union_all(engaged, mailed))
    return [Touch(mid, channel, kind, at) for mid, channel, kind, at in rows]


async def message_source(session: AsyncSession, message_id: str) -> RowMapping | None:
    query = select(
        m.c.message_id,
        m.c.channel,
        m.c.source_kind,
        m.c.source_id,
        func.coalesce(m.c.step_id, func.nullif(func.split_part(m.c.source_id, "/", 2), "")).label(
            "step_id"
        ),
    ).where(m.c.message_id == message_id)
    return (await session.execute(query)).mappings().first()


async def insert_attribution(session: AsyncSession, values: dict[str, Any]) -> bool:
    """One attribution per order: False when the order was attributed before."""
    stmt = (
        pg_insert(a)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "order_id"])
        .returning(a.c.order_id)
    )
    return (await session.execute(stmt)).first() is not None


async def cancel_attribution(
    session: AsyncSession, tenant_id: str, order_id: str, at: datetime
) -> bool:
    stmt = (
        a.update()
        .where(a.c.tenant_id == tenant_id, a.c.order_id == order_id, a.c.cancelled_at.is_(None))
        .values(cancelled_at=at)
        .returning(a.c.order_id)
    )
    return (await session.execute(stmt)).first() is not None


async def attribution_of(session: AsyncSession, tenant_id: str, order_id: str) -> RowMapping | None:
    query = select(a).where(a.c.tenant_id == tenant_id, a.c.order_id == order_id)
    return (await session.execute(query)).mappings().first()
