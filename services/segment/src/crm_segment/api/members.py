"""Who is in a segment: cursor pages, streamed CSV exports, size per day."""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from crm_common.csvcells import safe_row
from crm_common.errors import ApiError
from crm_segment.api.common import querying
from crm_segment.api.deps import CallerDep, Ctx
from crm_segment.api.errors import mapped_errors
from crm_segment.api.schemas import DaySize, Member, MemberPage, SegmentHistory
from crm_segment.context import SegmentContext
from crm_segment.repository import reads
from crm_segment.repository import segments as repo

router = APIRouter(prefix="/v1/segments", tags=["members"])
_CSV_ROWS_PER_CHUNK = 2000


def _encode_cursor(profile_id: str) -> str:
    return base64.urlsafe_b64encode(profile_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    """The profile id a cursor stands for; 422 for anything this service did not write."""
    try:
        # Non-ASCII text is a ValueError here, bad base64 a binascii.Error (also
        # a ValueError), bytes that are not UTF-8 a UnicodeDecodeError (ditto).
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        decoded = ""
    if not decoded or "\x00" in decoded:  # PostgreSQL text holds no NUL
        raise ApiError(
            422,
            "invalid_request",
            "bad cursor: pass next_cursor from the previous page as it is",
            [{"path": "query.cursor", "message": "bad cursor"}],
        )
    return decoded


async def _require_segment(ctx: SegmentContext, tenant_id: str, segment_id: str) -> None:
    async with ctx.db.transaction() as session:
        if await repo.get(session, tenant_id, segment_id) is None:
            raise ApiError(404, "not_found", f"no segment {segment_id!r}")


@router.get("/{segment_id}/members", response_model=None)
async def members(
    segment_id: str,
    ctx: Ctx,
    caller: CallerDep,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> MemberPage | StreamingResponse:
    await _require_segment(ctx, caller.tenant_id, segment_id)
    if format == "csv":
        return StreamingResponse(
            _csv_rows(ctx, caller.tenant_id, segment_id),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{segment_id}.csv"'},
        )
    after = _decode_cursor(cursor) if cursor else None
    async with mapped_errors(), querying(ctx, "members page") as session:
        rows = await reads.members_page(session, caller.tenant_id, segment_id, after, limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return MemberPage(
        segment_id=segment_id,
        members=[Member(profile_id=r.profile_id, entered_at=r.entered_at) for r in page],
        next_cursor=_encode_cursor(page[-1].profile_id) if more else None,
    )


async def _csv_rows(ctx: SegmentContext, tenant_id: str, segment_id: str) -> AsyncIterator[str]:
    """The open memberships through a server-side cursor, a chunk of lines at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["profile_id", "entered_at"])
    query = reads.members_page_query(tenant_id, segment_id, None, None)
    async with ctx.db.engine.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=_CSV_ROWS_PER_CHUNK))
        async for chunk in result.partitions(_CSV_ROWS_PER_CHUNK):
            for row in chunk:
                writer.writerow([row.profile_id, row.entered_at.isoformat()])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


@router.get(
    "/{segment_id}/members.csv",
    response_class=StreamingResponse,
    summary="Every member as CSV (UTF-8 with BOM, for Excel)",
)
async def members_csv(segment_id: str, ctx: Ctx, caller: CallerDep) -> StreamingResponse:
    """Streamed: ``profile_id``, ``entered_at`` (ISO 8601 in the tenant timezone) and
    the snapshot traits of :data:`~crm_segment.repository.reads.EXPORT_TRAITS`.

    The body starts with a UTF-8 byte order mark: Excel in Japan opens a CSV
    without one as Shift_JIS and garbles non-ASCII text (prefectures).
    """
    await _require_segment(ctx, caller.tenant_id, segment_id)
    tz = ZoneInfo(caller.timezone)
    day = ctx.clock.now().astimezone(tz).strftime("%Y%m%d")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", segment_id)
    return StreamingResponse(
        _export_rows(ctx, caller.tenant_id, segment_id, tz),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}-members-{day}.csv"'},
    )


async def _export_rows(
    ctx: SegmentContext, tenant_id: str, segment_id: str, tz: ZoneInfo
) -> AsyncIterator[str]:
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["profile_id", "entered_at", *reads.EXPORT_TRAITS])
    query = reads.members_export_query(tenant_id, segment_id)
    async with ctx.db.engine.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=_CSV_ROWS_PER_CHUNK))
        async for chunk in result.partitions(_CSV_ROWS_PER_CHUNK):
            for row in chunk:
                entered = row.entered_at.astimezone(tz).isoformat()
                traits = [row._mapping[k] for k in reads.EXPORT_TRAITS]
                writer.writerow(safe_row([row.profile_id, entered, *traits]))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


@router.get("/{segment_id}/history")
async def history(
    segment_id: str,
    ctx: Ctx,
    caller: CallerDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> SegmentHistory:
    await _require_segment(ctx, caller.tenant_id, segment_id)
    last = ctx.clock.now().astimezone(ZoneInfo(caller.timezone)).date()
    first = last - timedelta(days=days - 1)
    async with mapped_errors(), querying(ctx, "size history") as session:
        sizes = await reads.history(
            session, caller.tenant_id, segment_id, first, last, caller.timezone
        )
    return SegmentHistory(
        segment_id=segment_id,
        timezone=caller.timezone,
        days=[DaySize(date=day, size=size) for day, size in sizes],
    )
