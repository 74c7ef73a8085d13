"""Journeys: list, install from templates, edit the definition (JSON), start/pause,
results per step. Campaign pages live in :mod:`crm_dashboard.web.campaigns`."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_dashboard.clients import Fetched
from crm_dashboard.web.deps import Ctx, MarketerDep, Viewer, ViewerDep, render
from crm_dashboard.web.lists import items_of

router = APIRouter(include_in_schema=False)
JOURNEY_ACTIONS = {
    "start": ("draft", "paused"),
    "pause": ("active", "live", "running"),
    "resume": ("paused",),
    "archive": ("draft", "active", "live", "running", "paused"),
}


@router.get("/journeys")
async def journeys_page(request: Request, ctx: Ctx, viewer: ViewerDep) -> HTMLResponse:
    b = ctx.backends
    journeys, templates, campaigns, segments, message_templates = await asyncio.gather(
        b.call("messaging", "GET", "/v1/journeys", viewer),
        b.call("messaging", "GET", "/v1/journey-templates", viewer),
        b.call("messaging", "GET", "/v1/campaigns", viewer),
        b.call("segment", "GET", "/v1/segments", viewer, params={"status": "active"}),
        b.call("messaging", "GET", "/v1/templates", viewer),
    )
    return render(
        request,
        ctx,
        viewer,
        "journeys.html",
        journeys=journeys,
        templates=templates,
        campaigns=campaigns,
        segments=items_of(segments, "segments"),
        message_templates=items_of(message_templates, "items", "templates"),
        items_of=items_of,
    )


@router.post("/journey-templates/{key}/install")
async def install(
    request: Request,
    ctx: Ctx,
    viewer: MarketerDep,
    key: str,
    name: Annotated[str, Form()] = "",
    segment_id: Annotated[str, Form()] = "",
) -> Response:
    body = {"name": name.strip() or None, "segment_id": segment_id or None}
    path = f"/v1/journey-templates/{key}/install"
    got = await ctx.backends.call("messaging", "POST", path, viewer, json=body)
    if not got.ok:
        return render(request, ctx, viewer, "failed.html", got.status or 502, failure=got)
    return RedirectResponse(f"/journeys/{got.data['id']}", status_code=303)


async def _journey_page(
    request: Request,
    ctx: Ctx,
    viewer: Viewer,
    journey_id: str,
    status: int = 200,
    draft: str | None = None,
    error: Fetched | None = None,
) -> HTMLResponse:
    journey, stats = await asyncio.gather(
        ctx.backends.call("messaging", "GET", f"/v1/journeys/{journey_id}", viewer),
        ctx.backends.call("messaging", "GET", f"/v1/journeys/{journey_id}/stats", viewer),
    )
    if draft is None and journey.ok:
        draft = json.dumps(journey.data.get("definition"), ensure_ascii=False, indent=2)
    current = journey.data.get("status") if journey.ok else None
    actions = [a for a, states in JOURNEY_ACTIONS.items() if current in states]
    if journey.status == 404:
        status = 404
    values = {"journey": journey, "stats": stats, "draft": draft or "", "error": error}
    values |= {"actions": actions, "journey_id": journey_id}
    return render(request, ctx, viewer, "journey.html", status, **values)


@router.get("/journeys/{journey_id}")
async def journey_page(request: Request, ctx: Ctx, viewer: ViewerDep, journey_id: str) -> Response:
    return await _journey_page(request, ctx, viewer, journey_id)


def step_paths(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation details as shown next to the editor: ``steps[2].wait: ...``."""
    return [
        {"path": d.get("path") or "definition", "message": d.get("message", "")} for d in details
    ]


@router.post("/journeys/{journey_id}/definition")
async def save_definition(
    request: Request,
    ctx: Ctx,
    viewer: MarketerDep,
    journey_id: str,
    definition: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
) -> Response:
    try:
        parsed = json.loads(definition)
    except ValueError as exc:
        error = Fetched(error=f"definition: not JSON ({exc})", status=422)
        return await _journey_page(request, ctx, viewer, journey_id, 422, definition, error)
    body = {"definition": parsed} | ({"name": name.strip()} if name.strip() else {})
    got = await ctx.backends.call(
        "messaging", "PUT", f"/v1/journeys/{journey_id}", viewer, json=body
    )
    if not got.ok:
        got.details = step_paths(got.details)
        return await _journey_page(
            request, ctx, viewer, journey_id, got.status or 502, definition, got
        )
    return RedirectResponse(f"/journeys/{journey_id}?saved=1", status_code=303)


@router.post("/journeys/{journey_id}/{action}")
async def journey_action(
    request: Request, ctx: Ctx, viewer: MarketerDep, journey_id: str, action: str
) -> Response:
    if action not in JOURNEY_ACTIONS:
        return Response(status_code=404)
    path = f"/v1/journeys/{journey_id}/{action}"
    got = await ctx.backends.call("messaging", "POST", path, viewer)
    if not got.ok:
        return await _journey_page(request, ctx, viewer, journey_id, got.status or 502, None, got)
    return RedirectResponse(f"/journeys/{journey_id}", status_code=303)
