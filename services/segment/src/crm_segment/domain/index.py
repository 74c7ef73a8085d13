"""What a definition looks at, to route profile changes and events to segments."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from crm_segment.domain.definition import (
    AllOf,
    AnyOf,
    Condition,
    ConsentCondition,
    Definition,
    EventCondition,
    FStageCondition,
    NotOf,
    RfmCondition,
    SegmentCondition,
    TimeCondition,
    TraitCondition,
)
from crm_segment.domain.evaluate import root_of
from crm_segment.domain.expand import expand


@dataclass(frozen=True, slots=True)
class Refs:
    """Trait paths, event types and segment ids a definition reads.

    ``time_dependent`` is true when the result can change as time passes alone
    (relative time conditions or ``last`` event windows): such segments need
    the sweep and a ``next_change_at`` per profile.
    """

    fields: frozenset[str]
    event_types: frozenset[str]
    segment_ids: frozenset[str]
    time_dependent: bool

    def affected_by_fields(self, changed: Iterable[str]) -> bool:
        """Whether changing any of these trait keys or paths can change the result.

        A path and a key overlap when one is a dotted prefix of the other
        (``properties`` vs ``properties.vip``).
        """
        return any(_overlap(path, key) for key in changed for path in self.fields)

    def affected_by_event(self, event_type: str) -> bool:
        """Whether storing an event of this type can change the result."""
        return event_type in self.event_types


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(f"{b}.") or b.startswith(f"{a}.")


def references(definition: Definition | Condition) -> Refs:
    """Collect the references of every condition in a definition."""
    leaves = list(_leaves(root_of(definition)))
    fields = {c.trait for c in leaves if isinstance(c, TraitCondition)}
    fields |= {c.time for c in leaves if isinstance(c, TimeCondition)}
    events = [c for c in leaves if isinstance(c, EventCondition)]
    return Refs(
        fields=frozenset(fields),
        event_types=frozenset(c.event for c in events),
        segment_ids=frozenset(c.segment for c in leaves if isinstance(c, SegmentCondition)),
        time_dependent=any(_moves_with_time(c) for c in leaves),
    )


def _leaves(condition: Condition) -> Iterator[Condition]:
    match condition:
        case AllOf():
            for child in condition.all:
                yield from _leaves(child)
        case AnyOf():
            for child in condition.any:
                yield from _leaves(child)
        case NotOf():
            yield from _leaves(condition.not_)
        case RfmCondition() | FStageCondition() | ConsentCondition():
            yield from _leaves(expand(condition))
        case _:
            yield condition


def _moves_with_time(condition: Condition) -> bool:
    if isinstance(condition, TimeCondition):
        return condition.between is None
    if isinstance(condition, EventCondition):
        return condition.window is not None and condition.window.last is not None
    return False
