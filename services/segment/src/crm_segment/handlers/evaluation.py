"""Evaluate some profiles in memory, a batch at a time, and apply what changed.

Reads are set-wise (events and open memberships of every candidate in one query
each), the evaluation is one pass of the batch through each segment's compiled
plan (:mod:`crm_segment.domain.compiled`), run in a worker thread (the loop keeps
answering /healthz and Kafka heartbeats), and the writes are one statement for
the memberships and their outbox events (:mod:`crm_segment.repository.changes`)
and one for the next moments.

While a job fills a live segment (:mod:`crm_segment.handlers.jobs`), every
evaluation first claims the profiles it evaluates for it
(:mod:`crm_segment.repository.claims`), before reading their memberships, and then
decides that segment for each of them, whatever the change was: a fill chunk leaves a
claimed profile to the evaluation that claimed it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment import metrics
from crm_segment.domain.catalog import TenantCatalog
from crm_segment.domain.membership import (
    Outcome,
    Pending,
    evaluate_batch,
    moved_segments,
    sweep_batch,
)
from crm_segment.handlers import publish as out
from crm_segment.repository import changes, claims
from crm_segment.repository import memberships as membership_repo
from crm_segment.repository import profiles as profile_repo
from crm_segment.repository.changes import Change


@dataclass(frozen=True, slots=True)
class Candidate:
    """A profile to evaluate against ``segments`` (None: every live segment) and the
    segments depending on them."""

    profile_id: str
    traits: dict[str, Any]
    segments: frozenset[str] | None
    old_next: datetime | None
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
    pending = await _pending(session, tenant_id, catalog, candidates)
    outcomes = await asyncio.to_thread(evaluate_batch, catalog, pending, now)
    asked = [p.segments for p in pending]
    await _apply(session, tenant_id, catalog, candidates, asked, outcomes, now, trigger)


async def sweep_and_apply(
    session: AsyncSession,
    tenant_id: str,
    catalog: TenantCatalog,
    due: Sequence[Candidate],
    now: datetime,
) -> None:
    """Profiles whose next moment has come (``old_next``): the segments whose clocks
    moved since then, and their dependents; only their memberships are read."""
    if not due:
        return
    pids = [c.profile_id for c in due]
    if catalog.filling:  # before reading memberships: see repository/claims.py
        await claims.claim(session, tenant_id, catalog.fill_order, pids)
    events = await profile_repo.events_of(session, tenant_id, pids, catalog.event_types)
    found = [events.get(pid, ()) for pid in pids]
    since = [c.old_next or now for c in due]
    traits = [c.traits for c in due]
    moved = await asyncio.to_thread(
        moved_segments, catalog, traits, found, since, now, catalog.filling
    )
    open_rows = await membership_repo.open_of(session, tenant_id, pids, moved.needed)
    current = [frozenset(open_rows.get(pid, ())) for pid in pids]
    outcomes = await asyncio.to_thread(sweep_batch, catalog, moved, current)
    await _apply(session, tenant_id, catalog, due, moved.segments, outcomes, now, "sweep")


async def _pending(
    session: AsyncSession,
    tenant_id: str,
    catalog: TenantCatalog,
    candidates: Sequence[Candidate],
) -> list[Pending]:
    pids = [c.profile_id for c in candidates]
    if catalog.filling:  # before reading memberships: see repository/claims.py
        await claims.claim(session, tenant_id, catalog.fill_order, pids)
    events = await profile_repo.events_of(session, tenant_id, pids, catalog.event_types)
    open_rows = await membership_repo.open_of(session, tenant_id, pids)
    return [
        Pending(
            c.traits,
            events.get(c.profile_id, ()),
            frozenset(open_rows.get(c.profile_id, ())),
            _claimed(catalog, c.segments),
        )
        for c in candidates
    ]


def _claimed(catalog: TenantCatalog, segments: frozenset[str] | None) -> frozenset[str] | None:
    """The segments to evaluate: those asked for and every segment being filled (the
    evaluation claimed the profile for them, so the fill leaves it to this decision)."""
    if segments is None or not catalog.filling:
        return segments
    return segments | catalog.filling


async def _apply(
    session: AsyncSession,
    tenant_id: str,
    catalog: TenantCatalog,
    candidates: Sequence[Candidate],
    asked: Sequence[frozenset[str] | None],
    outcomes: Sequence[Outcome],
    now: datetime,
    trigger: str,
) -> None:
    found = [
        Change(sid, c.profile_id, enter, c.reason)
        for c, o in zip(candidates, outcomes, strict=True)
        for enter, ids in ((True, o.entered), (False, o.exited))
        for sid in ids
    ]
    applied = await changes.apply(session, out.told(tenant_id, now), found)
    out.count(applied, trigger)
    metrics.EVALUATIONS.labels(trigger).inc(_evaluated(catalog, asked))
    moments = {
        c.profile_id: o.next_change_at
        for c, o in zip(candidates, outcomes, strict=True)
        if o.next_change_at != c.old_next
    }
    await profile_repo.set_next_change(session, tenant_id, moments)


def _evaluated(catalog: TenantCatalog, asked: Sequence[frozenset[str] | None]) -> int:
    # An estimate for the counter: every segment asked for, dependents left out.
    return sum(len(catalog.order) if a is None else len(a) for a in asked)
