"""Fill jobs: how far a segment's fill has come, and how it ended."""

from __future__ import annotations

from fastapi import APIRouter

from crm_common.errors import ApiError
from crm_segment.api.deps import CallerDep, Ctx
from crm_segment.api.schemas import JobPublic
from crm_segment.repository import jobs as repo

router = APIRouter(prefix="/v1/segment-jobs", tags=["segments"])


@router.get("/{job_id}")
async def get_job(job_id: str, ctx: Ctx, caller: CallerDep) -> JobPublic:
    """A fill job: ``state`` (queued, running, done, failed, cancelled), ``progress``
    (profiles filled of the tenant's), the membership changes it made, and its
    ``error`` when it failed (e.g. ``query_timeout``)."""
    async with ctx.db.transaction() as session:
        row = await repo.get(session, caller.tenant_id, job_id)
    if row is None:
        raise ApiError(404, "not_found", f"no segment job {job_id!r}")
    return JobPublic.of(row)
