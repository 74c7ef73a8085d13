"""Identity resolution: which profile an incoming event belongs to.

Given the identifiers of an event and the existing profiles that own any of
them, :func:`plan_resolution` decides to create a profile, attach to one, or
merge several. The rules (Segment/Klaviyo-like, conservative about merges):

1. Owners are examined in a fixed order: by the strongest identifier through
   which they matched (external id, email, phone, checkout token, cart token,
   anonymous id), then oldest ``created_at``, then ``profile_id``.
2. A profile matched through a strong identifier joins the group unless it
   holds a *different* customer id on a platform for which the event or the
   group already has one: two platform customers are never merged; the profile
   is reported as a ``platform_id_conflict`` and keeps its identifiers. On a
   platform where the profile owns the event's own customer id it is that
   customer, whatever else it holds there (records written before ids were kept
   one per platform may hold two; they must still be found).
3. A profile matched only through weak identifiers (tokens, anonymous id)
   joins when it is anonymous (no strong identifier), or when nothing known is
   in play yet (the event and the group have no strong identifier): a token
   links an anonymous record to a known one, never two known records, and never
   a known record to an event that names someone else by email, phone or id.
   Otherwise it is reported as ``weak_link_only``.
4. Of the group, the oldest profile (``created_at``, then ``profile_id``)
   survives and the others are merged into it. Identifiers of the event that no
   profile owns yet are added to the target.

The result depends only on the sets given, never on their order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from crm_common.events import Frozen, UtcDatetime
from crm_profile.domain.errors import NoIdentifiersError
from crm_profile.domain.identity import Identifier


class ProfileRef(Frozen):
    """An existing profile as the planner needs to see it."""

    profile_id: str
    created_at: UtcDatetime
    identifiers: frozenset[Identifier]


class ConflictReason(StrEnum):
    PLATFORM_ID_CONFLICT = "platform_id_conflict"
    WEAK_LINK_ONLY = "weak_link_only"


class Conflict(Frozen):
    """A profile that shares identifiers with the event but was deliberately not merged."""

    profile_id: str
    reason: ConflictReason
    identifiers: tuple[Identifier, ...]  # the clashing ids, or the weak ids that linked


class PlanAction(StrEnum):
    CREATE = "create"
    ATTACH = "attach"
    MERGE = "merge"


class ResolutionPlan(Frozen):
    """What the persistence layer must do for one event.

    ``profile_id`` is the target (the survivor for a merge) and ``None`` for
    ``create``; ``merged_ids`` are absorbed into it, oldest first; the target
    then owns every identifier of the merged profiles plus ``identifiers_to_add``.
    """

    action: PlanAction
    profile_id: str | None = None
    merged_ids: tuple[str, ...] = ()
    identifiers_to_add: tuple[Identifier, ...] = ()
    conflicts: tuple[Conflict, ...] = ()


def plan_resolution(incoming: Iterable[Identifier], owners: Iterable[ProfileRef]) -> ResolutionPlan:
    """Decide create / attach / merge for an event; see the module docstring for rules.

    Raises :class:`NoIdentifiersError` when ``incoming`` is empty. Profiles in
    ``owners`` that own none of the incoming identifiers are ignored.
    """
    wanted = frozenset(incoming)
    if not wanted:
        raise NoIdentifiersError("the event carries no usable identifier")
    candidates = _relevant(owners, wanted)
    group, conflicts = _admit_all(candidates, wanted)
    owned = frozenset().union(*(p.identifiers for p in candidates)) & wanted
    to_add = tuple(sorted(wanted - owned, key=Identifier.sort_key))
    if not group:
        return ResolutionPlan(
            action=PlanAction.CREATE, identifiers_to_add=to_add, conflicts=conflicts
        )
    survivor, *merged = sorted(group, key=_age_key)
    return ResolutionPlan(
        action=PlanAction.MERGE if merged else PlanAction.ATTACH,
        profile_id=survivor.profile_id,
        merged_ids=tuple(p.profile_id for p in merged),
        identifiers_to_add=to_add,
        conflicts=conflicts,
    )


def _relevant(owners: Iterable[ProfileRef], wanted: frozenset[Identifier]) -> list[ProfileRef]:
    by_id = {p.profile_id: p for p in owners if p.identifiers & wanted}
    return sorted(by_id.values(), key=lambda p: (_match_rank(p, wanted), *_age_key(p)))


def _admit_all(
    candidates: list[ProfileRef], wanted: frozenset[Identifier]
) -> tuple[list[ProfileRef], tuple[Conflict, ...]]:
    known = _strong(wanted)
    group: list[ProfileRef] = []
    conflicts: list[Conflict] = []
    for profile in candidates:
        conflict = _refusal(profile, wanted, known)
        if conflict is None:
            group.append(profile)
            known |= _strong(profile.identifiers)
        else:
            conflicts.append(conflict)
    return group, tuple(conflicts)


def _refusal(
    profile: ProfileRef, wanted: frozenset[Identifier], known: frozenset[Identifier]
) -> Conflict | None:
    """Why ``profile`` may not join the group, or None when it may."""
    matched = profile.identifiers & wanted
    own_platforms = {i.platform for i in matched if i.platform is not None}
    clash = tuple(
        i for i in _platform_clash(profile.identifiers, known) if i.platform not in own_platforms
    )
    if clash:
        return Conflict(
            profile_id=profile.profile_id,
            reason=ConflictReason.PLATFORM_ID_CONFLICT,
            identifiers=clash,
        )
    if _strong(matched) or not _strong(profile.identifiers) or not known:
        return None
    return Conflict(
        profile_id=profile.profile_id,
        reason=ConflictReason.WEAK_LINK_ONLY,
        identifiers=tuple(sorted(matched, key=Identifier.sort_key)),
    )


def _platform_clash(
    mine: frozenset[Identifier], known: frozenset[Identifier]
) -> tuple[Identifier, ...]:
    """Ids of ``mine`` that contradict a different id of ``known`` on the same platform."""
    known_platforms = {k.platform for k in known if k.platform is not None}
    clashing = {ident for ident in mine if ident.platform in known_platforms and ident not in known}
    return tuple(sorted(clashing, key=Identifier.sort_key))


def _strong(identifiers: Iterable[Identifier]) -> frozenset[Identifier]:
    return frozenset(i for i in identifiers if i.is_strong)


def _match_rank(profile: ProfileRef, wanted: frozenset[Identifier]) -> int:
    return min(i.kind.priority for i in profile.identifiers & wanted)


def _age_key(profile: ProfileRef) -> tuple[datetime, str]:
    return (profile.created_at, profile.profile_id)
