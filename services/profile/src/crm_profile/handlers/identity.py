"""Identity resolution against the database: create, attach or merge.

The domain planner decides; this module makes the decision safe under
concurrency. Owners are looked up, then locked (``FOR UPDATE``, in id order),
then re-checked (an identifier may have moved between the two); identifiers are
claimed with ``INSERT ... ON CONFLICT DO NOTHING``, so when two consumers race
to create the same person the unique key picks one winner and the loser, which
PostgreSQL made wait for the winner's commit, re-resolves and attaches to (or
merges with) the winner's record.

The pseudo-identifier ``crm:<profile id>`` (in ``identity.external_ids``, used
by events the API writes) names a profile directly and is never stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from crm_common.events import Identity, stable_event_id
from crm_common.events.downstream import ProfileMerged, ProfileMergedData
from crm_common.kafka import PoisonError, TransientError
from crm_profile import metrics
from crm_profile.domain import (
    Attributes,
    Identifier,
    IdentifierKind,
    Permissions,
    PlanAction,
    identifiers_of_event,
    merge_attributes,
    merge_permissions,
    plan_resolution,
)
from crm_profile.handlers.batch import Profile, TenantBatch
from crm_profile.repository import rank_history, records

CRM_PLATFORM = "crm"
_ATTEMPTS = 8


class ResolutionRaceError(TransientError):
    """Identifiers kept changing hands: other consumers are committing claims on
    them right now. Transient: the runner retries the batch after a pause, and the
    next attempt re-plans from what those commits left."""


class UnresolvableIdentityError(PoisonError):
    """The planner found no record to use and nothing to create one with (a bug:
    retrying cannot help, so the event is dead-lettered with the identifiers)."""


def event_identifiers(event: object) -> tuple[list[Identifier], str | None]:
    """Stored identifiers of an event, and the profile id it names directly, if any."""
    found = identifiers_of_event(event)
    direct = [i for i in found if i.platform == CRM_PLATFORM]
    stored = [i for i in found if i.platform != CRM_PLATFORM]
    return stored, (direct[0].value.partition(":")[2] if direct else None)


def direct_identity(profile_id: str) -> Identity:
    """The identity of an event about a known profile (API writes)."""
    return Identity(external_ids={CRM_PLATFORM: profile_id})


async def resolve(batch: TenantBatch, event: object, occurred_at: datetime) -> Profile | None:
    """The profile of an event's person, created, attached or merged as needed.

    None when the event names nobody (no identifier, no direct profile id).
    """
    ids, direct = event_identifiers(event)
    if not ids and direct is None:
        return None
    for _ in range(_ATTEMPTS):
        profile = await _resolve_once(batch, ids, direct, occurred_at)
        if profile is not None:
            profile.seen_at(occurred_at)
            return profile
    raise ResolutionRaceError("identifiers kept moving while resolving")


async def owners(batch: TenantBatch, event: object) -> list[Profile]:
    """Profiles that own a strong identifier of the event (or are named directly).

    Used by erasure and deletion, which must never create or merge records.
    """
    ids, direct = event_identifiers(event)
    strong = [i for i in ids if i.is_strong]
    found = await _owners(batch, strong)
    target = await batch.by_id(direct) if direct else None
    if target is not None:
        found[target.profile_id] = target
    return [found[k] for k in sorted(found)]


async def _resolve_once(
    batch: TenantBatch, ids: list[Identifier], direct: str | None, occurred_at: datetime
) -> Profile | None:
    found = await _owners(batch, ids)
    wanted = set(ids)
    refs = [p.ref() for p in found.values()]
    target = await batch.by_id(direct) if direct else None
    if target is not None:
        marker = Identifier(kind=IdentifierKind.EXTERNAL_ID, value=f"{CRM_PLATFORM}:{direct}")
        wanted.add(marker)
        refs = [r for r in refs if r.profile_id != target.profile_id]
        refs.append(target.ref(frozenset({marker})))
    if not wanted:
        return None
    plan = plan_resolution(wanted, refs)
    to_add = [i for i in plan.identifiers_to_add if i.platform != CRM_PLATFORM]
    if plan.action is PlanAction.CREATE:
        if not to_add:
            kinds = sorted(i.kind.value for i in wanted)
            raise UnresolvableIdentityError(f"every owner refused and nothing new: {kinds}")
        return await _create(batch, to_add, occurred_at)
    assert plan.profile_id is not None
    survivor = batch.profiles[plan.profile_id]
    if plan.merged_ids:
        await merge(batch, survivor, [batch.profiles[m] for m in plan.merged_ids])
    return survivor if await _claim(batch, survivor, to_add) else None


async def _owners(batch: TenantBatch, ids: Sequence[Identifier]) -> dict[str, Profile]:
    """Locked live owners of ``ids``, consistent with the identifiers as locked."""
    for _ in range(_ATTEMPTS):
        unknown = [i for i in ids if i not in batch.owner]
        seen = await records.owners_of(batch.session, batch.tenant_id, unknown)
        await batch.lock(set(seen.values()))
        if all(batch.owner.get(i) == pid for i, pid in seen.items()):
            pids = {batch.owner[i] for i in ids if i in batch.owner}
            return {pid: batch.profiles[pid] for pid in pids}
    raise ResolutionRaceError("identifier owners kept moving")


async def _create(batch: TenantBatch, ids: list[Identifier], at: datetime) -> Profile | None:
    pid = str(uuid.uuid4())
    await records.insert_profile(batch.session, batch.tenant_id, pid, at)
    got = await records.claim_identifiers(batch.session, batch.tenant_id, pid, ids)
    if got != set(ids):
        # Another consumer took an identifier meanwhile: undo, then re-resolve.
        await records.delete_profile(batch.session, batch.tenant_id, pid)
        metrics.RACES.inc()
        return None
    profile = Profile(
        profile_id=pid,
        created_at=at,
        version=0,
        attributes=Attributes(),
        permissions=Permissions(),
        identifiers=set(ids),
        traits={},
        changed=True,
        touched=True,
    )
    batch.profiles[pid] = profile
    batch.owner.update({i: pid for i in ids})
    metrics.CREATED.inc()
    return profile


async def _claim(batch: TenantBatch, profile: Profile, ids: list[Identifier]) -> bool:
    if not ids:
        return True
    got = await records.claim_identifiers(batch.session, batch.tenant_id, profile.profile_id, ids)
    profile.identifiers |= got
    batch.owner.update({i: profile.profile_id for i in got})
    if got:
        profile.changed = True
    if got != set(ids):
        metrics.RACES.inc()
        return False
    return True


async def merge(batch: TenantBatch, survivor: Profile, merged: list[Profile]) -> None:
    """Fold ``merged`` into ``survivor``: facts, identifiers, timeline and aliases move."""
    ids = [m.profile_id for m in merged]
    await records.merge_into(batch.session, batch.tenant_id, survivor.profile_id, ids)
    await rank_history.drop(batch.session, batch.tenant_id, ids)  # the survivor's history wins
    for other in merged:
        survivor.attributes = merge_attributes(survivor.attributes, other.attributes)
        survivor.permissions = merge_permissions(survivor.permissions, other.permissions)
        survivor.identifiers |= other.identifiers
        survivor.created_at = min(survivor.created_at, other.created_at)
        survivor.deleted_at = _earliest(survivor.deleted_at, other.deleted_at)
        survivor.redacted_at = _earliest(survivor.redacted_at, other.redacted_at)
        batch.outgoing.append(_merged_event(batch, survivor.profile_id, other.profile_id))
        del batch.profiles[other.profile_id]
        batch.alias[other.profile_id] = survivor.profile_id
        for ident in other.identifiers:
            batch.owner[ident] = survivor.profile_id
    survivor.changed = survivor.touched = True
    metrics.MERGES.inc(len(merged))


def _merged_event(batch: TenantBatch, survivor: str, merged: str) -> ProfileMerged:
    return ProfileMerged(
        event_id=stable_event_id("profile.merged", batch.tenant_id, merged, survivor),
        tenant_id=batch.tenant_id,
        source="profile",
        occurred_at=batch.now,
        received_at=batch.now,
        data=ProfileMergedData(survivor_id=survivor, merged_id=merged, merged_at=batch.now),
    )


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    known = [t for t in (a, b) if t is not None]
    return min(known) if known else None


async def attach_to_holder(batch: TenantBatch, holder: Profile, event: object) -> Profile:
    """The profile of an event whose entity (an order, a contract) ``holder`` already has.

    That profile is the person, whatever else the event carries: it never merges
    with another known record here. Anonymous records the event reaches through a
    token (a checkout started before the buyer was known) are the same person's
    and are folded in, oldest surviving, exactly as :func:`resolve` would have
    done had this event arrived first; identifiers nobody owns yet are
    attached (never a second customer id on a platform the survivor has one for).
    Returns the survivor (the holder, or an older anonymous record it joined).
    """
    ids, _ = event_identifiers(event)
    for _ in range(_ATTEMPTS):
        survivor = await _join_anonymous(batch, holder, ids)
        unowned = [i for i in ids if i not in batch.owner and _fits(survivor, i)]
        if await _claim(batch, survivor, unowned):
            return survivor
        # Another consumer claimed one of them meanwhile (a checkout creating its
        # anonymous record): look again, and fold that record in too.
        holder = survivor
    raise ResolutionRaceError("identifiers kept moving while attaching to the holder")


async def _join_anonymous(batch: TenantBatch, holder: Profile, ids: list[Identifier]) -> Profile:
    """``holder`` with the anonymous owners of ``ids`` folded in (the oldest survives)."""
    found = await _owners(batch, ids)
    anonymous = [
        p
        for pid, p in found.items()
        if pid != holder.profile_id and not any(i.is_strong for i in p.identifiers)
    ]
    if not anonymous:
        return holder
    survivor, *rest = sorted([holder, *anonymous], key=lambda p: (p.created_at, p.profile_id))
    await merge(batch, survivor, rest)
    return survivor


def _fits(profile: Profile, ident: Identifier) -> bool:
    """False for a second customer id on a platform the profile already has one for.

    A profile names one customer per platform (the planner relies on it): an order
    moved to another platform customer does not make its holder that customer too.
    """
    if ident.platform is None:
        return True
    return not any(i.platform == ident.platform and i != ident for i in profile.identifiers)
