"""Set-based work over the read model: fill, preview, verify.

Statements carrying a definition are compiled off the event loop
(:mod:`crm_segment.repository.compiled`); callers bound their run time with a
statement timeout (:mod:`crm_segment.repository.timeouts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.domain.definition import Definition
from crm_segment.domain.membership import INELIGIBLE_FLAGS
from crm_segment.repository.compiled import execute
from crm_segment.sqlcompile import compile_definition
from crm_segment.sqltiming import next_change_bound
from crm_segment.tables import memberships, profiles

# Per-transaction scratch table of the profiles a fill selected.
_matched = Table("segment_fill_matched", MetaData(), Column("profile_id", Text, primary_key=True))
_CREATE_MATCHED = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS segment_fill_matched "
    "(profile_id text PRIMARY KEY) ON COMMIT DROP"
)


def members_query(definition: Definition, tenant_id: str, now: datetime) -> Select[tuple[str]]:
    """Profile ids that belong to the segment at ``now``: eligible and matching."""
    query = compile_definition(definition, tenant_id, now)
    true = cast(literal("true"), JSONB)
    flags = [
        func.coalesce(profiles.c.traits.op("->", return_type=JSONB)(flag) == true, false())
        for flag in INELIGIBLE_FLAGS
    ]
    return query.where(not_(or_(*flags)))


async def fill(
    session: AsyncSession, tenant_id: str, segment_id: str, definition: Definition, now: datetime
) -> tuple[list[str], list[tuple[str, datetime]]]:
    """Make the open rows equal the SQL result; return (entered ids, exited (id, entered_at))."""
    await session.execute(text(_CREATE_MATCHED))
    await session.execute(text("TRUNCATE segment_fill_matched"))
    await execute(
        session,
        _matched.insert().from_select(["profile_id"], members_query(definition, tenant_id, now)),
    )
    await session.execute(text("ANALYZE segment_fill_matched"))
    m = memberships.c
    is_open = and_(m.tenant_id == tenant_id, m.segment_id == segment_id, m.exited_at.is_(None))
    exited = await session.execute(
        update(memberships)
        .where(is_open, ~exists().where(_matched.c.profile_id == m.profile_id))
        .values(exited_at=now)
        .returning(m.profile_id, m.entered_at)
    )
    gone = [(row.profile_id, row.entered_at) for row in exited]
    new = select(
        literal(tenant_id, Text()),
        literal(segment_id, Text()),
        _matched.c.profile_id,
        literal(now, DateTime(timezone=True)),
    ).where(~exists().where(is_open, m.profile_id == _matched.c.profile_id))
    entered = await session.execute(
        memberships.insert()
        .from_select(["tenant_id", "segment_id", "profile_id", "entered_at"], new)
        .returning(m.profile_id)
    )
    return list(entered.scalars()), gone


async def lower_next_change(
    session: AsyncSession, tenant_id: str, definition: Definition, now: datetime
) -> int:
    """Bring each profile's next_change_at forward to the segment's next boundary."""
    candidate = next_change_bound(definition, now)  # correlated to the updated row
    if candidate is None:
        return 0
    p = profiles.c
    result = await execute(
        session,
        update(profiles)
        .where(
            p.tenant_id == tenant_id,
            candidate
            < func.coalesce(p.next_change_at, cast(literal("infinity"), DateTime(timezone=True))),
        )
        .values(next_change_at=candidate),
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def preview(
    session: AsyncSession, definition: Definition, tenant_id: str, now: datetime, sample: int
) -> tuple[int, Sequence[Any]]:
    query = members_query(definition, tenant_id, now).subquery()
    count = await execute(session, select(func.count()).select_from(query))
    rows = await execute(
        session,
        select(profiles.c.profile_id, profiles.c.traits)
        .where(
            profiles.c.tenant_id == tenant_id, profiles.c.profile_id.in_(select(query.c.profile_id))
        )
        .order_by(profiles.c.profile_id)
        .limit(sample),
        profiles.c.profile_id,
        profiles.c.traits,
    )
    return int(count.scalar() or 0), rows.all()


async def differences(
    session: AsyncSession, tenant_id: str, segment_id: str, definition: Definition, now: datetime
) -> tuple[list[str], list[str]]:
    """(members SQL selects but memberships lack, open memberships SQL does not select)."""
    expected = members_query(definition, tenant_id, now)
    m = memberships.c
    actual = select(m.profile_id).where(
        m.tenant_id == tenant_id, m.segment_id == segment_id, m.exited_at.is_(None)
    )
    missing = await execute(session, expected.except_(actual))
    extra = await execute(session, actual.except_(expected))
    return sorted(str(v) for v in missing.scalars()), sorted(str(v) for v in extra.scalars())
