"""GET /v1/journeys/{id}/stats: results per step, from messages and attributions alone
(it answers zeros for a journey that sent nothing, whether or not it exists)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from crm_messaging.api.deps import ServicesDep
from crm_messaging.handlers.campaigns_stats import stats

router = APIRouter(tags=["stats"])


@router.get("/v1/journeys/{journey_id}/stats", summary="Results of a journey, per step")
async def journey_stats(journey_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        return await stats(session, caller.tenant_id, "journey", journey_id, with_steps=True)
