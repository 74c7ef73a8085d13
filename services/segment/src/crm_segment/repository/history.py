"""``segment_size_history``: one row per active segment and local day of its tenant.

* :func:`record_sizes` (the sweeper, every sweep): upsert today's row of every
  active segment with its current number of open memberships, in one
  statement; an unchanged size is not rewritten.
* :data:`BACKFILL` (migration segment_0003, tests): the exact size at the end
  of each past day, from the membership history (rows keep ``exited_at``).
* :func:`window`: the rows a size-history answer needs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.tables import segment_size_history

DEFAULT_TZ = "Asia/Tokyo"

_RECORD = text(
    """
    INSERT INTO segment.segment_size_history AS h (tenant_id, segment_id, day, size, recorded_at)
    SELECT s.tenant_id, s.segment_id,
           (CAST(:now AS timestamptz) AT TIME ZONE coalesce(t.timezone, :default_tz))::date,
           count(m.profile_id), CAST(:now AS timestamptz)
    FROM segment.segments AS s
    LEFT JOIN segment.tenants AS t ON t.tenant_id = s.tenant_id
    LEFT JOIN segment.memberships AS m
      ON m.tenant_id = s.tenant_id AND m.segment_id = s.segment_id AND m.exited_at IS NULL
    WHERE s.status = 'active'
    GROUP BY s.tenant_id, s.segment_id, t.timezone
    ON CONFLICT (tenant_id, segment_id, day)
    DO UPDATE SET size = excluded.size, recorded_at = excluded.recorded_at
    WHERE h.size <> excluded.size
    """
)

# Size at the end of each local day from max(creation day, today - :days) to
# yesterday, for active segments (of one tenant when :tenant is not NULL).
BACKFILL = text(
    """
    INSERT INTO segment.segment_size_history (tenant_id, segment_id, day, size, recorded_at)
    SELECT s.tenant_id, s.segment_id, d.day::date, (
               SELECT count(*) FROM segment.memberships AS m
               WHERE m.tenant_id = s.tenant_id AND m.segment_id = s.segment_id
                 AND m.entered_at < ((d.day::date + 1)::timestamp AT TIME ZONE z.tz)
                 AND (m.exited_at IS NULL
                      OR m.exited_at >= ((d.day::date + 1)::timestamp AT TIME ZONE z.tz))
           ), CAST(:now AS timestamptz)
    FROM segment.segments AS s
    CROSS JOIN LATERAL (
        SELECT coalesce(
            (SELECT t.timezone FROM segment.tenants AS t WHERE t.tenant_id = s.tenant_id),
            :default_tz
        ) AS tz
    ) AS z
    CROSS JOIN LATERAL generate_series(
        greatest((s.created_at AT TIME ZONE z.tz)::date,
                 (CAST(:now AS timestamptz) AT TIME ZONE z.tz)::date - CAST(:days AS integer)),
        (CAST(:now AS timestamptz) AT TIME ZONE z.tz)::date - 1,
        interval '1 day'
    ) AS d(day)
    WHERE s.status = 'active'
      AND (CAST(:tenant AS text) IS NULL OR s.tenant_id = CAST(:tenant AS text))
    ON CONFLICT DO NOTHING
    """
)


async def record_sizes(session: AsyncSession, now: datetime) -> None:
    """Today's size (local day of each tenant at ``now``) of every active segment."""
    await session.execute(_RECORD, {"now": now, "default_tz": DEFAULT_TZ})


async def backfill(
    session: AsyncSession, now: datetime, days: int, tenant_id: str | None = None
) -> None:
    """Rows for past days that have none, from the membership history."""
    params = {"now": now, "days": days, "tenant": tenant_id, "default_tz": DEFAULT_TZ}
    await session.execute(BACKFILL, params)


async def window(
    session: AsyncSession, tenant_id: str, segment_id: str, first: date, last: date
) -> list[Any]:
    """``day``, ``size`` rows from the last one before ``first`` (carried in) to ``last``."""
    h = segment_size_history.c
    mine = (h.tenant_id == tenant_id, h.segment_id == segment_id)
    carried = select(h.day).where(*mine, h.day < first).order_by(h.day.desc()).limit(1)
    stmt = (
        select(h.day, h.size)
        .where(*mine, h.day <= last, h.day >= func.coalesce(carried.scalar_subquery(), first))
        .order_by(h.day)
    )
    return list(await session.execute(stmt))
