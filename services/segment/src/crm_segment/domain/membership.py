"""One profile against a tenant's live segments: who enters, who leaves, when to look again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_segment.domain.catalog import TenantCatalog
from crm_segment.domain.evaluate import EventView, ProfileView, evaluate
from crm_segment.domain.timing import outlook

INELIGIBLE_FLAGS = ("deleted", "redacted")
"""Snapshot flags (JSON ``true``) that keep a profile out of every segment."""


def eligible(traits: Mapping[str, Any]) -> bool:
    """Deleted or redacted profiles belong to no segment (mirrored in the SQL fill)."""
    return all(traits.get(flag) is not True for flag in INELIGIBLE_FLAGS)


@dataclass(frozen=True, slots=True)
class Outcome:
    entered: tuple[str, ...]
    exited: tuple[str, ...]
    members: frozenset[str]
    next_change_at: datetime | None  # earliest over the evaluated time-dependent segments


def evaluate_profile(
    catalog: TenantCatalog,
    segment_ids: Sequence[str],
    traits: Mapping[str, Any],
    events: Sequence[EventView],
    current: frozenset[str],
    now: datetime,
) -> Outcome:
    """Evaluate ``segment_ids`` (in catalog order) for one profile at ``now``.

    A segment sees the memberships decided before it in this same pass, so a
    segment referencing another follows it at once.
    """
    members = set(current)
    entered: list[str] = []
    exited: list[str] = []
    moments: list[datetime] = []
    allowed = eligible(traits)
    view = ProfileView(traits, events, frozenset(members))
    for segment_id in segment_ids:
        live = catalog.segments[segment_id]
        value, moment = False, None
        if allowed and live.time_dependent:
            value, moment = outlook(live.definition, view, now)
        elif allowed:
            value = evaluate(live.definition, view, now)
        if moment is not None:
            moments.append(moment)
        if value == (segment_id in members):
            continue
        (entered if value else exited).append(segment_id)
        (members.add if value else members.discard)(segment_id)
        view = ProfileView(traits, events, frozenset(members))
    return Outcome(tuple(entered), tuple(exited), frozenset(members), min(moments, default=None))


def earliest(*moments: datetime | None) -> datetime | None:
    """The earliest of the known moments (None when none is known)."""
    known = [m for m in moments if m is not None]
    return min(known) if known else None
