"""``/v1/analytics``: what the console charts (overview, RFM, rank movement).

Tenant API key, or the console's token for profile (any role reads). Money is a decimal
string in the tenant currency. Semantics: :mod:`crm_profile.handlers.analytics`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from crm_common.inputs import Day
from crm_profile.api.deps import CallerDep, NowDep, SessionDep
from crm_profile.handlers import analytics

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


@router.get("/overview", summary="Customers, buyers, F2 conversion, LTV, revenue by month")
async def overview(session: SessionDep, caller: CallerDep, now: NowDep) -> dict[str, Any]:
    return await analytics.overview(session, caller.tenant_id, caller.timezone, now)


@router.get("/rfm", summary="The R x F grid, the A-E distribution and the thresholds")
async def rfm(session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    return await analytics.rfm(session, caller.tenant_id)


@router.get("/rank-movement", summary="Customers per (rank at `since`, rank now)")
async def rank_movement(
    session: SessionDep,
    caller: CallerDep,
    since: Annotated[Day, Query(description="YYYY-MM-DD, start of day in the tenant timezone")],
) -> dict[str, Any]:
    return await analytics.rank_movement(session, caller.tenant_id, caller.timezone, since)
