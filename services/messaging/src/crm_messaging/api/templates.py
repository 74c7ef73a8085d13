"""CRUD /v1/templates (validated on save) and the preview with a real profile."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from crm_common.events.customers import Channel
from crm_messaging.api.deps import ServicesDep
from crm_messaging.api.schemas import template_public
from crm_messaging.handlers import templates as handlers
from crm_messaging.repository import templates as repo
from crm_messaging.sending.render_pool import RenderPool

router = APIRouter(prefix="/v1/templates", tags=["templates"])


def _render_pool(request: Request) -> RenderPool:
    """The previews' render pool (built in the lifespan, apart from the dispatcher's)."""
    pool: RenderPool = request.app.state.render_pool
    return pool


PoolDep = Annotated[RenderPool, Depends(_render_pool)]


class TemplateCreate(BaseModel):
    template_id: str | None = Field(default=None, min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    channel: Channel
    parts: dict[str, str]


class TemplateUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    parts: dict[str, str]


class PreviewRequest(BaseModel):
    profile_id: str
    context: dict[str, Any] = Field(default_factory=dict)


@router.post("", status_code=201, summary="Create a template (version 1)")
async def create(
    body: TemplateCreate, request: Request, services: ServicesDep, pool: PoolDep
) -> dict[str, Any]:
    template_id = body.template_id or str(uuid.uuid4())
    async with services.tenant_session(request) as (session, caller):
        row = await handlers.save(
            session,
            caller.tenant_id,
            template_id,
            name=body.name,
            channel=body.channel,
            parts=body.parts,
            pool=pool,
            max_source_bytes=services.settings.service.template_max_source_bytes,
        )
    return template_public(row)


@router.get("", summary="Latest version of every template")
async def list_templates(request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        rows = await repo.list_latest(session, caller.tenant_id)
    return {"items": [template_public(r) for r in rows]}


@router.get("/{template_id}", summary="Latest version of a template")
async def get_template(template_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        row = await handlers.existing(session, caller.tenant_id, template_id)
    return template_public(row)


@router.put("/{template_id}", summary="Save a new version")
async def update(
    template_id: str, body: TemplateUpdate, request: Request, services: ServicesDep, pool: PoolDep
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        current = await handlers.existing(session, caller.tenant_id, template_id)
        row = await handlers.save(
            session,
            caller.tenant_id,
            template_id,
            name=body.name or current["name"],
            channel=Channel(current["channel"]),
            parts=body.parts,
            pool=pool,
            max_source_bytes=services.settings.service.template_max_source_bytes,
        )
    return template_public(row)


@router.delete("/{template_id}", status_code=204, summary="Delete (queued messages keep theirs)")
async def delete(template_id: str, request: Request, services: ServicesDep) -> Response:
    async with services.tenant_session(request) as (session, caller):
        current = await handlers.existing(session, caller.tenant_id, template_id)
        await repo.save_version(
            session,
            caller.tenant_id,
            template_id,
            name=current["name"],
            channel=current["channel"],
            parts=current["parts"],
            deleted=True,
        )
    return Response(status_code=204)


@router.post(
    "/{template_id}/preview",
    summary="Render with a real profile; report missing data",
    responses={422: {"description": "a part is over the time, output or memory budget"}},
)
async def preview(
    template_id: str, body: PreviewRequest, request: Request, services: ServicesDep, pool: PoolDep
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        result = await handlers.preview(
            session,
            caller.tenant_id,
            template_id,
            body.profile_id,
            body.context,
            services.clock.now(),
            services.public_url,
            pool,
        )
    return {
        "parts": result.parts,
        "missing_variables": result.missing_variables,
        "links": result.links,
        "recommendations": result.recommendations,
    }
