"""crm.profiles.v1 -> read model -> per-change evaluation, one transaction per batch.

Writes are applied in arrival order (merges split the batch into runs); every
profile that changed is then evaluated once, at the end, against the segments
its changes can affect and their dependents. A ``privacy.redact_requested``
activity erases the person's stored events (:mod:`crm_segment.handlers.erasure`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.downstream import ProfileActivity, ProfileChanged, ProfileMerged
from crm_common.kafka import Message
from crm_segment.context import SegmentContext
from crm_segment.domain.catalog import TenantCatalog
from crm_segment.handlers import erasure
from crm_segment.handlers.evaluation import Candidate, evaluate_and_apply
from crm_segment.repository import claims, locks
from crm_segment.repository import memberships as membership_repo
from crm_segment.repository import profiles as profile_repo
from crm_segment.repository.profiles import StoredProfile

ProfileEvent = ProfileChanged | ProfileActivity | ProfileMerged


@dataclass
class Dirty:
    reason: str
    full: bool = False
    segments: set[str] = field(default_factory=set)


@dataclass
class TenantWork:
    session: AsyncSession
    tenant_id: str
    catalog: TenantCatalog
    now: datetime
    known: dict[str, StoredProfile] = field(default_factory=dict)
    dirty: dict[str, Dirty] = field(default_factory=dict)

    def touch(self, pid: str, reason: str, *, full: bool = False, segments: Any = ()) -> None:
        entry = self.dirty.setdefault(pid, Dirty(reason))
        entry.full = entry.full or full
        entry.segments.update(segments)


async def handle_profiles(
    ctx: SegmentContext, session: AsyncSession, messages: Sequence[Message]
) -> None:
    """The ConsumerRunner handler for crm.profiles.v1."""
    now = ctx.clock.now()
    by_tenant: dict[str, list[ProfileEvent]] = defaultdict(list)
    for message in messages:
        if isinstance(message.payload, ProfileChanged | ProfileActivity | ProfileMerged):
            by_tenant[message.payload.tenant_id].append(message.payload)
    if not by_tenant:
        return
    await locks.share_tenants(session, by_tenant)
    catalogs = await ctx.catalogs.get_many(session, list(by_tenant))
    for tenant_id, events in by_tenant.items():
        work = TenantWork(session, tenant_id, catalogs[tenant_id], now)
        for run in _runs(events):
            if isinstance(run, ProfileMerged):
                await _merge(work, run)
            else:
                await _apply_changes(work, [e for e in run if isinstance(e, ProfileChanged)])
                await _apply_activity(work, [e for e in run if isinstance(e, ProfileActivity)])
        await _evaluate(work)


def _runs(events: list[ProfileEvent]) -> Iterator[ProfileMerged | list[ProfileEvent]]:
    run: list[ProfileEvent] = []
    for event in events:
        if isinstance(event, ProfileMerged):
            if run:
                yield run
                run = []
            yield event
        else:
            run.append(event)
    if run:
        yield run


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


async def _apply_changes(work: TenantWork, changed: list[ProfileChanged]) -> None:
    latest: dict[str, Any] = {}
    for event in changed:
        snap = event.data
        if snap.profile_id not in latest or snap.version > latest[snap.profile_id].version:
            latest[snap.profile_id] = snap
    for merged in await profile_repo.survivors(work.session, work.tenant_id, latest):
        del latest[merged]  # a late snapshot of a record that no longer exists
    stored = await profile_repo.lock(work.session, work.tenant_id, latest)
    writes = []
    for pid, snap in latest.items():
        old = stored.get(pid)
        if old is not None and old.version >= snap.version:
            work.known[pid] = old
            continue
        traits = snap.traits.as_stored()  # the typed snapshot as the read model keeps it
        writes.append((pid, snap.version, traits))
        work.known[pid] = StoredProfile(
            pid, traits, snap.version, old.next_change_at if old else None, False
        )
        if old is None or old.merge_pending:
            work.touch(pid, "profile.changed", full=True)
        else:
            affected = work.catalog.by_fields(_changed_keys(old.traits, traits))
            work.touch(pid, "profile.changed", segments=affected)
    await profile_repo.save_snapshots(work.session, work.tenant_id, writes, work.now)


async def _apply_activity(work: TenantWork, activity: list[ProfileActivity]) -> None:
    if not activity:
        return
    pids = {a.data.profile_id for a in activity}
    alias = await profile_repo.survivors(work.session, work.tenant_id, pids)
    rows = [
        {
            "event_id": a.data.source_event_id,
            "profile_id": alias.get(a.data.profile_id, a.data.profile_id),
            "type": a.data.source_type,
            "occurred_at": a.data.occurred_at,
            "properties": a.data.data,
        }
        for a in activity
    ]
    await erasure.scrub_arriving(work.session, work.tenant_id, rows)
    for pid, event_type in await profile_repo.add_events(work.session, work.tenant_id, rows):
        affected = work.catalog.by_event(event_type)
        work.touch(pid, f"profile.activity:{event_type}", segments=affected)
    for request in erasure.redactions(activity):
        pid = alias.get(request.data.profile_id, request.data.profile_id)
        await erasure.erase_person(work.session, work.tenant_id, pid, request.data.occurred_at)
        work.touch(pid, "privacy.redact_requested", full=True)


async def _merge(work: TenantWork, event: ProfileMerged) -> None:
    data = event.data
    alias = await profile_repo.survivors(
        work.session, work.tenant_id, [data.survivor_id, data.merged_id]
    )
    survivor = alias.get(data.survivor_id, data.survivor_id)
    if data.merged_id in alias or data.merged_id == survivor:
        return  # applied before
    if work.catalog.filling:  # rows a fill job may be writing move: see repository/claims
        pair = [data.merged_id, survivor]
        await claims.claim(work.session, work.tenant_id, work.catalog.fill_order, pair)
    await profile_repo.record_merge(
        work.session, work.tenant_id, data.merged_id, survivor, data.merged_at
    )
    await membership_repo.move(work.session, work.tenant_id, data.merged_id, survivor, work.now)
    await profile_repo.move_profile(work.session, work.tenant_id, data.merged_id, survivor)
    await erasure.after_merge(work.session, work.tenant_id, data.merged_id, survivor)
    work.dirty.pop(data.merged_id, None)
    work.known.pop(data.merged_id, None)
    if survivor in work.known:
        work.known[survivor] = replace(work.known[survivor], merge_pending=True)


async def _evaluate(work: TenantWork) -> None:
    wanted = [pid for pid, d in work.dirty.items() if d.full or d.segments]
    missing = [pid for pid in wanted if pid not in work.known]
    work.known.update(await profile_repo.lock(work.session, work.tenant_id, missing))
    candidates = []
    for pid in wanted:
        stored, dirty = work.known.get(pid), work.dirty[pid]
        if stored is None or stored.merge_pending:
            continue  # no snapshot yet, or waiting for the merged one
        segments = None if dirty.full else frozenset(dirty.segments)
        candidates.append(
            Candidate(pid, stored.traits, segments, stored.next_change_at, dirty.reason)
        )
    await evaluate_and_apply(
        work.session, work.tenant_id, work.catalog, candidates, work.now, "change"
    )
