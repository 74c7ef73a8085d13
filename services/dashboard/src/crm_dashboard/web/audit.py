"""The audit log (admin only): who viewed a customer, exported members, downloaded a
print file, opened the call list, changed settings, keys or users; filterable by
action, user and day (the shop's time zone), newest first, exportable as CSV.

The entries name ids (a profile id, a key id), never personal data beyond the
acting console user's email; exporting is itself audited."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from crm_dashboard.audit import ACTIONS, AuditFilter, entries
from crm_dashboard.web.deps import AdminDep, Ctx, Viewer, render

router = APIRouter(include_in_schema=False)
PAGE = 100
EXPORT_LIMIT = 50_000
COLUMNS = ("at", "email", "role", "action", "target", "detail")


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _start_of(day: date | None, timezone: str) -> datetime | None:
    return datetime.combine(day, time(), ZoneInfo(timezone)) if day else None


def _filter(viewer: Viewer, params: dict[str, str], before: int | None) -> AuditFilter:
    since, until = _day(params.get("since")), _day(params.get("until"))
    action = params.get("action") or None
    return AuditFilter(
        tenant_id=viewer.tenant_id,
        action=action if action in ACTIONS else None,
        email=(params.get("email") or "").strip() or None,
        since=_start_of(since, viewer.timezone),
        until=_start_of(until + timedelta(days=1) if until else None, viewer.timezone),
        before_id=before,
    )


def _params(request: Request) -> dict[str, str]:
    keys = ("action", "email", "since", "until")
    return {k: request.query_params.get(k, "") for k in keys}


@router.get("/audit")
async def audit_page(
    request: Request,
    ctx: Ctx,
    viewer: AdminDep,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    params = _params(request)
    async with ctx.db.transaction() as session:
        rows = await entries(session, _filter(viewer, params, before), PAGE + 1)
    more = rows[PAGE].id if len(rows) > PAGE else None
    query = urlencode({k: v for k, v in params.items() if v})
    values: dict[str, Any] = {"rows": rows[:PAGE], "actions": ACTIONS, "params": params}
    values |= {"next_before": rows[PAGE - 1].id if more else None, "query": query}
    return render(request, ctx, viewer, "audit.html", tab="audit", **values)


def _csv(rows: list[Any], timezone: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    zone = ZoneInfo(timezone)
    for r in rows:
        at = r.at.astimezone(zone).isoformat(timespec="seconds")
        writer.writerow([at, r.email, r.role, r.action, r.target, _detail(r.detail)])
    return out.getvalue()


def _detail(detail: Any) -> str:
    if not detail:
        return ""
    return "; ".join(f"{k}={v}" for k, v in sorted(dict(detail).items()))


@router.get("/audit.csv")
async def audit_csv(request: Request, ctx: Ctx, viewer: AdminDep) -> Response:
    params = _params(request)
    async with ctx.db.transaction() as session:
        rows = await entries(session, _filter(viewer, params, None), EXPORT_LIMIT)
    ctx.audit.record(viewer, "audit.exported", "", {k: v for k, v in params.items() if v})
    headers = {"Content-Disposition": 'attachment; filename="audit-log.csv"'}
    body = "\ufeff" + _csv(rows, viewer.timezone)  # a BOM: Excel opens it as UTF-8
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
