"""Campaigns: create (segment, channel, template), schedule/pause/resume/cancel, results."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_dashboard.clients import Fetched
from crm_dashboard.web.deps import Ctx, MarketerDep, Viewer, ViewerDep, render

router = APIRouter(include_in_schema=False)
CAMPAIGN_ACTIONS = {
    "schedule": ("draft",),
    "pause": ("scheduled", "sending"),
    "resume": ("paused",),
    "cancel": ("draft", "scheduled", "sending", "paused"),
}


@router.post("/campaigns")
async def create_campaign(
    request: Request,
    ctx: Ctx,
    viewer: MarketerDep,
    name: Annotated[str, Form()],
    segment_id: Annotated[str, Form()],
    channel: Annotated[str, Form()],
    template_id: Annotated[str, Form()],
) -> Response:
    body = {"name": name, "segment_id": segment_id, "channel": channel, "template_id": template_id}
    got = await ctx.backends.call("messaging", "POST", "/v1/campaigns", viewer, json=body)
    if not got.ok:
        return render(request, ctx, viewer, "failed.html", got.status or 502, failure=got)
    return RedirectResponse(f"/campaigns/{got.data['id']}", status_code=303)


async def _campaign_page(
    request: Request,
    ctx: Ctx,
    viewer: Viewer,
    campaign_id: str,
    status: int = 200,
    error: Fetched | None = None,
) -> HTMLResponse:
    campaign, stats = await asyncio.gather(
        ctx.backends.call("messaging", "GET", f"/v1/campaigns/{campaign_id}", viewer),
        ctx.backends.call("messaging", "GET", f"/v1/campaigns/{campaign_id}/stats", viewer),
    )
    current = campaign.data.get("status") if campaign.ok else None
    actions = [a for a, states in CAMPAIGN_ACTIONS.items() if current in states]
    values = {"campaign": campaign, "stats": stats, "actions": actions, "error": error}
    status = 404 if campaign.status == 404 else status
    return render(request, ctx, viewer, "campaign.html", status, **values)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request, ctx: Ctx, viewer: ViewerDep, campaign_id: str
) -> HTMLResponse:
    return await _campaign_page(request, ctx, viewer, campaign_id)


@router.post("/campaigns/{campaign_id}/{action}")
async def campaign_action(
    request: Request, ctx: Ctx, viewer: MarketerDep, campaign_id: str, action: str
) -> Response:
    if action not in CAMPAIGN_ACTIONS:
        return Response(status_code=404)
    path = f"/v1/campaigns/{campaign_id}/{action}"
    got = await ctx.backends.call("messaging", "POST", path, viewer)
    if not got.ok:
        return await _campaign_page(request, ctx, viewer, campaign_id, got.status or 502, got)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
