"""Evaluate some segments for some profiles in memory and apply what changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.downstream import SegmentEntered, SegmentExited
from crm_segment import metrics
from crm_segment.domain.catalog import TenantCatalog
from crm_segment.domain.membership import earliest, evaluate_profile
from crm_segment.handlers import publish as out
from crm_segment.repository import memberships as membership_repo
from crm_segment.repository import profiles as profile_repo


@dataclass(frozen=True, slots=True)
class Candidate:
    """A profile to evaluate against ``segments`` (in catalog order)."""

    profile_id: str
    traits: dict[str, Any]
    segments: Sequence[str]
    old_next: datetime | None
    exact_next: bool  # every time-dependent segment is among ``segments``
    reason: str


async def evaluate_and_apply(
    session: AsyncSession,
    tenant_id: str,
    catalog: TenantCatalog,
    candidates: Sequence[Candidate],
    now: datetime,
    trigger: str,
) -> None:
    """Memberships, outbox events and next_change_at for every candidate."""
    if not candidates:
        return
    pids = [c.profile_id for c in candidates]
    types = {
        t for c in candidates for s in c.segments for t in catalog.segments[s].refs.event_types
    }
    events = await profile_repo.events_of(session, tenant_id, pids, types)
    open_rows = await membership_repo.open_of(session, tenant_id, pids)
    enters: list[tuple[str, str]] = []
    leaves: list[tuple[str, str]] = []
    outgoing: list[SegmentEntered | SegmentExited] = []
    moments: dict[str, datetime | None] = {}
    for c in candidates:
        current = open_rows.get(c.profile_id, {})
        outcome = evaluate_profile(
            catalog, c.segments, c.traits, events.get(c.profile_id, ()), frozenset(current), now
        )
        metrics.EVALUATIONS.labels(trigger).inc(len(c.segments))
        for sid in outcome.entered:
            enters.append((sid, c.profile_id))
            outgoing.append(out.entered(tenant_id, sid, c.profile_id, now, c.reason))
        for sid in outcome.exited:
            leaves.append((sid, c.profile_id))
            outgoing.append(out.exited(tenant_id, sid, c.profile_id, current[sid], now, c.reason))
        moment = outcome.next_change_at
        if not c.exact_next:
            moment = earliest(c.old_next, moment)
        if moment != c.old_next:
            moments[c.profile_id] = moment
    await membership_repo.leave(session, tenant_id, leaves, now)
    await membership_repo.enter(session, tenant_id, enters, now)
    await out.publish(session, outgoing, trigger)
    await profile_repo.set_next_change(session, tenant_id, moments)
