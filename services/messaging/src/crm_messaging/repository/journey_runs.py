"""SQL of journey runs: entry (keys, the one-active-run rule), claiming due runs,
saving their state, and the per-run step history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import RowMapping, case, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.tables_journeys import (
    journey_run_keys,
    journey_run_steps,
    journey_runs,
    journeys,
)

r, k, h = journey_runs, journey_run_keys, journey_run_steps


async def entries(
    session: AsyncSession, tenant_id: str, journey_id: str, profile_id: str
) -> Sequence[RowMapping]:
    """Earlier runs of a person in a journey (entered_at, status, exit_reason)."""
    query = select(r.c.entered_at, r.c.status, r.c.exit_reason).where(
        r.c.tenant_id == tenant_id, r.c.journey_id == journey_id, r.c.profile_id == profile_id
    )
    return (await session.execute(query)).mappings().all()


async def claim_key(
    session: AsyncSession, tenant_id: str, journey_id: str, run_key: str, run_id: str
) -> bool:
    """True when the key was free (this trigger fact starts no other run)."""
    stmt = (
        pg_insert(k)
        .values(tenant_id=tenant_id, journey_id=journey_id, run_key=run_key, run_id=run_id)
        .on_conflict_do_nothing()
        .returning(k.c.run_key)
    )
    return (await session.execute(stmt)).first() is not None


async def insert_run(session: AsyncSession, values: dict[str, Any]) -> bool:
    """False when the person already has an active run (the partial unique index)."""
    stmt = (
        pg_insert(r)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "journey_id", "profile_id"],
            index_where=text("status = 'active'"),
        )
        .returning(r.c.run_id)
    )
    return (await session.execute(stmt)).first() is not None


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[RowMapping]:
    """Active runs of live journeys whose wake time has come, locked; other workers skip
    them. Runs of paused journeys stay put until the journey resumes."""
    query = (
        select(r)
        .join(
            journeys,
            (journeys.c.tenant_id == r.c.tenant_id) & (journeys.c.journey_id == r.c.journey_id),
        )
        .where(r.c.status == "active", r.c.next_wake_at <= now, journeys.c.status == "live")
        .order_by(r.c.next_wake_at)
        .limit(limit)
        .with_for_update(of=r, skip_locked=True)
    )
    return (await session.execute(query)).mappings().all()


async def save_run(session: AsyncSession, run_id: str, **values: Any) -> None:
    await session.execute(update(r).where(r.c.run_id == run_id).values(**values))


_SAVE_MANY = text(
    """
    UPDATE messaging.journey_runs AS r
    SET status = v.status, current_step_id = v.step, step_entered_at = v.step_at,
        visited = CAST(v.visited AS jsonb), next_wake_at = v.wake, exit_reason = v.reason,
        finished_at = v.finished, updated_at = v.updated
    FROM unnest(CAST(:ids AS text[]), CAST(:statuses AS text[]), CAST(:steps AS text[]),
                CAST(:step_ats AS timestamptz[]), CAST(:visited AS text[]),
                CAST(:wakes AS timestamptz[]), CAST(:reasons AS text[]),
                CAST(:finished AS timestamptz[]), CAST(:updated AS timestamptz[]))
        AS v(id, status, step, step_at, visited, wake, reason, finished, updated)
    WHERE r.run_id = v.id
    """
)


async def save_runs(session: AsyncSession, runs: Sequence[dict[str, Any]]) -> None:
    """:func:`save_run` for many runs in one statement; each dict has ``run_id``,
    ``status``, ``current_step_id``, ``step_entered_at``, ``visited``, ``next_wake_at``,
    ``exit_reason``, ``finished_at`` and ``updated_at``."""
    if not runs:
        return
    params = {
        "ids": [x["run_id"] for x in runs],
        "statuses": [x["status"] for x in runs],
        "steps": [x["current_step_id"] for x in runs],
        "step_ats": [x["step_entered_at"] for x in runs],
        "visited": [orjson.dumps(x["visited"]).decode() for x in runs],
        "wakes": [x["next_wake_at"] for x in runs],
        "reasons": [x["exit_reason"] for x in runs],
        "finished": [x["finished_at"] for x in runs],
        "updated": [x["updated_at"] for x in runs],
    }
    await session.execute(_SAVE_MANY, params)


async def wake_profile(
    session: AsyncSession, tenant_id: str, profile_id: str, now: datetime
) -> None:
    """A new fact about the person: let the worker look at their runs now (goals,
    branches); a wait re-arms itself.

    Every active run of the person is updated, also one already due: the update
    locks the row until this fact commits, so a worker either skips the run (SKIP
    LOCKED) and takes it after the commit, seeing the fact, or holds it now and this
    update waits and then wakes it again. Skipping due runs let a worker evaluate a
    run without the uncommitted fact and re-arm a 3-hour wait over it (a lost wake).
    """
    # Runs still settling before their entry check keep their time (but are locked
    # alike, so the check after the settle sees this fact).
    settling = text("journey_runs.visited = '{}'::jsonb")
    wake = case(
        (settling, r.c.next_wake_at), else_=func.least(func.coalesce(r.c.next_wake_at, now), now)
    )
    await session.execute(
        update(r)
        .where(r.c.tenant_id == tenant_id, r.c.profile_id == profile_id, r.c.status == "active")
        .values(next_wake_at=wake)
    )


async def exit_active(
    session: AsyncSession, tenant_id: str, journey_id: str, reason: str, now: datetime
) -> list[str]:
    """End every active run of a journey (archive); their ids."""
    rows = await session.execute(
        update(r)
        .where(r.c.tenant_id == tenant_id, r.c.journey_id == journey_id, r.c.status == "active")
        .values(
            status="exited", exit_reason=reason, next_wake_at=None, finished_at=now, updated_at=now
        )
        .returning(r.c.run_id)
    )
    return [run_id for (run_id,) in rows]


async def add_history(
    session: AsyncSession,
    run_id: str,
    tenant_id: str,
    entries_: Sequence[tuple[str | None, str, dict[str, Any], datetime]],
) -> None:
    """Append (step id, action, detail, at) entries after the run's last one."""
    if not entries_:
        return
    last = await session.scalar(select(func.max(h.c.seq)).where(h.c.run_id == run_id))
    start = (last or 0) + 1
    await session.execute(
        insert(h),
        [
            {
                "run_id": run_id,
                "seq": start + i,
                "tenant_id": tenant_id,
                "step_id": step_id,
                "action": action,
                "detail": detail,
                "at": at,
            }
            for i, (step_id, action, detail, at) in enumerate(entries_)
        ],
    )


_ADD_MANY = text(
    """
    INSERT INTO messaging.journey_run_steps (run_id, seq, tenant_id, step_id, action, detail, at)
    SELECT id, seq, tenant, step, action, CAST(detail AS jsonb), at
    FROM unnest(CAST(:ids AS text[]), CAST(:seqs AS integer[]), CAST(:tenants AS text[]),
                CAST(:steps AS text[]), CAST(:actions AS text[]), CAST(:details AS text[]),
                CAST(:ats AS timestamptz[]))
        AS v(id, seq, tenant, step, action, detail, at)
    """
)
_LAST = text(
    "SELECT DISTINCT ON (run_id) run_id, seq, step_id, action "
    "FROM messaging.journey_run_steps WHERE run_id = ANY(CAST(:ids AS text[])) "
    "ORDER BY run_id, seq DESC"
)


async def add_histories(
    session: AsyncSession,
    runs: Sequence[
        tuple[str, str, int, Sequence[tuple[str | None, str, dict[str, Any], datetime]]]
    ],
) -> None:
    """:func:`add_history` for many runs in one statement: (run id, tenant id, the
    first free seq, entries)."""
    rows = [
        (run_id, start + i, tenant_id, step_id, action, detail, at)
        for run_id, tenant_id, start, entries_ in runs
        for i, (step_id, action, detail, at) in enumerate(entries_)
    ]
    if not rows:
        return
    params = {
        "ids": [x[0] for x in rows],
        "seqs": [x[1] for x in rows],
        "tenants": [x[2] for x in rows],
        "steps": [x[3] for x in rows],
        "actions": [x[4] for x in rows],
        "details": [orjson.dumps(x[5]).decode() for x in rows],
        "ats": [x[6] for x in rows],
    }
    await session.execute(_ADD_MANY, params)


async def last_entries(session: AsyncSession, run_ids: Sequence[str]) -> dict[str, RowMapping]:
    """Each run's last history entry (seq, step_id, action), in one query."""
    if not run_ids:
        return {}
    rows = await session.execute(_LAST, {"ids": list(run_ids)})
    return {row["run_id"]: row for row in rows.mappings()}


async def last_entry(session: AsyncSession, run_id: str) -> RowMapping | None:
    query = select(h.c.step_id, h.c.action).where(h.c.run_id == run_id)
    return (await session.execute(query.order_by(h.c.seq.desc()).limit(1))).mappings().first()


async def runs_of(
    session: AsyncSession,
    tenant_id: str,
    journey_id: str,
    profile_id: str | None,
    limit: int = 100,
) -> Sequence[RowMapping]:
    query = select(r).where(r.c.tenant_id == tenant_id, r.c.journey_id == journey_id)
    if profile_id is not None:
        query = query.where(r.c.profile_id == profile_id)
    query = query.order_by(r.c.entered_at.desc(), r.c.run_id).limit(limit)
    return (await session.execute(query)).mappings().all()


async def history(session: AsyncSession, run_ids: Sequence[str]) -> dict[str, list[RowMapping]]:
    out: dict[str, list[RowMapping]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return out
    rows = await session.execute(
        select(h).where(h.c.run_id.in_(list(run_ids))).order_by(h.c.run_id, h.c.seq)
    )
    for row in rows.mappings():
        out[row["run_id"]].append(row)
    return out


async def oldest_due(session: AsyncSession, now: datetime) -> datetime | None:
    """The earliest wake time that is already past (worker lag)."""
    oldest: datetime | None = await session.scalar(
        select(func.min(r.c.next_wake_at)).where(r.c.status == "active", r.c.next_wake_at <= now)
    )
    return oldest
