"""``segment_jobs``: fills and refills as background jobs (see handlers/jobs.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.tables import profiles, segment_jobs

UNFINISHED = ("queued", "running")
JobRow = Any  # a Row of segment_jobs

j = segment_jobs.c


def new_job_id() -> str:
    return f"job_{uuid.uuid4().hex[:20]}"


async def add(session: AsyncSession, values: dict[str, Any]) -> JobRow:
    await session.execute(insert(segment_jobs).values(**values))
    return await get(session, values["tenant_id"], values["job_id"])


async def get(session: AsyncSession, tenant_id: str, job_id: str) -> JobRow | None:
    stmt = select(segment_jobs).where(j.tenant_id == tenant_id, j.job_id == job_id)
    return (await session.execute(stmt)).first()


async def latest(session: AsyncSession, tenant_id: str, segment_id: str) -> JobRow | None:
    """The segment's most recent job."""
    stmt = (
        select(segment_jobs)
        .where(j.tenant_id == tenant_id, j.segment_id == segment_id)
        .order_by(j.created_at.desc(), j.job_id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).first()


async def unfinished_segments(session: AsyncSession, tenant_id: str) -> list[str]:
    """Segments a queued or running job of the tenant is filling."""
    rows = await session.execute(
        select(j.segment_id).where(j.tenant_id == tenant_id, j.state.in_(UNFINISHED)).distinct()
    )
    return sorted(rows.scalars())


async def unfinished_for(session: AsyncSession, tenant_id: str, segment_id: str) -> bool:
    stmt = select(func.count()).where(
        j.tenant_id == tenant_id, j.segment_id == segment_id, j.state.in_(UNFINISHED)
    )
    return bool(await session.scalar(stmt))


# The oldest runnable job, never one behind an unfinished older job of its tenant:
# a tenant's jobs run one at a time, in order (a segment reading another is filled
# after it). A running job whose lease ran out (its replica died) is taken over.
_CLAIM = text(
    """
    UPDATE segment.segment_jobs AS job
    SET state = 'running', lease_until = :lease_until, attempts = job.attempts + 1,
        started_at = coalesce(job.started_at, :now)
    WHERE job.job_id = (
        SELECT c.job_id FROM segment.segment_jobs AS c
        WHERE (c.state = 'queued' OR (c.state = 'running' AND c.lease_until < :now))
          AND NOT EXISTS (
              SELECT 1 FROM segment.segment_jobs AS o
              WHERE o.tenant_id = c.tenant_id AND o.state IN ('queued', 'running')
                AND (o.created_at, o.job_id) < (c.created_at, c.job_id))
        ORDER BY c.created_at, c.job_id
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
    RETURNING job.*
    """
)


async def claim_next(session: AsyncSession, now: datetime, lease: timedelta) -> JobRow | None:
    """Take the next runnable job (state running, a lease, one more attempt)."""
    result = await session.execute(_CLAIM, {"now": now, "lease_until": now + lease})
    return result.first()


async def renew(
    session: AsyncSession, job: JobRow, now: datetime, lease: timedelta, **progress: Any
) -> bool:
    """Extend the lease and record progress; False when another replica took the job
    over (its attempt number moved) or it is no longer running."""
    result = await session.execute(
        update(segment_jobs)
        .where(j.job_id == job.job_id, j.attempts == job.attempts, j.state == "running")
        .values(lease_until=now + lease, **progress)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def finish(
    session: AsyncSession, job: JobRow, state: str, now: datetime, error: Any = None
) -> None:
    await session.execute(
        update(segment_jobs)
        .where(j.job_id == job.job_id)
        .values(state=state, finished_at=now, lease_until=None, error=error)
    )


async def cancel_unfinished(
    session: AsyncSession, tenant_id: str, segment_id: str, now: datetime
) -> None:
    """Cancel the segment's queued or running jobs (an edit or archive supersedes them)."""
    await session.execute(
        update(segment_jobs)
        .where(j.tenant_id == tenant_id, j.segment_id == segment_id, j.state.in_(UNFINISHED))
        .values(state="cancelled", finished_at=now, lease_until=None)
    )


async def chunk_end(
    session: AsyncSession, tenant_id: str, after: str, size: int
) -> tuple[str | None, int]:
    """The last profile id of the next chunk of ``size`` profiles after ``after`` (in
    index order) and how many profiles it holds; (None, 0) when none is left."""
    p = profiles.c
    window = (
        select(p.profile_id)
        .where(p.tenant_id == tenant_id, p.profile_id > after)
        .order_by(p.profile_id)
        .limit(size)
        .subquery()
    )
    row = (await session.execute(select(func.max(window.c.profile_id), func.count()))).one()
    return row[0], int(row[1])


async def count_profiles(session: AsyncSession, tenant_id: str) -> int:
    return int(
        await session.scalar(select(func.count()).where(profiles.c.tenant_id == tenant_id)) or 0
    )
