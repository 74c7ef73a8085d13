"""Set-based work over the read model: fill chunks, preview, verify.

Statements carrying a definition are compiled off the event loop
(:mod:`crm_segment.repository.compiled`); callers bound their run time with a
statement timeout (:mod:`crm_segment.repository.timeouts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    TextClause,
    cast,
    false,
    func,
    literal,
    literal_column,
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
from crm_segment.repository.changes import WRITES
from crm_segment.repository.compiled import as_sql, as_text, execute
from crm_segment.sqlcompile import compile_definition
from crm_segment.sqltiming import next_change_bound
from crm_segment.tables import memberships, profiles


def members_query(definition: Definition, tenant_id: str, now: datetime) -> Select[tuple[str]]:
    """Profile ids that belong to the segment at ``now``: eligible and matching."""
    query = compile_definition(definition, tenant_id, now)
    true = cast(literal("true"), JSONB)
    flags = [
        func.coalesce(profiles.c.traits.op("->", return_type=JSONB)(flag) == true, false())
        for flag in INELIGIBLE_FLAGS
    ]
    return query.where(not_(or_(*flags)))


# One chunk of a fill (handlers/jobs.py): the members among the chunk's profiles, diffed
# against the open rows, the changed profiles claimed (when the segment is live: see
# repository/claims.py) and written with their events (repository/changes.py).
_FILL = """
WITH matched AS ({matched}),
open AS (
  SELECT profile_id FROM segment.memberships
  WHERE tenant_id = :tenant AND segment_id = :fill_segment AND exited_at IS NULL
    AND profile_id > CAST(:chunk_lo AS text) AND profile_id <= CAST(:chunk_hi AS text)
),
diff AS (
  SELECT x.profile_id, true AS enter FROM matched AS x
  WHERE NOT EXISTS (SELECT 1 FROM open AS o WHERE o.profile_id = x.profile_id)
  UNION ALL
  SELECT o.profile_id, false FROM open AS o
  WHERE NOT EXISTS (SELECT 1 FROM matched AS x WHERE x.profile_id = o.profile_id)
),
claimed AS ({claimed}),
wanted AS (
  SELECT CAST(:fill_segment AS text) AS segment_id, d.profile_id,
         CAST(:fill_reason AS text) AS reason, d.enter,
         row_number() OVER (ORDER BY d.profile_id) AS n
  FROM diff AS d JOIN claimed AS c USING (profile_id)
),"""
_CLAIMED = (
    "INSERT INTO segment.fill_claims (tenant_id, segment_id, profile_id)"
    " SELECT :tenant, :fill_segment, profile_id FROM diff"
    ' ORDER BY profile_id COLLATE "C" ON CONFLICT DO NOTHING RETURNING profile_id'
)
_UNCLAIMED = "SELECT profile_id FROM diff"
_LO: ColumnElement[str] = literal_column("CAST(:chunk_lo AS text)")
_HI: ColumnElement[str] = literal_column("CAST(:chunk_hi AS text)")


def fill_statement(
    definition: Definition, tenant_id: str, now: datetime, *, live: bool
) -> TextClause:
    """The statement filling one chunk ``(chunk_lo, chunk_hi]`` of profiles (bound with
    ``fill_segment``, ``fill_reason`` and :func:`crm_segment.handlers.publish.told`).
    CPU-bound for a large definition: compile it in a worker thread, once per job."""
    p = profiles.c
    matched = members_query(definition, tenant_id, now).where(
        p.profile_id > _LO, p.profile_id <= _HI
    )
    sql, binds = as_sql(matched)
    head = _FILL.format(matched=sql, claimed=_CLAIMED if live else _UNCLAIMED)
    return text(head + WRITES).bindparams(*binds)


def next_change_statement(
    definition: Definition, tenant_id: str, now: datetime
) -> TextClause | None:
    """The statement bringing each profile's next_change_at of one chunk forward to the
    definition's next boundary (None: no relative time). Rows other transactions hold
    are skipped: they are being evaluated right now, against this segment too."""
    bound = next_change_bound(definition, now)  # correlated to profiles
    if bound is None:
        return None
    p = profiles.c
    never = cast(literal("infinity"), DateTime(timezone=True))
    due = (
        select(p.tenant_id, p.profile_id, bound.label("bound"))
        .where(
            p.tenant_id == tenant_id,
            p.profile_id > _LO,
            p.profile_id <= _HI,
            bound < func.coalesce(p.next_change_at, never),
        )
        .with_for_update(skip_locked=True, of=profiles)
        .cte("due")
    )
    stmt = (
        update(profiles)
        .where(p.tenant_id == due.c.tenant_id, p.profile_id == due.c.profile_id)
        .values(next_change_at=due.c.bound)
    )
    return as_text(stmt)


async def roomy(session: AsyncSession) -> None:
    """Memory for a fill chunk's sorts and hashes (tens of thousands of rows): without
    it they spill to disk."""
    await session.execute(select(func.set_config("work_mem", "64MB", True)))


async def fill_chunk(
    session: AsyncSession, statement: TextClause, params: dict[str, Any]
) -> tuple[int, int]:
    """Run one chunk of a fill; (entered, exited)."""
    row = (await session.execute(statement, params, execution_options=_UNCACHED)).one()
    return int(row.entered), int(row.exited)


async def lower_next_change(
    session: AsyncSession, statement: TextClause, params: dict[str, Any]
) -> None:
    await session.execute(statement, params, execution_options=_UNCACHED)


_UNCACHED = {"compiled_cache": None}  # every definition's text is new


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
