"""The generic cart event API (tenant API key): one event, or a batch of up to 1,000."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import ORJSONResponse

from crm_common.errors import ApiError
from crm_common.events import utcnow
from crm_ingest.api.body import read_json
from crm_ingest.api.deps import CallerDep, Ctx
from crm_ingest.handlers import events as handlers

router = APIRouter(prefix="/v1", tags=["events"])

_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def platform_source(request: Request, body: Mapping[str, Any]) -> str:
    """X-Cart-Platform header, else the body's ``source``, else ``custom``."""
    value = request.headers.get("x-cart-platform") or body.get("source") or "custom"
    if not isinstance(value, str) or not _SOURCE.match(value.strip().lower()):
        detail = [{"path": "source", "message": "Input should be a platform name like makeshop"}]
        raise ApiError(422, "invalid_request", f"source: invalid platform {value!r}", detail)
    return value.strip().lower()


@router.post("/events", status_code=202, summary="Accept one cart event")
async def post_event(request: Request, ctx: Ctx, caller: CallerDep) -> ORJSONResponse:
    body = await read_json(request, ctx.settings.service.max_request_bytes)
    item = dict(body) if isinstance(body, Mapping) else body
    source = platform_source(request, item if isinstance(item, dict) else {})
    if isinstance(item, dict):
        item.pop("source", None)
    async with ctx.db.transaction() as session:
        result = await handlers.accept_one(session, caller, item, source, utcnow())
    return ORJSONResponse({"event_id": result.event_id, "status": result.status}, status_code=202)


@router.post("/events/batch", status_code=207, summary="Accept up to 1,000 cart events")
async def post_batch(request: Request, ctx: Ctx, caller: CallerDep) -> ORJSONResponse:
    body = await read_json(request, ctx.settings.service.max_request_bytes)
    if isinstance(body, list):
        body = {"events": body}
    if not isinstance(body, Mapping) or not isinstance(body.get("events"), list):
        detail = [{"path": "events", "message": "Input should be a list of events"}]
        raise ApiError(422, "invalid_request", "events: Input should be a list", detail)
    source = platform_source(request, body)
    async with ctx.db.transaction() as session:
        report = await handlers.accept_batch(session, caller, body["events"], source, utcnow())
    return ORJSONResponse(report, status_code=207)
