"""SQL of the facts journeys read: segment memberships, engagement and orders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
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


def _pairs(keys: Iterable[Key]) -> dict[str, list[str]]:
    wanted = sorted(set(keys))
    return {"tenants": [k[0] for k in wanted], "profiles": [k[1] for k in wanted]}


# Many (tenant, profile) pairs as two arrays joined in: one statement and two
# parameters whatever their number (a tuple IN list is compiled per size).
_PEOPLE = "unnest(CAST(:tenants AS text[]), CAST(:profiles AS text[])) AS k(tenant_id, profile_id)"
_SEGMENTS = text(
    f"SELECT m.tenant_id, m.profile_id, m.segment_id FROM messaging.journey_memberships AS m "
    f"JOIN {_PEOPLE} USING (tenant_id, profile_id) WHERE m.state = 'in'"
)
_FACTS = text(
    f"SELECT f.tenant_id, f.profile_id, f.kind, f.ref, f.at, f.data "
    f"FROM messaging.journey_facts AS f JOIN {_PEOPLE} USING (tenant_id, profile_id) "
    f"ORDER BY f.at"
).columns(data=JSONB)
_TRAITS = text(
    f"SELECT r.tenant_id, r.profile_id, r.traits FROM messaging.recipients AS r "
    f"JOIN {_PEOPLE} USING (tenant_id, profile_id)"
).columns(traits=JSONB)


async def segments_many(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, frozenset[str]]:
    """:func:`segments_of` for many people in one query."""
    params = _pairs(keys)
    found: dict[Key, set[str]] = {k: set() for k in zip(*params.values(), strict=True)}
    if found:
        for tenant_id, profile_id, segment_id in await session.execute(_SEGMENTS, params):
            found[(tenant_id, profile_id)].add(segment_id)
    return {key: frozenset(segments) for key, segments in found.items()}


async def facts_many(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, list[RowMapping]]:
    """:func:`facts_of` for many people in one query (each person's in time order)."""
    params = _pairs(keys)
    found: dict[Key, list[RowMapping]] = {k: [] for k in zip(*params.values(), strict=True)}
    if found:
        for row in (await session.execute(_FACTS, params)).mappings():
            found[(row["tenant_id"], row["profile_id"])].append(row)
    return found


async def traits_many(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
    """:func:`traits_of` for many people in one query ({} for one not in the read model)."""
    params = _pairs(keys)
    found: dict[Key, dict[str, Any]] = {k: {} for k in zip(*params.values(), strict=True)}
    if found:
        for tenant_id, profile_id, traits in await session.execute(_TRAITS, params):
            found[(tenant_id, profile_id)] = dict(traits or {})
    return found
