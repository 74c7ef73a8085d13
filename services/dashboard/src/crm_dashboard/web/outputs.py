"""Postal DM print batches (download the print file) and the call list (record outcomes)."""

from __future__ import annotations

from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_dashboard.clients import Fetched
from crm_dashboard.web.deps import Ctx, MarketerDep, ViewerDep, render
from crm_dashboard.web.lists import items_of

router = APIRouter(include_in_schema=False)
OUTCOMES = ("reached", "no_answer", "declined", "converted")


@router.get("/dm")
async def batches(request: Request, ctx: Ctx, viewer: ViewerDep) -> HTMLResponse:
    got = await ctx.backends.call("messaging", "GET", "/v1/dm-batches", viewer)
    return render(request, ctx, viewer, "dm.html", batches=got, rows=items_of(got))


@router.post("/dm/{batch_id}/download")
async def download(
    request: Request,
    ctx: Ctx,
    viewer: MarketerDep,
    batch_id: str,
    encoding: Annotated[Literal["cp932", "utf-8-sig"], Form()] = "cp932",
) -> Response:
    """A POST: downloading marks the batch as sent to the printer (a change)."""
    path = f"/v1/dm-batches/{batch_id}/download"
    try:
        answer = await ctx.backends.send(
            "messaging", "GET", path, viewer, params={"encoding": encoding}
        )
    except httpx.HTTPError as exc:
        failure = Fetched(error=f"messaging unreachable ({type(exc).__name__})")
        return render(request, ctx, viewer, "failed.html", 502, failure=failure, back="/dm")
    if answer.status_code != 200:
        failure = Fetched(error=f"messaging: HTTP {answer.status_code}", status=answer.status_code)
        status = answer.status_code
        return render(request, ctx, viewer, "failed.html", status, failure=failure, back="/dm")
    ctx.audit.record(viewer, "dm.downloaded", batch_id, {"encoding": encoding})
    headers = {
        "Content-Disposition": answer.headers.get(
            "content-disposition", f'attachment; filename="dm-{batch_id}.csv"'
        )
    }
    media = answer.headers.get("content-type", "text/csv")
    return Response(answer.content, media_type=media, headers=headers)


@router.get("/calls")
async def calls(request: Request, ctx: Ctx, viewer: ViewerDep, state: str = "open") -> HTMLResponse:
    state = state if state in ("open", "done") else "open"
    got = await ctx.backends.call(
        "messaging", "GET", "/v1/call-list", viewer, params={"state": state}
    )
    if got.ok:  # the list shows names and phone numbers
        ctx.audit.record(viewer, "calls.viewed", "", {"state": state})
    values = {"entries": got, "rows": items_of(got), "state": state, "outcomes": OUTCOMES}
    return render(request, ctx, viewer, "calls.html", **values)


@router.post("/calls/{entry_id}/outcome")
async def record_outcome(
    request: Request,
    ctx: Ctx,
    viewer: MarketerDep,
    entry_id: str,
    outcome: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
) -> Response:
    body = {"outcome": outcome, "note": note.strip() or None}
    path = f"/v1/call-list/{entry_id}/outcome"
    got = await ctx.backends.call("messaging", "POST", path, viewer, json=body)
    if not got.ok:
        status = got.status or 502
        return render(request, ctx, viewer, "failed.html", status, failure=got, back="/calls")
    return RedirectResponse("/calls?recorded=1", status_code=303)
