"""The in-memory evaluator: does one profile match a definition at ``now``?

It must select exactly what :mod:`crm_segment.sqlcompile` selects; the
comparison rules both follow are in :mod:`crm_segment.domain.values`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_segment.domain.definition import (
    AllOf,
    AnyOf,
    Condition,
    ConsentCondition,
    CountSpec,
    Definition,
    EventCondition,
    FStageCondition,
    NotOf,
    PropertyFilter,
    RfmCondition,
    SegmentCondition,
    TimeCondition,
    TraitCondition,
    Window,
)
from crm_segment.domain.expand import expand, filter_target
from crm_segment.domain.values import (
    COMPARATORS,
    Memo,
    as_datetime,
    match_value,
    resolve,
    typed_key,
)


@dataclass(frozen=True, slots=True)
class EventView:
    """One stored event of a profile; ``properties`` is the event's data (with ``lines``)."""

    type: str
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProfileView:
    """What the evaluator may look at: traits snapshot, events, current segment ids."""

    traits: Mapping[str, Any]
    events: Sequence[EventView] = ()
    segments: frozenset[str] = frozenset()


def root_of(definition: Definition | Condition) -> Condition:
    """The top condition of a definition (or the condition itself)."""
    return definition.root if isinstance(definition, Definition) else definition


def require_aware(now: datetime) -> None:
    """Reject a naive ``now``: every stored instant is aware."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def evaluate(definition: Definition | Condition, profile: ProfileView, now: datetime) -> bool:
    """Whether ``profile`` belongs to the segment at instant ``now``."""
    require_aware(now)
    return holds(root_of(definition), profile, now)


def holds(condition: Condition, profile: ProfileView, now: datetime) -> bool:
    """Two-valued truth of one condition (missing data makes leaves false)."""
    match condition:
        case AllOf():
            return all(holds(child, profile, now) for child in condition.all)
        case AnyOf():
            return any(holds(child, profile, now) for child in condition.any)
        case NotOf():
            return not holds(condition.not_, profile, now)
        case TraitCondition():
            return comparison_holds(condition, resolve(profile.traits, condition.trait))
        case TimeCondition():
            return time_holds(condition, profile.traits, now)
        case EventCondition():
            return count_holds(condition, len(matching_events(condition, profile.events, now)))
        case RfmCondition() | FStageCondition() | ConsentCondition():
            return holds(expand(condition), profile, now)
        case SegmentCondition():
            return condition.segment in profile.segments
    raise TypeError(f"not a condition: {condition!r}")


_OPERANDS = Memo()


def comparison_holds(condition: TraitCondition | PropertyFilter, raw: object) -> bool:
    """Whether a stored value satisfies a trait condition or event filter."""
    key = (condition.op, condition.type, typed_key(condition.value))
    found = _OPERANDS.found.get(key)
    if found is None:  # operands depend on op, type and value only
        found = _OPERANDS.remember(key, condition.operands())
    kind, operands = found
    return match_value(condition.op, kind, operands, raw)


def time_holds(condition: TimeCondition, traits: Mapping[str, Any], now: datetime) -> bool:
    """older_than: ts <= now - d; within: ts > now - d; between: from <= ts < to."""
    instant = as_datetime(resolve(traits, condition.time))
    if instant is None:
        return False
    if condition.older_than is not None:
        return instant <= now - condition.older_than.as_timedelta()
    if condition.within is not None:
        return instant > now - condition.within.as_timedelta()
    assert condition.between is not None  # one of the three, by validation
    return condition.between[0] <= instant < condition.between[1]


def in_window(window: Window | None, occurred_at: datetime, now: datetime) -> bool:
    """``last d``: occurred_at > now - d; absolute: from <= occurred_at < to."""
    if window is None:
        return True
    if window.last is not None:
        return occurred_at > now - window.last.as_timedelta()
    after_start = window.from_ is None or occurred_at >= window.from_
    return after_start and (window.to is None or occurred_at < window.to)


def event_matches(condition: EventCondition, event: EventView) -> bool:
    """Type and filters, ignoring the window."""
    if event.type != condition.event:
        return False
    line_filters = [f for f in condition.where if filter_target(f.field)[0] == "line"]
    for where in condition.where:
        scope, path = filter_target(where.field)
        if scope == "event" and not comparison_holds(where, resolve(event.properties, path)):
            return False
    return not line_filters or any(_line_matches(line_filters, line) for line in _lines(event))


def matching_events(
    condition: EventCondition, events: Iterable[EventView], now: datetime
) -> list[EventView]:
    """The events that count towards an event condition at ``now``."""
    return [
        event
        for event in events
        if event_matches(condition, event) and in_window(condition.window, event.occurred_at, now)
    ]


def count_holds(condition: EventCondition, count: int) -> bool:
    """The count test, negated for ``performed: false``."""
    return count_test(condition.count, count) == condition.performed


def count_test(spec: CountSpec, count: int) -> bool:
    return COMPARATORS[spec.op](count, spec.value)


def _lines(event: EventView) -> list[Any]:
    lines = event.properties.get("lines")
    return lines if isinstance(lines, list) else []


def _line_matches(filters: Sequence[PropertyFilter], line: object) -> bool:
    # A line that is not an object has no fields: each filter sees a missing value.
    fields: Mapping[str, Any] = line if isinstance(line, Mapping) else {}
    return all(comparison_holds(f, resolve(fields, filter_target(f.field)[1])) for f in filters)
