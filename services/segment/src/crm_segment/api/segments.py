"""CRUD of segments, preview before saving, verification against SQL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_segment.api.deps import CallerDep, Ctx
from crm_segment.api.errors import mapped_errors
from crm_segment.api.schemas import (
    FillSummary,
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
from crm_segment.handlers import inspect
from crm_segment.handlers import segments as handlers
from crm_segment.handlers.errors import SegmentNotFoundError
from crm_segment.repository import segments as repo

router = APIRouter(prefix="/v1/segments", tags=["segments"])


@router.post("", status_code=201)
async def create_segment(body: SegmentCreate, ctx: Ctx, caller: CallerDep) -> SegmentPublic:
    new = handlers.NewSegment(**body.model_dump())
    async with mapped_errors(), ctx.db.transaction() as session:
        row, filled = await handlers.create(
            session, caller.tenant_id, new, ctx.clock.now(), ctx.settings.service.fill_event_batch
        )
        size = await repo.size(session, caller.tenant_id, row.segment_id)
    return SegmentPublic.of(row, size=size, fill=FillSummary(**vars(filled)))


@router.get("")
async def list_segments(
    ctx: Ctx, caller: CallerDep, status: Annotated[Status | None, Query()] = None
) -> SegmentList:
    async with ctx.db.transaction() as session:
        rows = await repo.list_of(session, caller.tenant_id, status)
    return SegmentList(segments=[SegmentPublic.of(r) for r in rows])


@router.post("/preview")
async def preview_segment(body: PreviewRequest, ctx: Ctx, caller: CallerDep) -> PreviewResult:
    async with mapped_errors(), ctx.db.transaction() as session:
        found = await inspect.preview(
            session, caller.tenant_id, body.definition, ctx.clock.now(), body.sample_size
        )
    return PreviewResult(count=found.count, sample=[SampleProfile(**s) for s in found.sample])


@router.get("/{segment_id}")
async def get_segment(segment_id: str, ctx: Ctx, caller: CallerDep) -> SegmentPublic:
    async with mapped_errors(), ctx.db.transaction() as session:
        row = await repo.get(session, caller.tenant_id, segment_id)
        if row is None:
            raise SegmentNotFoundError(segment_id)
        size = await repo.size(session, caller.tenant_id, segment_id)
    return SegmentPublic.of(row, size=size)


@router.patch("/{segment_id}")
async def update_segment(
    segment_id: str, body: SegmentUpdate, ctx: Ctx, caller: CallerDep
) -> SegmentPublic:
    change = handlers.SegmentChange(**body.model_dump())
    async with mapped_errors(), ctx.db.transaction() as session:
        row, filled = await handlers.change(
            session,
            caller.tenant_id,
            segment_id,
            change,
            ctx.clock.now(),
            ctx.settings.service.fill_event_batch,
        )
        size = await repo.size(session, caller.tenant_id, segment_id)
    return SegmentPublic.of(row, size=size, fill=FillSummary(**vars(filled)))


@router.delete("/{segment_id}", status_code=204)
async def archive_segment(segment_id: str, ctx: Ctx, caller: CallerDep) -> Response:
    change = handlers.SegmentChange(status="archived")
    async with mapped_errors(), ctx.db.transaction() as session:
        await handlers.change(session, caller.tenant_id, segment_id, change, ctx.clock.now())
    return Response(status_code=204)


@router.get("/{segment_id}/verify")
async def verify_segment(segment_id: str, ctx: Ctx, caller: CallerDep) -> Verification:
    async with mapped_errors(), ctx.db.transaction() as session:
        found = await inspect.verify(session, caller.tenant_id, segment_id, ctx.clock.now())
    return Verification(
        segment_id=segment_id, exact=found.exact, missing=found.missing, extra=found.extra
    )
