"""Built-in segment templates, installable per tenant as editable segments."""

from __future__ import annotations

from fastapi import APIRouter, Response

from crm_segment.api.deps import CallerDep, Ctx
from crm_segment.api.errors import mapped_errors
from crm_segment.api.schemas import JobPublic, SegmentPublic, TemplateList, TemplatePublic
from crm_segment.domain.templates import TEMPLATES
from crm_segment.handlers import segments as handlers
from crm_segment.handlers.segments import Settings

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


@router.post("/{key}/install", status_code=202)
async def install_template(
    key: str, ctx: Ctx, caller: CallerDep, response: Response
) -> SegmentPublic:
    """Install a template as an editable segment: 202 with the ``job`` filling it."""
    settings = Settings(ctx.limits, ctx.settings.service.fill_timeout_seconds)
    async with mapped_errors(), ctx.db.transaction() as session:
        row, job = await handlers.install_template(
            session, caller.tenant_id, key, ctx.clock.now(), settings
        )
    assert job is not None  # templates are dynamic segments: always filled
    response.headers["Location"] = f"/v1/segment-jobs/{job.job_id}"
    return SegmentPublic.of(row, ctx.limits, size=0, job=JobPublic.of(job))
