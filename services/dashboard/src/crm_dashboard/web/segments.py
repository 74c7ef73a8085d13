"""Segments: list with sizes and 30-day trend, builder with live preview, members, CSV.

Creating a segment (or installing a template) queues the job filling it: the segment
page shows the job's progress, refreshing itself (``Refresh`` header) until the job
has ended, and its error if it failed."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from crm_dashboard.clients import Backends, Fetched, Principal
from crm_dashboard.web.deps import Ctx, MarketerDep, Viewer, ViewerDep, render
from crm_dashboard.web.lists import items_of

router = APIRouter(include_in_schema=False)


async def history(backends: Backends, viewer: Principal, segment_id: str) -> list[dict[str, Any]]:
    """Size at the end of each of the last 30 days (size-history, else history)."""
    for path in (f"/v1/segments/{segment_id}/size-history", f"/v1/segments/{segment_id}/history"):
        got = await backends.call("segment", "GET", path, viewer, params={"days": 30})
        if got.ok:
            return items_of(got, "items", "days")
    return []


@router.get("/segments")
async def list_segments(request: Request, ctx: Ctx, viewer: ViewerDep) -> HTMLResponse:
    listing, templates = await asyncio.gather(
        ctx.backends.call("segment", "GET", "/v1/segments", viewer, params={"status": "active"}),
        ctx.backends.call("segment", "GET", "/v1/segment-templates", viewer),
    )
    segments = items_of(listing, "segments")
    trends = await asyncio.gather(*(history(ctx.backends, viewer, s["id"]) for s in segments))
    rows = [
        {"segment": s, "trend": t, "size": t[-1]["size"] if t else s.get("size")}
        for s, t in zip(segments, trends, strict=True)
    ]
    installed = {s.get("template_key") for s in segments}
    values = {"listing": listing, "rows": rows, "templates": templates, "installed": installed}
    return render(request, ctx, viewer, "segments.html", **values)


async def _builder(
    request: Request, ctx: Ctx, viewer: Viewer, status: int = 200, **values: Any
) -> HTMLResponse:
    templates = await ctx.backends.call("segment", "GET", "/v1/segment-templates", viewer)
    defaults = {"name": "", "description": "", "definition": "", "error": None, "count": None}
    return render(
        request,
        ctx,
        viewer,
        "segment_new.html",
        status,
        templates=items_of(templates, "templates"),
        **(defaults | values),
    )


@router.get("/segments/new")
async def builder(request: Request, ctx: Ctx, viewer: ViewerDep) -> HTMLResponse:
    return await _builder(request, ctx, viewer)


def parse_definition(text: str) -> tuple[dict[str, Any] | None, Fetched | None]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, Fetched(error=f"definition: not JSON ({exc})", status=422)
    if not isinstance(value, dict):
        return None, Fetched(error="definition: must be a JSON object", status=422)
    return value, None


@router.post("/segments")
async def create(
    request: Request,
    ctx: Ctx,
    viewer: MarketerDep,
    name: Annotated[str, Form()],
    definition: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "save",
) -> Response:
    form = {"name": name, "description": description, "definition": definition}
    parsed, error = parse_definition(definition)
    if parsed is None:
        return await _builder(request, ctx, viewer, 422, error=error, **form)
    if action == "preview":
        got = await preview(ctx.backends, viewer, parsed)
        status = 200 if got.ok else 422
        count = got.data["count"] if got.ok else None
        failed = None if got.ok else got
        return await _builder(request, ctx, viewer, status, error=failed, count=count, **form)
    body = {"name": name, "description": description, "definition": parsed}
    got = await ctx.backends.call("segment", "POST", "/v1/segments", viewer, json=body)
    if not got.ok:
        return await _builder(request, ctx, viewer, got.status or 502, error=got, **form)
    return RedirectResponse(f"/segments/{got.data['id']}", status_code=303)


async def preview(backends: Backends, viewer: Principal, definition: dict[str, Any]) -> Fetched:
    body = {"definition": definition, "sample_size": 5}
    return await backends.call("segment", "POST", "/v1/segments/preview", viewer, json=body)


@router.post("/api/segments/preview")
async def live_preview(request: Request, ctx: Ctx, viewer: ViewerDep) -> JSONResponse:
    """The builder's live count (read-only, so every role may ask; CSRF header checked)."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    definition = body.get("definition") if isinstance(body, dict) else None
    if not isinstance(definition, dict):
        details = [{"path": "definition", "message": "must be a JSON object"}]
        error = {"code": "invalid_definition", "message": "definition", "details": details}
        return JSONResponse({"error": error}, status_code=422)
    got = await preview(ctx.backends, viewer, definition)
    if got.ok:
        return JSONResponse({"count": got.data["count"]})
    failed: dict[str, Any] = {"code": "preview_failed", "message": got.error}
    failed["details"] = got.details
    return JSONResponse({"error": failed}, status_code=got.status or 502)


@router.post("/segment-templates/{key}/install")
async def install(request: Request, ctx: Ctx, viewer: MarketerDep, key: str) -> Response:
    path = f"/v1/segment-templates/{key}/install"
    got = await ctx.backends.call("segment", "POST", path, viewer)
    if got.ok:
        return RedirectResponse(f"/segments/{got.data['id']}", status_code=303)
    return render(request, ctx, viewer, "failed.html", got.status or 502, failure=got)


@router.get("/segments/{segment_id}")
async def segment(
    request: Request, ctx: Ctx, viewer: ViewerDep, segment_id: str, cursor: str | None = None
) -> HTMLResponse:
    seg, members, trend = await asyncio.gather(
        ctx.backends.call("segment", "GET", f"/v1/segments/{segment_id}", viewer),
        ctx.backends.call(
            "segment",
            "GET",
            f"/v1/segments/{segment_id}/members",
            viewer,
            params={"limit": 100, "cursor": cursor},
        ),
        history(ctx.backends, viewer, segment_id),
    )
    values = {"seg": seg, "members": members, "trend": trend, "segment_id": segment_id}
    definition = seg.data["definition"] if seg.ok else None
    values["definition_text"] = json.dumps(definition, ensure_ascii=False, indent=2)
    values["filling"] = filling = fill_running(seg)
    status = 404 if seg.status == 404 else 200
    page = render(request, ctx, viewer, "segment.html", status, **values)
    if filling:  # until the fill job has ended: its progress, then the members
        page.headers["Refresh"] = str(REFRESH_SECONDS)
    return page


REFRESH_SECONDS = 2


def fill_running(seg: Fetched) -> bool:
    """Whether the segment's fill job is still queued or running."""
    job = seg.data.get("job") if seg.ok and isinstance(seg.data, dict) else None
    return isinstance(job, dict) and job.get("state") in ("queued", "running")


@router.post("/segments/{segment_id}/archive")
async def archive(request: Request, ctx: Ctx, viewer: MarketerDep, segment_id: str) -> Response:
    path = f"/v1/segments/{segment_id}"
    got = await ctx.backends.call("segment", "DELETE", path, viewer)
    if got.ok:
        return RedirectResponse("/segments", status_code=303)
    return render(request, ctx, viewer, "failed.html", got.status or 502, failure=got)


@router.get("/segments/{segment_id}/members.csv")
async def members_csv(ctx: Ctx, viewer: ViewerDep, segment_id: str) -> Response:
    try:
        answer = await ctx.backends.send(
            "segment", "GET", f"/v1/segments/{segment_id}/members", viewer, params={"format": "csv"}
        )
    except httpx.HTTPError as exc:
        return Response(f"segment unreachable ({type(exc).__name__})", status_code=502)
    if answer.status_code != 200:
        return Response(answer.content, status_code=answer.status_code)
    ctx.audit.record(viewer, "segment.members_exported", segment_id)
    headers = {"Content-Disposition": f'attachment; filename="segment-{segment_id}.csv"'}
    return Response(answer.content, media_type="text/csv; charset=utf-8", headers=headers)
