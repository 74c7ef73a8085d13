"""Customers: search, and one customer's record, segments, timeline, messages, journeys."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from crm_dashboard import customer_view
from crm_dashboard.clients import Backends, Fetched, Principal
from crm_dashboard.web.deps import Ctx, ViewerDep, render
from crm_dashboard.web.lists import identifier_query, items_of

router = APIRouter(include_in_schema=False)
MAX_JOURNEYS = 25


@router.get("/customers")
async def search(
    request: Request,
    ctx: Ctx,
    viewer: ViewerDep,
    q: str = "",
    rfm_rank: str = "",
    f_stage: str = "",
) -> HTMLResponse:
    found: Fetched | None = None
    if q.strip():
        found = await ctx.backends.call(
            "profile", "GET", "/v1/profiles", viewer, params=identifier_query(q)
        )
    elif rfm_rank or f_stage:
        params = {"rfm_rank": rfm_rank, "f_stage": f_stage, "limit": 50}
        found = await ctx.backends.call(
            "profile", "GET", "/v1/profiles/search", viewer, params=params
        )
    rows = items_of(found) if found is not None and found.ok else []
    values = {"q": q, "rfm_rank": rfm_rank, "f_stage": f_stage, "found": found, "rows": rows}
    return render(request, ctx, viewer, "customers.html", **values)


async def journeys_of(backends: Backends, viewer: Principal, profile_id: str) -> Fetched:
    """The journeys this person has a run in (one runs call per journey)."""
    listing = await backends.call("messaging", "GET", "/v1/journeys", viewer)
    if not listing.ok:
        return listing
    journeys = items_of(listing)[:MAX_JOURNEYS]
    runs = await asyncio.gather(
        *(
            backends.call(
                "messaging",
                "GET",
                f"/v1/journeys/{j.get('id') or j.get('journey_id')}/runs",
                viewer,
                params={"profile_id": profile_id},
            )
            for j in journeys
        )
    )
    found: list[dict[str, Any]] = []
    for journey, answer in zip(journeys, runs, strict=True):
        for run in items_of(answer):
            found.append({"journey": journey, "run": run})
    return Fetched(data=found)


@router.get("/customers/{profile_id}")
async def customer(request: Request, ctx: Ctx, viewer: ViewerDep, profile_id: str) -> HTMLResponse:
    b = ctx.backends
    profile, timeline, orders, segments, messages, journeys = await asyncio.gather(
        b.call("profile", "GET", f"/v1/profiles/{profile_id}", viewer),
        b.call(
            "profile", "GET", f"/v1/profiles/{profile_id}/timeline", viewer, params={"limit": 50}
        ),
        b.call("profile", "GET", f"/v1/profiles/{profile_id}/orders", viewer),
        b.call("segment", "GET", f"/v1/profiles/{profile_id}/segments", viewer),
        b.call("messaging", "GET", "/v1/messages", viewer, params={"profile_id": profile_id}),
        journeys_of(b, viewer, profile_id),
    )
    status = 404 if profile.status == 404 else 200
    if profile.ok:
        ctx.audit.record(viewer, "customer.viewed", profile_id)
    return render(
        request,
        ctx,
        viewer,
        "customer.html",
        status,
        profile_id=profile_id,
        profile=profile,
        timeline=timeline,
        orders=orders,
        segments=segments,
        messages=messages,
        journeys=journeys,
        items_of=items_of,
        groups=customer_view.groups,
        display_name=customer_view.display_name,
        timeline_lines=customer_view.timeline,
    )
