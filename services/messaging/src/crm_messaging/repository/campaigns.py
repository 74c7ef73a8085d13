"""Campaigns and their frozen audiences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, func, literal, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.tables_campaigns import campaign_recipients, campaigns
from crm_messaging.tables_journeys import journey_memberships

c = campaigns
r = campaign_recipients
sm = journey_memberships  # kept from crm.segments.v1 by the journeys' consumer


async def insert_campaign(session: AsyncSession, values: dict[str, Any]) -> RowMapping:
    row: RowMapping = (
        (await session.execute(c.insert().values(**values).returning(c))).mappings().one()
    )
    return row


async def get_campaign(
    session: AsyncSession, tenant_id: str, campaign_id: str, *, lock: bool = False
) -> RowMapping | None:
    query = select(c).where(c.c.tenant_id == tenant_id, c.c.campaign_id == campaign_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).mappings().first()


async def list_campaigns(
    session: AsyncSession,
    tenant_id: str,
    status: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[RowMapping]:
    """Newest first; ``after`` is the (created_at, campaign_id) of the previous page's last."""
    query = select(c).where(c.c.tenant_id == tenant_id)
    if status is not None:
        query = query.where(c.c.status == status)
    if after is not None:
        created, cid = after
        query = query.where(
            or_(c.c.created_at < created, and_(c.c.created_at == created, c.c.campaign_id < cid))
        )
    query = query.order_by(c.c.created_at.desc(), c.c.campaign_id.desc()).limit(limit)
    return (await session.execute(query)).mappings().all()


async def update_campaign(session: AsyncSession, campaign_id: str, **values: Any) -> RowMapping:
    stmt = (
        c.update()
        .where(c.c.campaign_id == campaign_id)
        .values(**values, updated_at=func.now())
        .returning(c)
    )
    row: RowMapping = (await session.execute(stmt)).mappings().one()
    return row


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[RowMapping]:
    """Campaigns with work now (start due, or the next throttle slot reached), locked;
    other replicas skip them."""
    starting = and_(c.c.status == "scheduled", c.c.send_at <= now)
    running = and_(
        c.c.status == "sending", or_(c.c.next_batch_at.is_(None), c.c.next_batch_at <= now)
    )
    query = (
        select(c)
        .where(or_(starting, running))
        # Longest waiting first: campaigns take turns instead of the oldest hogging.
        .order_by(func.coalesce(c.c.next_batch_at, c.c.send_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(query)).mappings().all()


async def freeze_audience(session: AsyncSession, campaign: RowMapping) -> int:
    """Copy the segment's current members into the campaign's audience; their number."""
    # In profile order (the segment index gives it): the primary key is then
    # appended to, not scattered into.
    members = (
        select(literal(campaign["campaign_id"]), sm.c.profile_id, literal(campaign["tenant_id"]))
        .where(
            sm.c.tenant_id == campaign["tenant_id"],
            sm.c.segment_id == campaign["segment_id"],
            sm.c.state == "in",
        )
        .order_by(sm.c.profile_id)
    )
    stmt = (
        pg_insert(r)
        .from_select(["campaign_id", "profile_id", "tenant_id"], members)
        .on_conflict_do_nothing(index_elements=["campaign_id", "profile_id"])
    )
    await session.execute(stmt)
    total = await session.scalar(
        select(func.count()).select_from(r).where(r.c.campaign_id == campaign["campaign_id"])
    )
    return int(total or 0)


async def pending(session: AsyncSession, campaign_id: str, limit: int) -> list[str]:
    """Profiles of the audience not enqueued yet, in a stable order."""
    query = (
        select(r.c.profile_id)
        .where(r.c.campaign_id == campaign_id, r.c.message_id.is_(None))
        .order_by(r.c.profile_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


_MARK = text(
    """
    UPDATE messaging.campaign_recipients AS r
    SET message_id = v.message_id, enqueued_at = :now
    FROM unnest(CAST(:profiles AS text[]), CAST(:messages AS text[])) AS v(profile_id, message_id)
    WHERE r.campaign_id = :campaign AND r.profile_id = v.profile_id AND r.message_id IS NULL
    """
)


async def mark_enqueued(
    session: AsyncSession, campaign_id: str, done: dict[str, str], now: datetime
) -> int:
    """Record the message of each profile (one statement); how many were still pending."""
    if not done:
        return 0
    params = {
        "campaign": campaign_id,
        "now": now,
        "profiles": list(done),
        "messages": list(done.values()),
    }
    result = await session.execute(_MARK, params)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def count_pending(session: AsyncSession, campaign_id: str) -> int:
    query = select(func.count()).where(r.c.campaign_id == campaign_id, r.c.message_id.is_(None))
    return int(await session.scalar(query) or 0)
