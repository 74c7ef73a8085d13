"""Postal DM batches and the outbound call list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from crm_messaging.api.deps import ServicesDep
from crm_messaging.handlers import outputs
from crm_messaging.repository import calls, dm

router = APIRouter(tags=["outputs"])

_CHARSETS = {"cp932": "Shift_JIS", "utf-8-sig": "utf-8"}


class OutcomeBody(BaseModel):
    outcome: outputs.CallOutcome
    note: str | None = Field(default=None, max_length=2000)


@router.get("/v1/dm-batches", summary="Print batches, newest day first")
async def list_batches(request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        rows = await dm.list_batches(session, caller.tenant_id)
    keys = ("batch_id", "local_date", "state", "items", "created_at", "exported_at")
    return {"items": [{k: r[k] for k in keys} for r in rows]}


@router.get(
    "/v1/dm-batches/{batch_id}/download",
    summary="The print CSV; marks the batch sent (X-DM-Replaced-Cells: cells printed with 〓)",
)
async def download(
    batch_id: str,
    request: Request,
    services: ServicesDep,
    encoding: Literal["cp932", "utf-8-sig"] = "cp932",
) -> Response:
    async with services.tenant_session(request) as (session, caller):
        export = await outputs.export_batch(
            session, caller.tenant_id, batch_id, encoding, services.clock.now()
        )
    report = f"/v1/dm-batches/{batch_id}/replacements?encoding={encoding}"
    return Response(
        export.content,
        media_type=f"text/csv; charset={_CHARSETS[encoding]}",
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            # Cells with characters the encoding cannot hold, printed as 〓: see the report.
            "X-DM-Replaced-Cells": str(len(export.replaced)),
            "X-DM-Replacements": report,
        },
    )


@router.get(
    "/v1/dm-batches/{batch_id}/replacements",
    summary="Cells whose characters the encoding cannot hold (printed as 〓)",
)
async def replacements(
    batch_id: str,
    request: Request,
    services: ServicesDep,
    encoding: Literal["cp932", "utf-8-sig"] = "cp932",
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        items = await outputs.replacements(session, caller.tenant_id, batch_id, encoding)
    return {"batch_id": batch_id, "encoding": encoding, "items": items}


@router.get("/v1/call-list", summary="The outbound call list")
async def call_list(
    request: Request,
    services: ServicesDep,
    state: Literal["open", "done"] | None = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        rows = await calls.list_entries(session, caller.tenant_id, state, limit)
    keys = ("entry_id", "profile_id", "name", "phone", "reason", "script", "state", "last_outcome")
    return {"items": [{k: r[k] for k in keys} for r in rows]}


@router.post("/v1/call-list/{entry_id}/outcome", status_code=201, summary="Record a call outcome")
async def record_outcome(
    entry_id: str, body: OutcomeBody, request: Request, services: ServicesDep
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        seq = await outputs.record_call_outcome(
            session, caller.tenant_id, entry_id, body.outcome, body.note, services.clock.now()
        )
    return {"entry_id": entry_id, "seq": seq, "outcome": body.outcome}
