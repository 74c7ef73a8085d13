"""Bulk fills: a segment's memberships made equal to its SQL result, with events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.downstream import SegmentEntered, SegmentExited
from crm_segment import metrics
from crm_segment.domain.definition import Definition
from crm_segment.domain.index import references
from crm_segment.domain.limits import DEFAULT_LIMITS, DefinitionLimits
from crm_segment.handlers import publish as out
from crm_segment.handlers.catalogs import live_catalog
from crm_segment.repository import bulk
from crm_segment.repository import catalog as catalog_repo


@dataclass(frozen=True)
class FillResult:
    entered: int = 0
    exited: int = 0

    def __add__(self, other: FillResult) -> FillResult:
        return FillResult(self.entered + other.entered, self.exited + other.exited)


async def fill_segment(
    session: AsyncSession,
    tenant_id: str,
    segment_id: str,
    definition: Definition,
    now: datetime,
    reason: str,
    event_batch: int = 5000,
) -> FillResult:
    """Diff the SQL result against the open rows; the caller holds the tenant exclusively."""
    started = time.perf_counter()
    entered, gone = await bulk.fill(session, tenant_id, segment_id, definition, now)
    events: Iterable[SegmentEntered | SegmentExited] = chain(
        (out.entered(tenant_id, segment_id, pid, now, reason) for pid in entered),
        (out.exited(tenant_id, segment_id, pid, at, now, reason) for pid, at in gone),
    )
    await out.publish(session, events, "fill", event_batch)
    if references(definition).time_dependent:
        await bulk.lower_next_change(session, tenant_id, definition, now)
    metrics.FILL_SECONDS.observe(time.perf_counter() - started)
    return FillResult(len(entered), len(gone))


async def refill_downstream(
    session: AsyncSession,
    tenant_id: str,
    segment_id: str,
    now: datetime,
    reason: str,
    event_batch: int = 5000,
    limits: DefinitionLimits = DEFAULT_LIMITS,
) -> FillResult:
    """Refill ``segment_id`` if it is live, then every live segment that reads it, in order
    (a segment over the limits, saved before them, is left as it is)."""
    raw = await catalog_repo.live_definitions(session, tenant_id)
    catalog = await asyncio.to_thread(live_catalog, -1, raw, limits, tenant_id)
    total = FillResult()
    for sid in catalog.downstream_of(segment_id):
        definition = catalog.segments[sid].definition
        cause = reason if sid == segment_id else f"{reason}:{segment_id}"
        total += await fill_segment(session, tenant_id, sid, definition, now, cause, event_batch)
    return total
