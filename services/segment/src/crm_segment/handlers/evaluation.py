"""Evaluate some segments for some profiles in memory and apply what changed.

The evaluation itself is pure CPU (every candidate against its segments) and
runs in a worker thread: a batch of new profiles against a tenant's many
segments must not hold the event loop, where the consumers' heartbeats and
/healthz are answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.downstream import SegmentEntered, SegmentExited
from crm_segment import metrics
from crm_segment.domain.catalog import TenantCatalog
from crm_segment.domain.evaluate import EventView
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
    changes = await asyncio.to_thread(
        _decide, tenant_id, catalog, candidates, events, open_rows, now, trigger
    )
    await membership_repo.leave(session, tenant_id, changes.leaves, now)
    await membership_repo.enter(session, tenant_id, changes.enters, now)
    await out.publish(session, changes.outgoing, trigger)
    await profile_repo.set_next_change(session, tenant_id, changes.moments)


@dataclass
class _Changes:
    enters: list[tuple[str, str]] = field(default_factory=list)
    leaves: list[tuple[str, str]] = field(default_factory=list)
    outgoing: list[SegmentEntered | SegmentExited] = field(default_factory=list)
    moments: dict[str, datetime | None] = field(default_factory=dict)


def _decide(
    tenant_id: str,
    catalog: TenantCatalog,
    candidates: Sequence[Candidate],
    events: Mapping[str, Sequence[EventView]],
    open_rows: Mapping[str, Mapping[str, datetime]],
    now: datetime,
    trigger: str,
) -> _Changes:
    """Who enters and leaves which segment, and each profile's next moment (no I/O)."""
    changes = _Changes()
    for c in candidates:
        current = open_rows.get(c.profile_id, {})
        outcome = evaluate_profile(
            catalog, c.segments, c.traits, events.get(c.profile_id, ()), frozenset(current), now
        )
        metrics.EVALUATIONS.labels(trigger).inc(len(c.segments))
        for sid in outcome.entered:
            changes.enters.append((sid, c.profile_id))
            changes.outgoing.append(out.entered(tenant_id, sid, c.profile_id, now, c.reason))
        for sid in outcome.exited:
            changes.leaves.append((sid, c.profile_id))
            changes.outgoing.append(
                out.exited(tenant_id, sid, c.profile_id, current[sid], now, c.reason)
            )
        moment = outcome.next_change_at
        if not c.exact_next:
            moment = earliest(c.old_next, moment)
        if moment != c.old_next:
            changes.moments[c.profile_id] = moment
    return changes
