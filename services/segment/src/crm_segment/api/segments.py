"""CRUD of segments, preview before saving, verification against SQL.

Work whose cost a definition decides runs under a statement timeout
(``SEGMENT_QUERY_TIMEOUT_SECONDS`` for previews, counts and verification): past it
the answer is a 503 ``query_timeout``, never a worker held for as long as the query
runs. Fills are jobs (``/v1/segment-jobs/{id}``), their chunks under
``SEGMENT_FILL_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from crm_segment.api.common import filling, querying
from crm_segment.api.deps import CallerDep, Ctx
from crm_segment.api.errors import mapped_errors
from crm_segment.api.schemas import (
    JobPublic,
    PreviewRequest,
    PreviewResult,
    SampleProfile,
    SegmentCreate,
    SegmentList,
    SegmentPublic,
    SegmentUpdate,
    Status,
    Verification,
)
from crm_segment.context import SegmentContext
from crm_segment.handlers import inspect
from crm_segment.handlers import segments as handlers
from crm_segment.handlers.errors import SegmentNotFoundError
from crm_segment.repository import jobs as job_repo
from crm_segment.repository import segments as repo

router = APIRouter(prefix="/v1/segments", tags=["segments"])


@router.post(
    "",
    status_code=202,
    responses={201: {"model": SegmentPublic, "description": "a snapshot scheduled for later"}},
)
async def create_segment(
    body: SegmentCreate, ctx: Ctx, caller: CallerDep, response: Response
) -> SegmentPublic:
    """Create a segment and queue the job filling it: 202 with the segment and its
    ``job`` (follow ``Location``); 201 for a 固定 segment scheduled for later."""
    new = handlers.NewSegment(**body.model_dump())
    async with mapped_errors(), ctx.db.transaction() as session:
        row, job = await handlers.create(
            session, caller.tenant_id, new, ctx.clock.now(), _settings(ctx)
        )
    return _accepted(ctx, row, job, response, size=0)


def _settings(ctx: SegmentContext) -> handlers.Settings:
    return handlers.Settings(ctx.limits, ctx.settings.service.fill_timeout_seconds)


def _accepted(
    ctx: SegmentContext, row: Any, job: Any, response: Response, **extra: Any
) -> SegmentPublic:
    """The segment, and when a job was queued: 202 and where to follow it."""
    if job is None:
        response.status_code = 201
        return SegmentPublic.of(row, ctx.limits, **extra)
    response.status_code = 202
    response.headers["Location"] = f"/v1/segment-jobs/{job.job_id}"
    return SegmentPublic.of(row, ctx.limits, job=JobPublic.of(job), **extra)


@router.get("")
async def list_segments(
    ctx: Ctx, caller: CallerDep, status: Annotated[Status | None, Query()] = None
) -> SegmentList:
    async with ctx.db.transaction() as session:
        rows = await repo.list_of(session, caller.tenant_id, status)
    return SegmentList(segments=await asyncio.to_thread(_public, rows, ctx))


def _public(rows: Sequence[Any], ctx: SegmentContext) -> list[SegmentPublic]:
    # Each row's definition is checked against the limits (suspended or not).
    return [SegmentPublic.of(row, ctx.limits) for row in rows]


@router.post("/preview")
async def preview_segment(body: PreviewRequest, ctx: Ctx, caller: CallerDep) -> PreviewResult:
    async with mapped_errors(), querying(ctx, "preview") as session:
        found = await inspect.preview(
            session,
            caller.tenant_id,
            body.definition,
            ctx.clock.now(),
            body.sample_size,
            ctx.limits,
        )
    return PreviewResult(count=found.count, sample=[SampleProfile(**s) for s in found.sample])


@router.get("/{segment_id}")
async def get_segment(segment_id: str, ctx: Ctx, caller: CallerDep) -> SegmentPublic:
    async with mapped_errors(), querying(ctx, "member count") as session:
        row = await repo.get(session, caller.tenant_id, segment_id)
        if row is None:
            raise SegmentNotFoundError(segment_id)
        size = await repo.size(session, caller.tenant_id, segment_id)
        job = await job_repo.latest(session, caller.tenant_id, segment_id)
    return SegmentPublic.of(row, ctx.limits, size=size, job=job and JobPublic.of(job))


@router.patch(
    "/{segment_id}", responses={202: {"model": SegmentPublic, "description": "a refill queued"}}
)
async def update_segment(
    segment_id: str, body: SegmentUpdate, ctx: Ctx, caller: CallerDep, response: Response
) -> SegmentPublic:
    """Change a segment: 200, or 202 with the ``job`` refilling it (and every live
    segment reading it) when its definition changed or it was reactivated."""
    change = handlers.SegmentChange(**body.model_dump())
    async with mapped_errors(), filling(ctx, "segment change") as session:
        row, job = await handlers.change(
            session, caller.tenant_id, segment_id, change, ctx.clock.now(), _settings(ctx)
        )
        size = await repo.size(session, caller.tenant_id, segment_id)
    public = _accepted(ctx, row, job, response, size=size)
    if job is None:
        response.status_code = 200
    return public


@router.delete("/{segment_id}", status_code=204)
async def archive_segment(segment_id: str, ctx: Ctx, caller: CallerDep) -> Response:
    change = handlers.SegmentChange(status="archived")
    async with mapped_errors(), filling(ctx, "archive") as session:
        await handlers.change(
            session, caller.tenant_id, segment_id, change, ctx.clock.now(), _settings(ctx)
        )
    return Response(status_code=204)


@router.get("/{segment_id}/verify")
async def verify_segment(segment_id: str, ctx: Ctx, caller: CallerDep) -> Verification:
    async with mapped_errors(), querying(ctx, "verification") as session:
        found = await inspect.verify(
            session, caller.tenant_id, segment_id, ctx.clock.now(), ctx.limits
        )
    return Verification(
        segment_id=segment_id, exact=found.exact, missing=found.missing, extra=found.extra
    )
