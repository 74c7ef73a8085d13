"""Time passing: re-evaluate profiles whose next change is due; fill scheduled 固定 segments;
record today's size of every active segment (``segment_size_history``)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

from crm_segment import metrics
from crm_segment.context import SegmentContext
from crm_segment.handlers.errors import SegmentNotFoundError
from crm_segment.handlers.evaluation import Candidate, evaluate_and_apply
from crm_segment.handlers.segments import fill_scheduled_snapshot
from crm_segment.repository import catalog as catalog_repo
from crm_segment.repository import history, locks
from crm_segment.repository import profiles as profile_repo
from crm_segment.repository import segments as segment_repo
from crm_segment.repository.timeouts import QueryTimeoutError, bounded

log = logging.getLogger(__name__)


async def run_forever(ctx: SegmentContext) -> None:
    """Sweep every ``SEGMENT_SWEEP_SECONDS`` until cancelled."""
    interval = ctx.settings.service.sweep_seconds
    while True:
        try:
            await sweep_once(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next sweep tries again
            log.warning("sweep failed", extra={"error": repr(exc)})
        await asyncio.sleep(interval)


async def sweep_once(ctx: SegmentContext) -> int:
    """One pass over the due profiles of every tenant; returns how many were evaluated."""
    started = time.perf_counter()
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        tenants = await catalog_repo.tenants_with_live_segments(session)
    total = 0
    for tenant_id in tenants:
        total += await _sweep_tenant(ctx, tenant_id, now)
    await _fill_snapshots(ctx, now)
    async with ctx.db.transaction() as session:  # the console's size trend: today's row
        await history.record_sizes(session, now)
    metrics.SWEEP_SECONDS.observe(time.perf_counter() - started)
    metrics.SWEPT_PROFILES.inc(total)
    return total


async def _sweep_tenant(ctx: SegmentContext, tenant_id: str, now: datetime) -> int:
    limit = ctx.settings.service.sweep_batch
    total = 0
    while True:
        async with ctx.db.transaction() as session:
            await locks.share_tenants(session, [tenant_id])
            catalog = await ctx.catalogs.get(session, tenant_id)
            due = await profile_repo.lock_due(session, tenant_id, now, limit)
            segments = catalog.closure(catalog.time_dependent)
            candidates = [
                Candidate(p.profile_id, p.traits, segments, p.next_change_at, True, "time")
                for p in due
            ]
            if segments:
                await evaluate_and_apply(session, tenant_id, catalog, candidates, now, "sweep")
            else:  # nothing moves with time any more
                await profile_repo.set_next_change(
                    session, tenant_id, dict.fromkeys((p.profile_id for p in due), None)
                )
        total += len(due)
        if len(due) < limit:
            return total


async def _fill_snapshots(ctx: SegmentContext, now: datetime, page: int = 10) -> None:
    """Every due snapshot, each in its own transaction under the fill timeout; one
    that fails (over the limits, past the timeout) is logged and the others go on."""
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
    seconds = ctx.settings.service.fill_timeout_seconds
    try:
        async with bounded(ctx.db, seconds, "snapshot fill", "fill_timeout_seconds") as session:
            await fill_scheduled_snapshot(ctx, session, tenant_id, segment_id, now)
    except (QueryTimeoutError, SegmentNotFoundError) as exc:
        log.warning(
            "scheduled snapshot not filled",
            extra={"tenant_id": tenant_id, "segment_id": segment_id, "error": str(exc)},
        )
