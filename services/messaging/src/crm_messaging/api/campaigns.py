"""/v1/campaigns: one-off sends to a segment (tenant API key or the console's internal token)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request

from crm_messaging.api.deps import ServicesDep
from crm_messaging.api.schemas import decode_cursor, encode_cursor
from crm_messaging.handlers import campaigns
from crm_messaging.handlers.campaigns import (
    CampaignCreate,
    CampaignUpdate,
    ScheduleBody,
    campaign_public,
)
from crm_messaging.handlers.campaigns_rules import Action
from crm_messaging.handlers.campaigns_stats import stats
from crm_messaging.repository import campaigns as repo

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])

Status = Literal["draft", "scheduled", "sending", "paused", "completed", "cancelled"]


@router.post("", status_code=201, summary="Create a campaign (draft)")
async def create(body: CampaignCreate, request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        row = await campaigns.create(
            session, caller.tenant_id, caller.timezone, body, services.clock.now()
        )
    return campaign_public(row)


@router.get("", summary="Campaigns, newest first")
async def list_campaigns(
    request: Request,
    services: ServicesDep,
    status: Status | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    after = decode_cursor(cursor)
    async with services.tenant_session(request) as (session, caller):
        rows = await repo.list_campaigns(session, caller.tenant_id, status, after, limit)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = encode_cursor(last["created_at"], last["campaign_id"]) if last else None
    return {"items": [campaign_public(r) for r in rows], "next_cursor": next_cursor}


@router.get("/{campaign_id}", summary="One campaign")
async def get(campaign_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        row = await campaigns.get(session, caller.tenant_id, campaign_id)
    return campaign_public(row)


@router.patch("/{campaign_id}", summary="Edit (draft/scheduled; name and throttle any time)")
async def patch(
    campaign_id: str, body: CampaignUpdate, request: Request, services: ServicesDep
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        row = await campaigns.update(
            session, caller.tenant_id, caller.timezone, campaign_id, body, services.clock.now()
        )
    return campaign_public(row)


async def _transition(
    services: ServicesDep,
    request: Request,
    campaign_id: str,
    action: Action,
    body: ScheduleBody | None = None,
) -> dict[str, Any]:
    send_at = body.send_at if body is not None else None
    async with services.tenant_session(request) as (session, caller):
        row = await campaigns.transition(
            session,
            caller.tenant_id,
            caller.timezone,
            campaign_id,
            action,
            services.clock.now(),
            send_at,
        )
    return campaign_public(row)


@router.post("/{campaign_id}/schedule", summary="Schedule (send_at: tenant wall time or instant)")
async def schedule(
    campaign_id: str,
    request: Request,
    services: ServicesDep,
    body: Annotated[ScheduleBody | None, Body()] = None,
) -> dict[str, Any]:
    return await _transition(services, request, campaign_id, "schedule", body)


@router.post("/{campaign_id}/pause", summary="Pause (scheduled or sending)")
async def pause(campaign_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    return await _transition(services, request, campaign_id, "pause")


@router.post("/{campaign_id}/resume", summary="Resume a paused campaign")
async def resume(campaign_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    return await _transition(services, request, campaign_id, "resume")


@router.post("/{campaign_id}/cancel", summary="Cancel: nobody else is enqueued")
async def cancel(campaign_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    return await _transition(services, request, campaign_id, "cancel")


@router.get("/{campaign_id}/stats", summary="Sent, delivered, opened, clicked, converted, revenue")
async def campaign_stats(
    campaign_id: str, request: Request, services: ServicesDep
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        await campaigns.get(session, caller.tenant_id, campaign_id)
        return await stats(session, caller.tenant_id, "campaign", campaign_id, with_steps=False)
