"""The segments a profile belongs to now."""

from __future__ import annotations

from fastapi import APIRouter

from crm_segment.api.deps import CallerDep, Ctx
from crm_segment.api.schemas import ProfileMembership, ProfileSegments
from crm_segment.repository import profiles as profile_repo
from crm_segment.repository import reads

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])


@router.get("/{profile_id}/segments")
async def segments_of_profile(profile_id: str, ctx: Ctx, caller: CallerDep) -> ProfileSegments:
    """A merged profile id answers for its survivor."""
    async with ctx.db.transaction() as session:
        alias = await profile_repo.survivors(session, caller.tenant_id, [profile_id])
        live = alias.get(profile_id, profile_id)
        rows = await reads.segments_of_profile(session, caller.tenant_id, live)
    return ProfileSegments(
        profile_id=live,
        segments=[
            ProfileMembership(
                segment_id=r.segment_id, name=r.name, kind=r.kind, entered_at=r.entered_at
            )
            for r in rows
        ],
    )
