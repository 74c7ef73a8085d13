"""Overview (KPIs, revenue by month, LTV by source) and RFM (grid, ranks, movement)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from crm_dashboard.web.deps import Ctx, ViewerDep, render

router = APIRouter(include_in_schema=False)
RANKS = ("A", "B", "C", "D", "E")


@router.get("/")
async def overview(request: Request, ctx: Ctx, viewer: ViewerDep) -> HTMLResponse:
    data = await ctx.backends.call("profile", "GET", "/v1/analytics/overview", viewer)
    return render(request, ctx, viewer, "overview.html", data=data)


def _since(raw: str | None) -> date:
    try:
        return date.fromisoformat(raw) if raw else date.today() - timedelta(days=30)
    except ValueError:
        return date.today() - timedelta(days=30)


def movement_matrix(moves: list[dict[str, Any]]) -> dict[str, Any]:
    """{(from, to): customers}; ``None`` as from means "new since then"."""
    cells = {(m.get("from_rank"), m.get("to_rank")): m.get("customers", 0) for m in moves}
    froms = [*RANKS, None]
    stayed = sum(cells.get((r, r), 0) for r in RANKS)
    up = sum(n for (f, t), n in cells.items() if f and t and f > t)
    down = sum(n for (f, t), n in cells.items() if f and t and f < t)
    return {"cells": cells, "froms": froms, "tos": RANKS, "stayed": stayed, "up": up, "down": down}


@router.get("/rfm")
async def rfm(
    request: Request, ctx: Ctx, viewer: ViewerDep, since: str | None = None
) -> HTMLResponse:
    day = _since(since)
    grid, moves = await asyncio.gather(
        ctx.backends.call("profile", "GET", "/v1/analytics/rfm", viewer),
        ctx.backends.call(
            "profile",
            "GET",
            "/v1/analytics/rank-movement",
            viewer,
            params={"since": day.isoformat()},
        ),
    )
    cells = {(c["r"], c["f"]): c for c in grid.data.get("grid", [])} if grid.ok else {}
    matrix = movement_matrix(moves.data.get("moves", [])) if moves.ok else None
    return render(
        request,
        ctx,
        viewer,
        "rfm.html",
        grid=grid,
        cells=cells,
        moves=moves,
        matrix=matrix,
        since=day.isoformat(),
    )
