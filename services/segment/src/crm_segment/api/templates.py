"""Built-in segment templates, installable per tenant as editable segments."""

from __future__ import annotations

from fastapi import APIRouter

from crm_segment.api.common import filling
from crm_segment.api.deps import CallerDep, Ctx
from crm_segment.api.errors import mapped_errors
from crm_segment.api.schemas import FillSummary, SegmentPublic, TemplateList, TemplatePublic
from crm_segment.domain.templates import TEMPLATES
from crm_segment.handlers import segments as handlers
from crm_segment.repository import segments as repo

router = APIRouter(prefix="/v1/segment-templates", tags=["templates"])


@router.get("")
async def list_templates(caller: CallerDep) -> TemplateList:
    return TemplateList(
        templates=[
            TemplatePublic(
                key=t.key,
                name_ja=t.name_ja,
                name_en=t.name_en,
                description_ja=t.description_ja,
                description_en=t.description_en,
                definition=t.definition.to_json_obj(),
            )
            for t in TEMPLATES
        ]
    )


@router.post("/{key}/install", status_code=201)
async def install_template(key: str, ctx: Ctx, caller: CallerDep) -> SegmentPublic:
    batch = ctx.settings.service.fill_event_batch
    async with mapped_errors(), filling(ctx, "segment fill") as session:
        row, filled = await handlers.install_template(
            session, caller.tenant_id, key, ctx.clock.now(), batch, ctx.limits
        )
        size = await repo.size(session, caller.tenant_id, row.segment_id)
    return SegmentPublic.of(row, ctx.limits, size=size, fill=FillSummary(**vars(filled)))
