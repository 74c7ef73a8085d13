"""Queries behind the REST API (no locks: reads see the last committed state)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Integer, Numeric, Select, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_profile.domain import Identifier
from crm_profile.tables import (
    engagement,
    identifiers,
    orders,
    processed_events,
    profiles,
    subscriptions,
    timeline,
)


async def profile(session: AsyncSession, tenant_id: str, profile_id: str) -> Any | None:
    p = profiles
    stmt = select(p).where(p.c.tenant_id == tenant_id, p.c.profile_id == profile_id)
    return (await session.execute(stmt)).first()


async def aliases_of(session: AsyncSession, tenant_id: str, profile_id: str) -> list[str]:
    p = profiles
    stmt = (
        select(p.c.profile_id)
        .where(p.c.tenant_id == tenant_id, p.c.merged_into == profile_id)
        .order_by(p.c.profile_id)
    )
    return list((await session.execute(stmt)).scalars())


async def identifiers_of(session: AsyncSession, tenant_id: str, profile_id: str) -> list[Any]:
    i = identifiers
    stmt = (
        select(i.c.kind, i.c.value)
        .where(i.c.tenant_id == tenant_id, i.c.profile_id == profile_id)
        .order_by(i.c.kind, i.c.value)
    )
    return list(await session.execute(stmt))


async def owners(
    session: AsyncSession, tenant_id: str, wanted: Collection[Identifier]
) -> list[str]:
    i = identifiers
    keys = [(w.kind.value, w.value) for w in wanted]
    stmt = (
        select(i.c.profile_id)
        .where(i.c.tenant_id == tenant_id, tuple_(i.c.kind, i.c.value).in_(keys))
        .distinct()
        .order_by(i.c.profile_id)
    )
    return list((await session.execute(stmt)).scalars())


@dataclass(frozen=True)
class SearchFilters:
    f_stage: str | None = None
    rfm_rank: tuple[str, ...] = ()
    orders_count_min: int | None = None
    orders_count_max: int | None = None
    total_spent_min: Decimal | None = None
    total_spent_max: Decimal | None = None
    last_order_before: datetime | None = None
    last_order_after: datetime | None = None
    prefecture: str | None = None
    tag: str | None = None
    include_deleted: bool = False


async def search(
    session: AsyncSession, tenant_id: str, filters: SearchFilters, after: str | None, limit: int
) -> list[Any]:
    """Live profiles matching every filter, by id, after the cursor id."""
    p = profiles
    stmt = select(p).where(p.c.tenant_id == tenant_id, p.c.merged_into.is_(None))
    stmt = _filtered(stmt, filters)
    if after is not None:
        stmt = stmt.where(p.c.profile_id > after)
    stmt = stmt.order_by(p.c.profile_id).limit(limit)
    return list(await session.execute(stmt))


def _filtered(stmt: Select[Any], f: SearchFilters) -> Select[Any]:
    t = profiles.c.traits
    count = t["orders_count"].astext.cast(Integer)
    spent = t["total_spent"].astext.cast(Numeric)
    last = t["last_order_at"].astext.cast(DateTime(timezone=True))
    conditions: list[tuple[object, Callable[[], Any]]] = [
        (f.f_stage, lambda: t["f_stage"].astext == f.f_stage),
        (f.rfm_rank or None, lambda: t["rfm_rank"].astext.in_(f.rfm_rank)),
        (f.orders_count_min, lambda: count >= f.orders_count_min),
        (f.orders_count_max, lambda: count <= f.orders_count_max),
        (f.total_spent_min, lambda: spent >= f.total_spent_min),
        (f.total_spent_max, lambda: spent <= f.total_spent_max),
        (f.last_order_before, lambda: last < f.last_order_before),
        (f.last_order_after, lambda: last >= f.last_order_after),
        (f.prefecture, lambda: t["prefecture"].astext == f.prefecture),
        (f.tag, lambda: t["tags"].contains([f.tag])),
    ]
    for value, condition in conditions:
        if value is not None:
            stmt = stmt.where(condition())
    if not f.include_deleted:
        stmt = stmt.where(profiles.c.deleted_at.is_(None))
    return stmt


_EXPORT_PAGE = text(
    """
    SELECT p.profile_id, jsonb_build_object(
        'profile_id', p.profile_id, 'version', p.version,
        'created_at', p.created_at, 'updated_at', p.updated_at,
        'deleted', p.deleted_at IS NOT NULL, 'redacted', p.redacted_at IS NOT NULL,
        'identifiers', coalesce((
            SELECT jsonb_agg(jsonb_build_object('kind', i.kind, 'value', i.value)
                             ORDER BY i.kind, i.value)
            FROM "profile".identifiers AS i
            WHERE i.tenant_id = p.tenant_id AND i.profile_id = p.profile_id), '[]'::jsonb),
        'traits', p.traits)::text
    FROM "profile".profiles AS p
    WHERE p.tenant_id = :tenant_id AND p.merged_into IS NULL
      AND (CAST(:after AS text) IS NULL OR p.profile_id > CAST(:after AS text))
    ORDER BY p.profile_id
    LIMIT :limit
    """
)


async def export_page(
    session: AsyncSession, tenant_id: str, after: str | None, limit: int
) -> list[tuple[str, str]]:
    """``(profile_id, JSON text)`` of up to ``limit`` live profiles after ``after``, by id."""
    rows = await session.execute(
        _EXPORT_PAGE, {"tenant_id": tenant_id, "after": after, "limit": limit}
    )
    return [(r[0], r[1]) for r in rows]


async def timeline_page(
    session: AsyncSession,
    tenant_id: str,
    profile_id: str,
    before: tuple[datetime, str] | None,
    limit: int | None,
) -> list[Any]:
    """Newest first; ``before`` is the (occurred_at, event_id) of the last row seen."""
    t = timeline
    stmt = select(t).where(t.c.tenant_id == tenant_id, t.c.profile_id == profile_id)
    if before is not None:
        stmt = stmt.where(tuple_(t.c.occurred_at, t.c.event_id) < tuple_(*before))
    stmt = stmt.order_by(t.c.occurred_at.desc(), t.c.event_id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(await session.execute(stmt))


async def orders_of(session: AsyncSession, tenant_id: str, profile_id: str) -> list[Any]:
    o = orders
    stmt = (
        select(o.c.order_id, o.c.fact, o.c.placed_at)
        .where(o.c.tenant_id == tenant_id, o.c.profile_id == profile_id, o.c.fact.is_not(None))
        .order_by(o.c.placed_at.desc().nulls_last(), o.c.order_id)
    )
    return list(await session.execute(stmt))


async def facts_of(session: AsyncSession, tenant_id: str, profile_id: str) -> dict[str, list[Any]]:
    """Engagement and subscription facts (for the export)."""
    out: dict[str, list[Any]] = {}
    for name, table in (("engagement", engagement), ("subscriptions", subscriptions)):
        stmt = select(table.c.fact).where(
            table.c.tenant_id == tenant_id, table.c.profile_id == profile_id
        )
        out[name] = [f for f in (await session.execute(stmt)).scalars() if f is not None]
    return out


async def claim_event_id(session: AsyncSession, consumer: str, event_id: str) -> bool:
    """Record an event id as processed by ``consumer``; False when it already was."""
    stmt = (
        pg_insert(processed_events)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(processed_events.c.event_id)
    )
    return (await session.execute(stmt)).first() is not None
