"""Identity resolution against the database: create, attach or merge.

The domain planner decides; this module makes the decision safe under
concurrency. Owners are looked up, then locked (``FOR UPDATE``, in id order),
then re-checked (an identifier may have moved between the two). New records and
identifier claims are decided in memory and written once per batch by
:func:`write_identity`: profiles in one ``INSERT``, identifiers in one
``INSERT ... ON CONFLICT DO NOTHING`` in (kind, value) order. When two consumers
race to create the same person the unique key picks one winner; the loser, which
PostgreSQL made wait for the winner's commit, sees a claim it did not get and
raises :class:`ClaimLostError`: :func:`crm_profile.handlers.process.apply_events`
rolls the batch back to its savepoint and applies it again, and that attempt
attaches to (or merges with) the winner's record.

The pseudo-identifier ``crm:<profile id>`` (in ``identity.external_ids``, used
by events the API writes) names a profile directly and is never stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
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


class ClaimLostError(ResolutionRaceError):
    """An identifier this batch claimed was committed by another consumer meanwhile:
    the batch's decisions are stale and it is applied again from its savepoint."""


class UnresolvableIdentityError(PoisonError):
    """The planner found no record to use and nothing to create one with (a bug:
    retrying cannot help, so the event is dead-lettered with the identifiers)."""


def event_identifiers(event: object) -> tuple[list[Identifier], str | None]:
    """Stored identifiers of an event, and the profile id it names directly, if any."""
    found = identifiers_of_event(event)
    direct = [i for i in found if i.platform == CRM_PLATFORM]
    stored = [i for i in found if i.platform != CRM_PLATFORM]
    return stored, (direct[0].value.partition(":")[2] if direct else None)


def identifiers_in(batch: TenantBatch, event: object) -> tuple[list[Identifier], str | None]:
    """:func:`event_identifiers`, computed once per event of the batch (the prefetch
    and the event's effect both need them)."""
    found = batch.identifiers.get(id(event))
    if found is None:
        found = batch.identifiers[id(event)] = event_identifiers(event)
    return found


def direct_identity(profile_id: str) -> Identity:
    """The identity of an event about a known profile (API writes)."""
    return Identity(external_ids={CRM_PLATFORM: profile_id})


async def resolve(batch: TenantBatch, event: object, occurred_at: datetime) -> Profile | None:
    """The profile of an event's person, created, attached or merged as needed.

    None when the event names nobody (no identifier, no direct profile id).
    """
    ids, direct = identifiers_in(batch, event)
    if not ids and direct is None:
        return None
    profile = await _resolve_once(batch, ids, direct, occurred_at)
    if profile is not None:
        profile.seen_at(occurred_at)
    return profile


async def owners(batch: TenantBatch, event: object) -> list[Profile]:
    """Profiles that own a strong identifier of the event (or are named directly).

    Used by erasure and deletion, which must never create or merge records.
    """
    ids, direct = identifiers_in(batch, event)
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
        return _create(batch, to_add, occurred_at)
    assert plan.profile_id is not None
    survivor = batch.profiles[plan.profile_id]
    if plan.merged_ids:
        await merge(batch, survivor, [batch.profiles[m] for m in plan.merged_ids])
    _claim(batch, survivor, to_add)
    return survivor


async def prefetch_owners(
    batch: TenantBatch, ids: Sequence[Identifier], named: Collection[str]
) -> None:
    """Look up and lock the owners of every identifier of a batch, and the profiles
    it names, at once (sorted, like every lock); remember the unowned identifiers."""
    unique = list(dict.fromkeys(ids))
    for _ in range(_ATTEMPTS):
        unknown = [i for i in unique if i not in batch.owner and i not in batch.unowned]
        seen = await records.owners_of(batch.session, batch.tenant_id, unknown)
        batch.unowned.update(i for i in unknown if i not in seen)
        await batch.lock(set(seen.values()) | set(named))
        named = ()
        moved = [i for i, pid in seen.items() if batch.owner.get(i) != pid]
        if not moved:
            return
        batch.unowned.difference_update(moved)  # ask again: they changed hands
    raise ResolutionRaceError("identifier owners kept moving")


async def _owners(batch: TenantBatch, ids: Sequence[Identifier]) -> dict[str, Profile]:
    """Locked live owners of ``ids``, consistent with the identifiers as locked."""
    for _ in range(_ATTEMPTS):
        unknown = [i for i in ids if i not in batch.owner and i not in batch.unowned]
        seen = await records.owners_of(batch.session, batch.tenant_id, unknown)
        batch.unowned.update(i for i in unknown if i not in seen)
        await batch.lock(set(seen.values()))
        if all(batch.owner.get(i) == pid for i, pid in seen.items()):
            pids = {batch.owner[i] for i in ids if i in batch.owner}
            return {pid: batch.profiles[pid] for pid in pids}
    raise ResolutionRaceError("identifier owners kept moving")


def _create(batch: TenantBatch, ids: list[Identifier], at: datetime) -> Profile:
    pid = str(uuid.uuid4())
    profile = Profile(
        profile_id=pid,
        created_at=at,
        version=0,
        stored_attributes={},
        permissions=Permissions(),
        identifiers=set(),
        traits={},
        changed=True,
        touched=True,
        new=True,
        parsed_attributes=Attributes(),
    )
    batch.profiles[pid] = profile
    _claim(batch, profile, ids)
    metrics.CREATED.inc()
    return profile


def _claim(batch: TenantBatch, profile: Profile, ids: list[Identifier]) -> None:
    """Give ``ids`` (owned by nobody, as far as this batch knows) to ``profile``;
    written by :func:`write_identity`, which finds out whether that still holds."""
    if not ids:
        return
    for ident in ids:
        batch.claims[ident] = profile.profile_id
        batch.owner[ident] = profile.profile_id
        batch.unowned.discard(ident)
    profile.identifiers.update(ids)
    profile.changed = True


async def write_identity(batch: TenantBatch) -> None:
    """Insert the batch's new profiles and claimed identifiers, one statement each.

    Raises :class:`ClaimLostError` when another consumer committed one of the
    claimed identifiers first (the unique key made this insert wait for it).
    """
    await records.insert_profiles(batch.session, batch.tenant_id, _all_new(batch))
    wanted: dict[Identifier, str] = {}
    for ident, pid in batch.claims.items():
        owner = batch.live(pid)
        held = batch.profiles.get(owner or "")
        if held is not None and ident in held.identifiers:  # not erased since
            wanted[ident] = held.profile_id
    got = await records.claim_identifiers(batch.session, batch.tenant_id, wanted)
    if len(got) != len(wanted):
        metrics.RACES.inc()
        raise ClaimLostError("an identifier claimed by this batch was taken meanwhile")
    batch.claims.clear()


def _all_new(batch: TenantBatch) -> list[tuple[str, datetime, str | None]]:
    """(id, created_at, merged_into) of every record created in this batch, aliases too."""
    out: list[tuple[str, datetime, str | None]]
    out = [(p.profile_id, p.created_at, None) for p in batch.profiles.values() if p.new]
    out += [(pid, at, batch.live(pid)) for pid, at in batch.created_aliases.items()]
    return out


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
        if other.new:  # never written: its row is inserted as an alias at the end
            batch.created_aliases[other.profile_id] = other.created_at
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
    Should another consumer commit one of those identifiers first (a checkout
    creating its anonymous record), :func:`write_identity` finds out and the batch
    is applied again, folding that record in too.
    """
    ids, _ = identifiers_in(batch, event)
    survivor = await _join_anonymous(batch, holder, ids)
    _claim(batch, survivor, [i for i in ids if i not in batch.owner and _fits(survivor, i)])
    return survivor


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
