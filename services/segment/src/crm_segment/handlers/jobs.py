"""Fills as background jobs: a new segment's members, a refill after an edit, a 固定 snapshot.

Live per-change evaluation of the tenant never waits for a fill, and the filled
segment is exact when its job ends:

1. The request (create, edit, reactivation, template install; the sweeper for a due
   snapshot) writes the segment and a queued job in one transaction that holds the
   tenant's lock exclusively (an instant) and bumps the catalog version: from then
   on every evaluator's catalog has the segment live *and filling* (a snapshot's
   live readers too). The answer is 202 with the job.
2. A worker (:func:`run_forever`, one job of a tenant at a time, in order) runs the
   job in chunks of ``SEGMENT_FILL_CHUNK_PROFILES`` profiles in profile-id order, each
   chunk one transaction holding the tenant's lock shared (as evaluators do) under
   the job's statement timeout. For each segment it fills (the segment, then every
   live segment reading it, in evaluation order) one statement selects the chunk's
   members in SQL, diffs them against the open memberships, claims the profiles whose
   rows change (:mod:`crm_segment.repository.claims`) and writes the rows and their
   outbox events (INSERT ... SELECT). The chunk's next moments are brought forward.
3. Meanwhile the consumers and the sweeper evaluate the filling segments like any
   other, after claiming the profiles they evaluate: a profile that changes during
   the fill is decided by whoever saw its latest data, never overwritten by a chunk
   that read it before the change.
4. After the last chunk the job is done: with the tenant's lock exclusively for an
   instant, the catalog stops listing the segment as filling (and a snapshot is
   marked filled).

A statement past the timeout fails the job (``error``: ``query_timeout``); a segment
created by the failed job is archived (its rows closed without events), so no half
filled segment stays live. An edit or archive of the segment cancels its job (an
edit queues its own); a replica that dies mid-job loses its lease and another one
resumes the job from its last chunk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import TextClause
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment import metrics
from crm_segment.context import SegmentContext
from crm_segment.domain.definition import Definition, DefinitionError, parse_definition
from crm_segment.handlers import publish as out
from crm_segment.handlers.references import readers_of
from crm_segment.repository import bulk, claims, locks
from crm_segment.repository import catalog as catalog_repo
from crm_segment.repository import jobs as repo
from crm_segment.repository import memberships as membership_repo
from crm_segment.repository import segments as segment_repo
from crm_segment.repository.changes import Applied
from crm_segment.repository.jobs import JobRow
from crm_segment.repository.timeouts import QueryTimeoutError, bounded, canceled

log = logging.getLogger(__name__)

IDLE_SECONDS = 0.25
_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock: the chunk runs again


async def enqueue(
    session: AsyncSession,
    tenant_id: str,
    segment_id: str,
    kind: str,
    reason: str,
    definition_version: int,
    now: datetime,
    timeout_seconds: float,
) -> JobRow:
    """Queue a fill of ``segment_id`` (the caller holds the tenant's lock exclusively
    and bumps the catalog in the same transaction); earlier unfinished jobs of the
    segment are cancelled."""
    await repo.cancel_unfinished(session, tenant_id, segment_id, now)
    return await repo.add(
        session,
        {
            "job_id": repo.new_job_id(),
            "tenant_id": tenant_id,
            "segment_id": segment_id,
            "kind": kind,
            "reason": reason,
            "definition_version": definition_version,
            "state": "queued",
            "timeout_seconds": timeout_seconds,
            "created_at": now,
        },
    )


async def run_forever(ctx: SegmentContext) -> None:
    """Run jobs as they come until cancelled."""
    while True:
        try:
            ran = await run_next(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the job's lease runs out; this or another replica resumes it
            log.warning("segment job loop error", extra={"error": repr(exc)})
            ran = False
        if not ran:
            await asyncio.sleep(IDLE_SECONDS)


async def run_pending(ctx: SegmentContext) -> int:
    """Run jobs until none is runnable (tests, the bench); how many ran."""
    count = 0
    while await run_next(ctx):
        count += 1
    return count


async def run_next(ctx: SegmentContext) -> bool:
    """Take the next runnable job and run it to its end; False when there was none."""
    lease = _lease(ctx)
    async with ctx.db.transaction() as session:
        job = await repo.claim_next(session, ctx.clock.now(), lease)
    if job is None:
        return False
    started = time.perf_counter()
    try:
        await _run(ctx, job)
    except QueryTimeoutError as exc:
        await _fail(ctx, job, exc)
    metrics.FILL_SECONDS.observe(time.perf_counter() - started)
    return True


def _lease(ctx: SegmentContext) -> timedelta:
    return timedelta(seconds=ctx.settings.service.fill_timeout_seconds + 60)


@dataclass
class _Plan:
    """What one job fills: segments in evaluation order with their compiled chunk
    statements, at the job's moment."""

    now: datetime
    fills: list[tuple[str, TextClause, TextClause | None]]


@dataclass
class _Progress:
    cursor: str
    done: int
    applied: Applied

    def values(self) -> dict[str, Any]:
        return {
            "cursor": self.cursor,
            "done": self.done,
            "entered": self.applied.entered,
            "exited": self.applied.exited,
        }


class _Stopped(Exception):
    """The job must stop: superseded, archived, or taken over by another replica."""


async def _run(ctx: SegmentContext, job: JobRow) -> None:
    plan = await _plan(ctx, job)
    if plan is None:
        await _end(ctx, job, "cancelled")
        return
    progress = _Progress(job.cursor or "", int(job.done), Applied(job.entered, job.exited))
    try:
        state = await _rounds(ctx, job, plan, progress)
    except _Stopped:
        return
    await _end(ctx, job, state, plan)


async def _rounds(ctx: SegmentContext, job: JobRow, plan: _Plan, progress: _Progress) -> str:
    """Fill the next ``SEGMENT_FILL_PARALLEL`` chunks at once (one transaction and one
    database connection each), then record how far the job got; ``done`` when no
    profile is left, ``cancelled`` when the segment changed meanwhile."""
    width = ctx.settings.service.fill_parallel
    while True:
        ranges = await _ranges(ctx, job, progress.cursor, width)
        if not ranges:
            return "done"
        outcomes = await asyncio.gather(
            *(_chunk(ctx, job, plan, lo, hi) for lo, hi, _ in ranges), return_exceptions=True
        )
        for outcome in outcomes:  # every chunk has ended (each under the timeout)
            if isinstance(outcome, BaseException):
                raise outcome
        results = [r for r in outcomes if not isinstance(r, BaseException)]
        if any(result is None for result in results):
            return "cancelled"
        applied = sum((r for r in results if r is not None), Applied())
        done = progress.done + sum(count for _, _, count in ranges)
        await _record(ctx, job, plan, _Progress(ranges[-1][1], done, progress.applied + applied))
        progress.cursor, progress.done = ranges[-1][1], done
        progress.applied += applied


async def _ranges(
    ctx: SegmentContext, job: JobRow, cursor: str, width: int
) -> list[tuple[str, str, int]]:
    """The next ``width`` chunks after ``cursor``: (after, last profile id, profiles)."""
    size = ctx.settings.service.fill_chunk_profiles
    found: list[tuple[str, str, int]] = []
    async with ctx.db.transaction() as session:
        for _ in range(width):
            hi, count = await repo.chunk_end(session, job.tenant_id, cursor, size)
            if hi is None:
                break
            found.append((cursor, hi, count))
            cursor = hi
    return found


async def _record(ctx: SegmentContext, job: JobRow, plan: _Plan, progress: _Progress) -> None:
    """Progress and lease; committed claims dropped (they are never needed again)."""
    async with ctx.db.transaction() as session:
        await claims.release(session, job.tenant_id, [sid for sid, _, _ in plan.fills])
        if not await repo.renew(session, job, ctx.clock.now(), _lease(ctx), **progress.values()):
            raise _Stopped  # another replica took the job over


async def _plan(ctx: SegmentContext, job: JobRow) -> _Plan | None:
    """The segments to fill and their statements, or None when the job is moot."""
    async with ctx.db.transaction() as session:
        await locks.share_tenants(session, [job.tenant_id])
        row = await segment_repo.get(session, job.tenant_id, job.segment_id)
        if row is None or not _current(row, job):
            return None
        catalog = await ctx.catalogs.get(session, job.tenant_id)
        total = await repo.count_profiles(session, job.tenant_id)
        await repo.renew(session, job, ctx.clock.now(), _lease(ctx), total=total)
    order = catalog.downstream_of(job.segment_id)
    definitions: dict[str, Definition] = {sid: catalog.segments[sid].definition for sid in order}
    if job.kind == "snapshot":
        try:
            own = await asyncio.to_thread(parse_definition, row.definition, ctx.limits)
        except DefinitionError:
            return None  # saved before the limits: never filled (the API says why)
        definitions = {job.segment_id: own, **definitions}
        order = [job.segment_id, *order]
    now = job.started_at
    fills = await asyncio.to_thread(_compile, job, order, definitions, now)
    return _Plan(now, fills)


def _compile(
    job: JobRow, order: list[str], definitions: dict[str, Definition], now: datetime
) -> list[tuple[str, TextClause, TextClause | None]]:
    found = []
    for sid in order:
        live = not (job.kind == "snapshot" and sid == job.segment_id)
        definition = definitions[sid]
        fill = bulk.fill_statement(definition, job.tenant_id, now, live=live)
        found.append((sid, fill, bulk.next_change_statement(definition, job.tenant_id, now)))
    return found


def _current(row: Any, job: JobRow) -> bool:
    """Whether the segment is still what the job was queued to fill."""
    if row is None or row.status != "active":
        return False
    if job.kind == "snapshot":
        return row.filled_at is None
    return bool(row.definition_version == job.definition_version)


async def _chunk(ctx: SegmentContext, job: JobRow, plan: _Plan, lo: str, hi: str) -> Applied | None:
    """Fill the profiles ``(lo, hi]`` in one transaction (None: the segment changed
    meanwhile). Deadlocks and serialization failures run the chunk again."""
    for attempt in range(5):
        try:
            async with bounded(
                ctx.db, job.timeout_seconds, "segment fill", "fill_timeout_seconds"
            ) as session:
                await locks.share_tenants(session, [job.tenant_id])
                row = await segment_repo.get(session, job.tenant_id, job.segment_id)
                if not _current(row, job):
                    return None
                await bulk.roomy(session)
                return await _fill_chunk(session, job, plan, lo, hi)
        except DBAPIError as exc:
            if canceled(exc) or _sqlstate(exc) not in _RETRYABLE or attempt == 4:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


async def _fill_chunk(session: AsyncSession, job: JobRow, plan: _Plan, lo: str, hi: str) -> Applied:
    total = Applied()
    told = out.told(job.tenant_id, plan.now)
    for sid, fill, next_change in plan.fills:
        cause = job.reason if sid == job.segment_id else f"{job.reason}:{job.segment_id}"
        params = {**told, "chunk_lo": lo, "chunk_hi": hi, "fill_segment": sid}
        entered, exited = await bulk.fill_chunk(session, fill, {**params, "fill_reason": cause})
        total += Applied(entered, exited)
        if next_change is not None:
            await bulk.lower_next_change(session, next_change, {"chunk_lo": lo, "chunk_hi": hi})
    out.count(total, "fill")
    return total


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if state:
            return str(state)
    return None


async def _end(ctx: SegmentContext, job: JobRow, state: str, plan: _Plan | None = None) -> None:
    """Finish the job with the tenant's lock held exclusively: the catalog stops
    listing its segments as filling."""
    async with ctx.db.transaction() as session:
        await locks.own_tenant(session, job.tenant_id)
        now = ctx.clock.now()
        await repo.finish(session, job, state, now)
        filled = [job.segment_id] if plan is None else [sid for sid, _, _ in plan.fills]
        await claims.release(session, job.tenant_id, filled)
        if plan is not None and state == "done" and job.kind == "snapshot":
            await segment_repo.change(session, job.segment_id, {"filled_at": plan.now})
        await catalog_repo.bump(session, job.tenant_id)


async def _fail(ctx: SegmentContext, job: JobRow, exc: QueryTimeoutError) -> None:
    """The job failed: its error is on the job; a segment it created is archived."""
    detail = {"path": "", "message": str(exc), "limit": exc.setting, "max": exc.seconds}
    error = {"code": "query_timeout", "message": str(exc), "details": [detail]}
    log.warning(
        "segment job failed",
        extra={"tenant_id": job.tenant_id, "segment_id": job.segment_id, "error": str(exc)},
    )
    async with ctx.db.transaction() as session:
        await locks.own_tenant(session, job.tenant_id)
        now = ctx.clock.now()
        await repo.finish(session, job, "failed", now, error)
        await claims.release(session, job.tenant_id, [job.segment_id])
        row = await segment_repo.get(session, job.tenant_id, job.segment_id, lock=True)
        created = job.reason == "created" and row is not None and row.status == "active"
        if created and not await _read_by_others(session, job):
            # Stopped, not left: a segment nobody saw filled tells no one it ended.
            await membership_repo.close_segment(session, job.tenant_id, job.segment_id, now)
            await segment_repo.change(session, job.segment_id, {"status": "archived"})
        await catalog_repo.bump(session, job.tenant_id)


async def _read_by_others(session: AsyncSession, job: JobRow) -> bool:
    active = await segment_repo.active(session, job.tenant_id)
    return bool(await asyncio.to_thread(readers_of, job.segment_id, active))
