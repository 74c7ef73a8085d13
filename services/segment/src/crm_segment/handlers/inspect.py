"""Read-only use of the SQL evaluator: preview a definition, verify live memberships."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.domain.limits import DEFAULT_LIMITS, DefinitionLimits
from crm_segment.handlers.admission import check_saving, parse
from crm_segment.handlers.errors import SegmentNotFoundError
from crm_segment.repository import bulk
from crm_segment.repository import segments as repo

SAMPLE_TRAITS = ("orders_count", "total_spent", "last_order_at", "rfm_rank", "f_stage")


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[dict[str, Any]]


@dataclass(frozen=True)
class Verification:
    segment_id: str
    missing: list[str]  # match the definition but are not members
    extra: list[str]  # members that do not match

    @property
    def exact(self) -> bool:
        return not self.missing and not self.extra


async def preview(
    session: AsyncSession,
    tenant_id: str,
    raw: Any,
    now: datetime,
    sample: int,
    limits: DefinitionLimits = DEFAULT_LIMITS,
) -> Preview:
    definition = await parse(raw, limits)
    await check_saving(definition, None, await repo.active(session, tenant_id), limits)
    count, rows = await bulk.preview(session, definition, tenant_id, now, sample)
    return Preview(
        count,
        [
            {"profile_id": r.profile_id, "traits": {k: r.traits.get(k) for k in SAMPLE_TRAITS}}
            for r in rows
        ],
    )


async def verify(
    session: AsyncSession,
    tenant_id: str,
    segment_id: str,
    now: datetime,
    limits: DefinitionLimits = DEFAULT_LIMITS,
) -> Verification:
    """Compare the open memberships with the SQL evaluation at ``now``.

    For a snapshot segment ``now`` should be its fill moment; live segments
    are exact between sweeps only for conditions not due in the meantime.
    """
    row = await repo.get(session, tenant_id, segment_id)
    if row is None:
        raise SegmentNotFoundError(segment_id)
    definition = await parse(row.definition, limits)  # one saved before the limits is refused
    missing, extra = await bulk.differences(session, tenant_id, segment_id, definition, now)
    return Verification(segment_id, missing, extra)
