"""``/v1/settings/rfm``: per-tenant RFM thresholds.

New thresholds apply lazily: each profile is rescored with them the next time
it changes (any event about it), not all at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from crm_profile.api.deps import CallerDep, SessionDep
from crm_profile.domain import RfmThresholds
from crm_profile.handlers.process import thresholds_of
from crm_profile.repository import settings as settings_repo

router = APIRouter(prefix="/v1/settings", tags=["settings"])


@router.get("/rfm", summary="The tenant's RFM thresholds (defaults when never set)")
async def get_rfm(session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    return (await thresholds_of(session, caller.tenant_id)).model_dump(mode="json")


@router.put("/rfm", summary="Replace the tenant's RFM thresholds (applied lazily)")
async def put_rfm(body: RfmThresholds, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    stored = body.model_dump(mode="json")
    await settings_repo.save_thresholds(session, caller.tenant_id, stored)
    return stored
