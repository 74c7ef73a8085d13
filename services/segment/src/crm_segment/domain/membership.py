"""Profiles against a tenant's live segments, a batch at a time: who enters, who leaves,
when to look again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_segment.domain.catalog import TenantCatalog
from crm_segment.domain.compiled import Batch, Mask, mask_at, mask_of, positions
from crm_segment.domain.evaluate import EventView

INELIGIBLE_FLAGS = ("deleted", "redacted")
"""Snapshot flags (JSON ``true``) that keep a profile out of every segment."""


def eligible(traits: Mapping[str, Any]) -> bool:
    """Deleted or redacted profiles belong to no segment (mirrored in the SQL fill)."""
    return traits.get("deleted") is not True and traits.get("redacted") is not True


@dataclass(frozen=True, slots=True)
class Pending:
    """One profile to evaluate: its data, its current segments, and which segments
    (None: every live one; the catalog adds their dependents and orders them)."""

    traits: Mapping[str, Any]
    events: Sequence[EventView]
    current: frozenset[str]
    segments: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    entered: tuple[str, ...]
    exited: tuple[str, ...]
    # The first moment a relative condition of any live segment flips for this
    # profile (TenantCatalog.next_changes): no membership moves by time before it.
    next_change_at: datetime | None


def evaluate_batch(
    catalog: TenantCatalog, profiles: Sequence[Pending], now: datetime
) -> list[Outcome]:
    """Evaluate each profile against its segments (and their dependents) at ``now``.

    The whole batch goes through each segment's compiled plan at once, in catalog
    order, so a segment referencing another sees the decision made before it in
    this same pass. ``events`` must hold every type the catalog reads.
    """
    batch = Batch([p.traits for p in profiles], [p.events for p in profiles], now)
    wanted = _groups(catalog, [p.segments for p in profiles], batch.size)
    return _decide(catalog, batch, [p.current for p in profiles], wanted)


@dataclass(frozen=True, slots=True)
class Moved:
    """Due profiles and, for each, the segments time may have moved (with dependents)."""

    batch: Batch
    segments: list[frozenset[str]]
    needed: frozenset[str]  # those segments and every segment they read: memberships to load


def moved_segments(
    catalog: TenantCatalog,
    traits: Sequence[Mapping[str, Any]],
    events: Sequence[Sequence[EventView]],
    since: Sequence[datetime],
    now: datetime,
    also: frozenset[str] = frozenset(),
) -> Moved:
    """Profiles whose next change (``since``) has come: only the segments whose own
    relative conditions flipped in ``[since, now]``, and their dependents, can have
    moved; ``also`` are evaluated for every profile whatever moved."""
    batch = Batch(traits, events, now)
    found = [frozenset(catalog.closure(moved | also)) for moved in catalog.moved(batch, since)]
    needed = set().union(*found) if found else set()
    for segment_id in list(needed):
        needed |= catalog.segments[segment_id].refs.segment_ids
    return Moved(batch, found, frozenset(needed))


def sweep_batch(
    catalog: TenantCatalog, moved: Moved, current: Sequence[frozenset[str]]
) -> list[Outcome]:
    """Evaluate the moved segments of each due profile (``current``: its memberships
    among ``moved.needed``) and find each profile's next moment again."""
    wanted = _groups(catalog, moved.segments, moved.batch.size)
    return _decide(catalog, moved.batch, current, wanted)


def _groups(
    catalog: TenantCatalog, segments: Sequence[frozenset[str] | None], size: int
) -> dict[str, Mask]:
    """Segment id -> mask of the profiles to evaluate it for (profiles asking for the
    same segments share one closure)."""
    by_set: dict[frozenset[str] | None, list[int]] = {}
    for index, wanted in enumerate(segments):
        by_set.setdefault(wanted, []).append(index)
    found: dict[str, Mask] = {}
    for wanted, indexes in by_set.items():
        ids = catalog.order if wanted is None else catalog.closure(wanted)
        group = mask_at(indexes, size)
        for segment_id in ids:
            found[segment_id] = found.get(segment_id, 0) | group
    return found


def _decide(
    catalog: TenantCatalog,
    batch: Batch,
    current: Sequence[frozenset[str]],
    wanted: Mapping[str, Mask],
) -> list[Outcome]:
    members = _members(current, batch.size)
    eligibility = [eligible(traits) for traits in batch.traits]
    allowed = mask_of(eligibility)
    entered: list[list[str]] = [[] for _ in range(batch.size)]
    exited: list[list[str]] = [[] for _ in range(batch.size)]
    for segment_id in catalog.order:
        evaluated = wanted.get(segment_id, 0)
        if not evaluated:
            continue
        result = catalog.segments[segment_id].check(batch, members) & allowed
        old = members.get(segment_id, 0)
        new = (result & evaluated) | (old & (batch.full ^ evaluated))
        if new == old:
            continue
        members[segment_id] = new
        for index in positions(new & ~old, batch.size):
            entered[index].append(segment_id)
        for index in positions(old & ~new, batch.size):
            exited[index].append(segment_id)
    moments = catalog.next_changes(batch)
    return [
        Outcome(tuple(entered[i]), tuple(exited[i]), moments[i] if ok else None)
        for i, ok in enumerate(eligibility)
    ]


def _members(current: Sequence[frozenset[str]], size: int) -> dict[str, Mask]:
    indexes: dict[str, list[int]] = {}
    for index, segment_ids in enumerate(current):
        for segment_id in segment_ids:
            indexes.setdefault(segment_id, []).append(index)
    return {segment_id: mask_at(where, size) for segment_id, where in indexes.items()}
