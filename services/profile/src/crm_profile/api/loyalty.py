"""Loyalty: ``/v1/settings/loyalty`` (the programme) and ``/v1/profiles/{id}/points``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import ConfigDict

from crm_common.events import UtcDatetime
from crm_profile.api.deps import CallerDep, NowDep, SessionDep
from crm_profile.domain.loyalty_rules import LoyaltyRules
from crm_profile.handlers.points import PointsIn, points_view, programme_or_409, write_points
from crm_profile.handlers.views import live_row
from crm_profile.repository import loyalty as loyalty_repo

router = APIRouter(tags=["loyalty"])


class LoyaltySettingsIn(LoyaltyRules):
    """The rules, in effect from ``effective_from`` (default: now). Orders placed
    before it keep the points earlier rules gave them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    effective_from: UtcDatetime | None = None


@router.get("/v1/settings/loyalty", summary="The loyalty programme: every version of its rules")
async def get_loyalty(session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    programme = await programme_or_409(session, caller.tenant_id)
    return {
        "currency": programme.currency,
        "current": programme.current.model_dump(mode="json"),
        "versions": [v.model_dump(mode="json") for v in programme.versions],
    }


@router.put("/v1/settings/loyalty", summary="New rules for the loyalty programme")
async def put_loyalty(
    body: LoyaltySettingsIn, session: SessionDep, caller: CallerDep, now: NowDep
) -> dict[str, Any]:
    rules = LoyaltyRules.model_validate(body.model_dump(exclude={"effective_from"}))
    effective_from = body.effective_from or now
    await loyalty_repo.save_rules(
        session, caller.tenant_id, effective_from, rules.model_dump(mode="json")
    )
    return {"effective_from": effective_from, "rules": rules.model_dump(mode="json")}


@router.get("/v1/profiles/{profile_id}/points", summary="Points balance, rank and ledger")
async def get_points(
    profile_id: str, session: SessionDep, caller: CallerDep, now: NowDep
) -> dict[str, Any]:
    programme = await programme_or_409(session, caller.tenant_id)
    pid = (await live_row(session, caller.tenant_id, profile_id)).profile_id
    return await points_view(session, caller.tenant_id, pid, programme, now)


@router.post("/v1/profiles/{profile_id}/points/grant", summary="Grant points (idempotent by key)")
async def grant(
    profile_id: str, body: PointsIn, session: SessionDep, caller: CallerDep, now: NowDep
) -> dict[str, Any]:
    return await write_points(session, caller.tenant_id, profile_id, "grant", body, now)


@router.post("/v1/profiles/{profile_id}/points/use", summary="Use (redeem) points")
async def use(
    profile_id: str, body: PointsIn, session: SessionDep, caller: CallerDep, now: NowDep
) -> dict[str, Any]:
    return await write_points(session, caller.tenant_id, profile_id, "use", body, now)


@router.post("/v1/profiles/{profile_id}/points/adjust", summary="Adjust points (signed)")
async def adjust(
    profile_id: str, body: PointsIn, session: SessionDep, caller: CallerDep, now: NowDep
) -> dict[str, Any]:
    return await write_points(session, caller.tenant_id, profile_id, "adjust", body, now)
