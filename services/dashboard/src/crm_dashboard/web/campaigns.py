"""Campaigns: create (segment, channel, template), schedule/pause/resume/cancel, results."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

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


def campaign_body(
    name: str, segment_id: str, channel: str, template_id: str, send_at: str, throttle: str
) -> dict[str, Any]:
    """The create request: ``send_at`` is the tenant's wall time as the form's
    datetime-local gives it ("2026-12-24T10:00"; messaging reads it in the tenant's time
    zone), empty for "when started"; an empty throttle sends as fast as allowed."""
    body: dict[str, Any] = {
        "name": name.strip(),
        "segment_id": segment_id,
        "channel": channel,
        "template_id": template_id,
    }
    if send_at.strip():
        body["send_at"] = send_at.strip()
    if throttle.strip():
        body["throttle_per_minute"] = int(throttle) if throttle.strip().isdigit() else throttle
    return body


@router.post("/campaigns")
async def create_campaign(
    request: Request,
    ctx: Ctx,
    viewer: MarketerDep,
    name: Annotated[str, Form()],
    segment_id: Annotated[str, Form()],
    channel: Annotated[str, Form()],
    template_id: Annotated[str, Form()],
    send_at: Annotated[str, Form()] = "",
    throttle_per_minute: Annotated[str, Form()] = "",
) -> Response:
    body = campaign_body(name, segment_id, channel, template_id, send_at, throttle_per_minute)
    got = await ctx.backends.call("messaging", "POST", "/v1/campaigns", viewer, json=body)
    if not got.ok:
        status = got.status or 502
        return render(request, ctx, viewer, "failed.html", status, failure=got, back="/journeys")
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
