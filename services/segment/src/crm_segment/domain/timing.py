"""When could a profile's membership change with no new data, only time passing?

Time moves a result only through ``older_than`` / ``within`` time conditions
(at ``ts + d``) and through events leaving a ``last d`` window (at
``occurred_at + d``). :func:`next_change_at` returns a moment no later than the
first real change: the sweep re-evaluates the profile then and asks again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crm_segment.domain.definition import (
    AllOf,
    AnyOf,
    Condition,
    Definition,
    EventCondition,
    NotOf,
    TimeCondition,
)
from crm_segment.domain.evaluate import (
    ProfileView,
    count_holds,
    event_matches,
    holds,
    in_window,
    require_aware,
    root_of,
)
from crm_segment.domain.values import as_datetime, resolve


@dataclass(frozen=True, slots=True)
class _Outlook:
    value: bool
    next: datetime | None  # None: this value holds for ever unless data changes


def next_change_at(
    definition: Definition | Condition, profile: ProfileView, now: datetime
) -> datetime | None:
    """The earliest moment after ``now`` at which the result could change, or None.

    Exact for single time conditions and event windows; for ``all``/``any`` it
    is a safe lower bound (a child whose value is pinned by stable children is
    ignored, so a dormant-but-cheap profile is not revisited needlessly).
    """
    require_aware(now)
    return _outlook(root_of(definition), profile, now).next


def outlook(
    definition: Definition | Condition, profile: ProfileView, now: datetime
) -> tuple[bool, datetime | None]:
    """``(evaluate(...), next_change_at(...))`` in one walk of the definition."""
    require_aware(now)
    found = _outlook(root_of(definition), profile, now)
    return found.value, found.next


def _outlook(condition: Condition, profile: ProfileView, now: datetime) -> _Outlook:
    match condition:
        case AllOf():
            return _combine([_outlook(c, profile, now) for c in condition.all], want=True)
        case AnyOf():
            return _combine([_outlook(c, profile, now) for c in condition.any], want=False)
        case NotOf():
            inner = _outlook(condition.not_, profile, now)
            return _Outlook(not inner.value, inner.next)
        case TimeCondition():
            return _time_outlook(condition, profile, now)
        case EventCondition() if condition.window is not None and condition.window.last:
            return _event_outlook(condition, profile, now)
    return _Outlook(holds(condition, profile, now), None)


def _combine(children: list[_Outlook], want: bool) -> _Outlook:
    """``all`` (want=True) or ``any`` (want=False) over the children's outlooks.

    If every child has the value ``want`` the node has it too and changes when the
    first child changes. Otherwise the node changes only once every child
    without ``want`` has changed, so never if one of those is stable.
    """
    blocking = [child for child in children if child.value != want]
    if not blocking:
        return _Outlook(want, _earliest(child.next for child in children))
    if any(child.next is None for child in blocking):
        return _Outlook(not want, None)
    return _Outlook(not want, max(child.next for child in blocking if child.next is not None))


LAST_INSTANT = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
"""The last boundary kept: later ones cannot be held in Python, nor written by asyncpg
(which also reads ``datetime.max`` as ``infinity``)."""


def later(moment: datetime, span: timedelta) -> datetime | None:
    """``moment + span``, or None past :data:`LAST_INSTANT`: a stored timestamp near
    the end of the calendar must not fail an evaluation (sqltiming does the same)."""
    try:
        found = moment + span
    except OverflowError:
        return None
    return found if found <= LAST_INSTANT else None


def _earliest(moments: Iterable[datetime | None]) -> datetime | None:
    found = [moment for moment in moments if moment is not None]
    return min(found) if found else None


def _time_outlook(condition: TimeCondition, profile: ProfileView, now: datetime) -> _Outlook:
    value = holds(condition, profile, now)
    duration = condition.older_than or condition.within
    instant = as_datetime(resolve(profile.traits, condition.time))
    if duration is None or instant is None:
        return _Outlook(value, None)
    boundary = later(instant, duration.as_timedelta())
    return _Outlook(value, boundary if boundary is not None and boundary > now else None)


def _event_outlook(condition: EventCondition, profile: ProfileView, now: datetime) -> _Outlook:
    assert condition.window is not None and condition.window.last is not None
    span = condition.window.last.as_timedelta()
    inside = [
        e.occurred_at
        for e in profile.events
        if event_matches(condition, e) and in_window(condition.window, e.occurred_at, now)
    ]
    count = len(inside)
    value = count_holds(condition, count)
    # An event that leaves the window past year 9999 never leaves it (as in SQL).
    leaving = Counter(m for m in (later(at, span) for at in inside) if m is not None)
    for moment in sorted(leaving):
        count -= leaving[moment]
        if count_holds(condition, count) != value:
            return _Outlook(value, moment)
    return _Outlook(value, None)
