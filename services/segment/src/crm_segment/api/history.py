"""``GET /v1/segments/{id}/size-history``: the console's size trend.

One item per local day (tenant timezone) of the window ending today: today is
the live count; a past day is the size recorded for it (the sweeper's last
upsert that day, or the migration's backfill), else the last size recorded
before it carried forward. Days before the segment was created, or before any
size is known, are left out.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel

from crm_common.errors import ApiError
from crm_segment.api.common import querying
from crm_segment.api.deps import CallerDep, Ctx
from crm_segment.api.errors import mapped_errors
from crm_segment.repository import history
from crm_segment.repository import segments as repo

router = APIRouter(prefix="/v1/segments", tags=["members"])


class SizeItem(BaseModel):
    date: date
    size: int


class SizeHistory(BaseModel):
    items: list[SizeItem]


@router.get("/{segment_id}/size-history", summary="Segment size per day (tenant timezone)")
async def size_history(
    segment_id: str,
    ctx: Ctx,
    caller: CallerDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> SizeHistory:
    tz = ZoneInfo(caller.timezone)
    today = ctx.clock.now().astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    async with mapped_errors(), querying(ctx, "size history") as session:
        segment = await repo.get(session, caller.tenant_id, segment_id)
        if segment is None:
            raise ApiError(404, "not_found", f"no segment {segment_id!r}")
        rows = await history.window(session, caller.tenant_id, segment_id, first, today)
        live = await repo.size(session, caller.tenant_id, segment_id)
    created = segment.created_at.astimezone(tz).date()
    recorded = {r.day: int(r.size) for r in rows}
    return SizeHistory(items=carried_forward(recorded, max(first, created), today, live))


def carried_forward(
    recorded: dict[date, int], first: date, today: date, live: int
) -> list[SizeItem]:
    """Items from ``first`` to ``today``: ``live`` today, else the last size known."""
    known = [d for d in recorded if d < first]
    size = recorded[max(known)] if known else None
    items = []
    day = first
    while day <= today:
        size = live if day == today else recorded.get(day, size)
        if size is not None:
            items.append(SizeItem(date=day, size=size))
        day += timedelta(days=1)
    return items
