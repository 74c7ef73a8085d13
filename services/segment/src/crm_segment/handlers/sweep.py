"""Time passing: re-evaluate profiles whose next change is due, as soon as it is due;
queue the fill of scheduled 固定 segments and record today's size of every active
segment (``segment_size_history``) once per ``SEGMENT_SWEEP_SECONDS``.

The loop sleeps until the earliest ``next_change_at`` of any profile (looking again
at least every 5 s), so a cohort turning 休眠 at midnight moves at midnight.
Due profiles are taken ``SEGMENT_SWEEP_BATCH`` at a time (``FOR UPDATE SKIP
LOCKED``: replicas share them) and evaluated as one batch against the segments
whose clocks moved since their ``next_change_at`` (and their dependents).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

from crm_segment import metrics
from crm_segment.context import SegmentContext
from crm_segment.handlers.errors import SegmentNotFoundError
from crm_segment.handlers.evaluation import Candidate, sweep_and_apply
from crm_segment.handlers.segments import queue_scheduled_snapshot
from crm_segment.repository import catalog as catalog_repo
from crm_segment.repository import history, locks
from crm_segment.repository import profiles as profile_repo
from crm_segment.repository import segments as segment_repo

log = logging.getLogger(__name__)


MIN_PAUSE = 0.2  # seconds between two passes, however much is due
MAX_PAUSE = 5.0  # a moment made due meanwhile (by a consumer, a fill) waits no longer


async def run_forever(ctx: SegmentContext) -> None:
    """Sweep due profiles when they are due, the rest every ``SEGMENT_SWEEP_SECONDS``."""
    interval = ctx.settings.service.sweep_seconds
    chores_at = 0.0
    while True:
        try:
            if time.monotonic() >= chores_at:
                await sweep_once(ctx)
                chores_at = time.monotonic() + interval
            else:
                await sweep_due(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next pass tries again
            log.warning("sweep failed", extra={"error": repr(exc)})
        longest = min(interval, MAX_PAUSE, chores_at - time.monotonic())
        await asyncio.sleep(await _pause(ctx, longest))


async def _pause(ctx: SegmentContext, longest: float) -> float:
    """Seconds until the next profile is due (between MIN_PAUSE and ``longest``)."""
    try:
        async with ctx.db.transaction() as session:
            moment = await profile_repo.earliest_due(session)
    except Exception:  # the database is away: try again after the longest pause
        moment = None
    if moment is None:
        return max(MIN_PAUSE, longest)
    return max(MIN_PAUSE, min(longest, (moment - ctx.clock.now()).total_seconds()))


async def sweep_once(ctx: SegmentContext) -> int:
    """Due profiles, due snapshots and today's sizes; returns how many profiles."""
    now = ctx.clock.now()
    total = await sweep_due(ctx, now)
    await _fill_snapshots(ctx, now)
    async with ctx.db.transaction() as session:  # the console's size trend: today's row
        await history.record_sizes(session, ctx.clock.now())
    return total


async def sweep_due(ctx: SegmentContext, now: datetime | None = None) -> int:
    """One pass over the due profiles of every tenant; returns how many were evaluated."""
    started = time.perf_counter()
    now = now or ctx.clock.now()
    async with ctx.db.transaction() as session:
        tenants = await catalog_repo.tenants_with_live_segments(session)
    total = 0
    for tenant_id in tenants:
        total += await _sweep_tenant(ctx, tenant_id, now)
    if total:
        metrics.SWEEP_SECONDS.observe(time.perf_counter() - started)
        metrics.SWEPT_PROFILES.inc(total)
    return total


async def _sweep_tenant(ctx: SegmentContext, tenant_id: str, now: datetime) -> int:
    """``SEGMENT_SWEEP_PARALLEL`` workers take due batches at once (one evaluates in a
    worker thread while the database applies another's changes)."""
    workers = ctx.settings.service.sweep_parallel
    counts = await asyncio.gather(*(_sweep_batches(ctx, tenant_id, now) for _ in range(workers)))
    return sum(counts)


async def _sweep_batches(ctx: SegmentContext, tenant_id: str, now: datetime) -> int:
    limit = ctx.settings.service.sweep_batch
    total = 0
    while True:
        async with ctx.db.transaction() as session:
            await locks.share_tenants(session, [tenant_id])
            catalog = await ctx.catalogs.get(session, tenant_id)
            due = await profile_repo.lock_due(session, tenant_id, now, limit)
            candidates = [
                Candidate(p.profile_id, p.traits, None, p.next_change_at, "time") for p in due
            ]
            await sweep_and_apply(session, tenant_id, catalog, candidates, now)
        total += len(due)
        if len(due) < limit:
            return total


async def _fill_snapshots(ctx: SegmentContext, now: datetime, page: int = 10) -> None:
    """Queue a job for every due snapshot, each in its own transaction; one that cannot
    be filled (over the limits) is logged and the others go on."""
    after: tuple[datetime, str] | None = None
    while True:
        async with ctx.db.transaction() as session:
            due = await segment_repo.due_snapshots(session, now, page, after)
        for row in due:
            await _fill_snapshot(ctx, row.tenant_id, row.segment_id, now)
        if len(due) < page:
            return
        after = (due[-1].snapshot_at, due[-1].segment_id)


async def _fill_snapshot(
    ctx: SegmentContext, tenant_id: str, segment_id: str, now: datetime
) -> None:
    try:
        async with ctx.db.transaction() as session:
            await queue_scheduled_snapshot(ctx, session, tenant_id, segment_id, now)
    except SegmentNotFoundError as exc:
        log.warning(
            "scheduled snapshot not filled",
            extra={"tenant_id": tenant_id, "segment_id": segment_id, "error": str(exc)},
        )
