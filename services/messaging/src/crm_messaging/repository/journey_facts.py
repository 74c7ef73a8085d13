"""SQL of the facts journeys read: segment memberships, engagement and orders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.tables import recipients
from crm_messaging.tables_journeys import journey_facts, journey_memberships

m, f = journey_memberships, journey_facts


async def set_membership(
    session: AsyncSession,
    tenant_id: str,
    profile_id: str,
    segment_id: str,
    state: str,
    at: datetime,
) -> None:
    """``in``/``out`` as of ``at``; an older event than the one applied changes nothing."""
    stmt = pg_insert(m).values(
        tenant_id=tenant_id, profile_id=profile_id, segment_id=segment_id, state=state, at=at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[m.c.tenant_id, m.c.profile_id, m.c.segment_id],
        set_={"state": stmt.excluded.state, "at": stmt.excluded.at},
        where=m.c.at <= stmt.excluded.at,
    )
    await session.execute(stmt)


async def segments_of(session: AsyncSession, tenant_id: str, profile_id: str) -> frozenset[str]:
    rows = await session.execute(
        select(m.c.segment_id).where(
            m.c.tenant_id == tenant_id, m.c.profile_id == profile_id, m.c.state == "in"
        )
    )
    return frozenset(segment_id for (segment_id,) in rows)


async def add_fact(
    session: AsyncSession,
    tenant_id: str,
    profile_id: str,
    kind: str,
    ref: str,
    at: datetime,
    data: dict[str, Any],
) -> None:
    stmt = pg_insert(f).values(
        tenant_id=tenant_id, profile_id=profile_id, kind=kind, ref=ref, at=at, data=data
    )
    await session.execute(stmt.on_conflict_do_nothing())


async def facts_of(session: AsyncSession, tenant_id: str, profile_id: str) -> Sequence[RowMapping]:
    rows = await session.execute(
        select(f.c.kind, f.c.ref, f.c.at, f.c.data)
        .where(f.c.tenant_id == tenant_id, f.c.profile_id == profile_id)
        .order_by(f.c.at)
    )
    return rows.mappings().all()


async def traits_of(session: AsyncSession, tenant_id: str, profile_id: str) -> dict[str, Any]:
    traits = await session.scalar(
        select(recipients.c.traits).where(
            recipients.c.tenant_id == tenant_id, recipients.c.profile_id == profile_id
        )
    )
    return dict(traits or {})


async def date_trait_matches(
    session: AsyncSession, tenant_id: str, trait: str, pattern: str, limit: int = 5000
) -> list[str]:
    """Profiles whose date trait (ISO text; a dotted path reaches into ``properties``)
    matches ``pattern``: ``MM-DD`` for yearly triggers, else ``YYYY-MM-DD``."""
    parts = tuple(trait.split("."))
    value = recipients.c.traits[parts if len(parts) > 1 else trait].astext
    part = func.substr(value, 6, 5) if len(pattern) == 5 else func.substr(value, 1, 10)
    rows = await session.execute(
        select(recipients.c.profile_id)
        .where(recipients.c.tenant_id == tenant_id, part == pattern)
        .order_by(recipients.c.profile_id)
        .limit(limit)
    )
    return [profile_id for (profile_id,) in rows]


Key = tuple[str, str]


async def segments_many(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, frozenset[str]]:
    """:func:`segments_of` for many people in one query."""
    wanted = list(set(keys))
    found: dict[Key, set[str]] = {key: set() for key in wanted}
    if wanted:
        rows = await session.execute(
            select(m.c.tenant_id, m.c.profile_id, m.c.segment_id).where(
                tuple_(m.c.tenant_id, m.c.profile_id).in_(wanted), m.c.state == "in"
            )
        )
        for tenant_id, profile_id, segment_id in rows:
            found[(tenant_id, profile_id)].add(segment_id)
    return {key: frozenset(segments) for key, segments in found.items()}


async def facts_many(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, list[RowMapping]]:
    """:func:`facts_of` for many people in one query (each person's in time order)."""
    wanted = list(set(keys))
    found: dict[Key, list[RowMapping]] = {key: [] for key in wanted}
    if wanted:
        rows = await session.execute(
            select(f.c.tenant_id, f.c.profile_id, f.c.kind, f.c.ref, f.c.at, f.c.data)
            .where(tuple_(f.c.tenant_id, f.c.profile_id).in_(wanted))
            .order_by(f.c.at)
        )
        for row in rows.mappings():
            found[(row["tenant_id"], row["profile_id"])].append(row)
    return found


async def traits_many(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
    """:func:`traits_of` for many people in one query ({} for one not in the read model)."""
    wanted = list(set(keys))
    found: dict[Key, dict[str, Any]] = {key: {} for key in wanted}
    if wanted:
        r = recipients
        rows = await session.execute(
            select(r.c.tenant_id, r.c.profile_id, r.c.traits).where(
                tuple_(r.c.tenant_id, r.c.profile_id).in_(wanted)
            )
        )
        for tenant_id, profile_id, traits in rows:
            found[(tenant_id, profile_id)] = dict(traits or {})
    return found
