"""Operations: services' health, events/s per stage, consumer lag, dead letters (replay,
admin only), webhook rejections, provider errors — data from :mod:`crm_dashboard.ops`.

A tenant's users see their own tenant (its letters, replayed by its admins, and the
pipeline's state); installation operators see every tenant and every number
(:mod:`crm_dashboard.ops.scope`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_dashboard.ops import operations_snapshot, replay_dead_letters
from crm_dashboard.web.deps import AdminDep, Ctx, ViewerDep, render

router = APIRouter(include_in_schema=False)


@router.get("/operations")
async def operations(
    request: Request,
    ctx: Ctx,
    viewer: ViewerDep,
    replayed: int | None = None,
    replay_error: str | None = None,
) -> HTMLResponse:
    snapshot = await operations_snapshot(ctx.http, ctx.ops, viewer.ops_scope())
    consumers = sorted({x.consumer for x in snapshot.dead_letters.recent})
    values = {"snap": snapshot, "replayed": replayed, "replay_error": replay_error}
    return render(request, ctx, viewer, "operations.html", consumers=consumers, **values)


def parse_since(text: str) -> datetime | None:
    """``2026-11-23T16:50`` (a datetime-local field, read as UTC) or an aware ISO time."""
    if not text.strip():
        return None
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.post("/operations/replay")
async def replay(
    request: Request,
    ctx: Ctx,
    viewer: AdminDep,
    consumer: Annotated[str, Form()] = "",
    since: Annotated[str, Form()] = "",
) -> Response:
    """Replay letters not replayed yet: all, or one consumer's, or those failed since."""
    try:
        after = parse_since(since)
    except ValueError:
        return RedirectResponse("/operations?replay_error=since", status_code=303)
    chosen = [consumer] if consumer else None
    result = await replay_dead_letters(ctx.http, ctx.ops, viewer.ops_scope(), chosen, since=after)
    if result.error:
        return RedirectResponse("/operations?replay_error=1", status_code=303)
    return RedirectResponse(f"/operations?replayed={result.replayed or 0}", status_code=303)
