"""Definitions compiled once into vectorised plans: the hot path of evaluation.

:func:`crm_segment.domain.evaluate.evaluate` walks a definition's pydantic tree for
one profile: a ``match`` per node, operands re-derived and shorthands re-expanded
through memo lookups. With 200 live segments that was 5 ms per profile. A catalog
instead compiles each live definition once, when it is built
(:func:`crm_segment.domain.catalog.build_catalog`), into a :data:`Check` over a
:class:`Batch`: many profiles at one instant, evaluated leaf by leaf.

A result is a *mask*: a Python int holding one byte per profile of the batch
(``1`` for true, ``0`` for false), so ``all``/``any``/``not`` are one ``&``, ``|``
or ``^`` over the whole batch, and a leaf is one list comprehension over a column
(``bytes([...])`` packs it). The batch memoises each column (a trait path read as
one value kind, every profile's value parsed once), each leaf's mask (identical
leaves of different definitions share one closure and one memo slot) and each
event matcher's accepted events per profile.

Operands are converted, shorthands expanded and comparators chosen at compile
time. :class:`Source` is the clock of one relative condition: the moments at
which time alone can flip it. The property tests
(``tests/unit/test_segment_compiled.py``) hold every mask to ``evaluate`` and the
sources to :func:`crm_segment.domain.timing.outlook`, over random definitions and
batches of messy profiles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crm_segment.domain.definition import (
    AllOf,
    AnyOf,
    Condition,
    ConsentCondition,
    Definition,
    EventCondition,
    FStageCondition,
    NotOf,
    PropertyFilter,
    RfmCondition,
    SegmentCondition,
    TimeCondition,
    TraitCondition,
)
from crm_segment.domain.evaluate import EventView, ProfileView, require_aware, root_of
from crm_segment.domain.expand import expand, filter_target
from crm_segment.domain.timing import later
from crm_segment.domain.values import COMPARATORS, Comparable, ValueKind, coerce, resolve

Mask = int
"""One byte per profile of a batch, 1 or 0 (byte i is profile i)."""


def mask_of(bits: Sequence[bool]) -> Mask:
    """The mask of a list of truth values."""
    return int.from_bytes(bytes(bits), "little")


def positions(mask: Mask, size: int) -> list[int]:
    """The indexes whose byte is set."""
    if not mask:
        return []
    packed = mask.to_bytes(size, "little")
    found = []
    index = packed.find(1)
    while index != -1:
        found.append(index)
        index = packed.find(1, index + 1)
    return found


def mask_at(indexes: Iterable[int], size: int) -> Mask:
    """The mask with these indexes set."""
    bits = bytearray(size)
    for index in indexes:
        bits[index] = 1
    return int.from_bytes(bits, "little")


class Batch:
    """Profiles evaluated together at ``now``: ``traits`` and ``events`` per profile."""

    __slots__ = ("_columns", "_matched", "events", "full", "masks", "now", "size", "traits")

    def __init__(
        self,
        traits: Sequence[Mapping[str, Any]],
        events: Sequence[Sequence[EventView]],
        now: datetime,
    ) -> None:
        require_aware(now)
        self.traits = traits
        self.events = events
        self.now = now
        self.size = len(traits)
        self.full: Mask = mask_of([True] * self.size)
        self.masks: dict[int, Mask] = {}
        self._columns: dict[tuple[str, ValueKind | None], list[Any]] = {}
        self._matched: dict[int, list[list[datetime]]] = {}

    def raw(self, path: str) -> list[Any]:
        """Every profile's stored value at ``path`` (None when missing), as ``resolve``."""
        key = (path, None)
        found = self._columns.get(key)
        if found is None:
            found = self._columns[key] = [resolve(t, path) for t in self.traits]
        return found

    def values(self, path: str, kind: ValueKind) -> list[Any]:
        """Every profile's value at ``path`` as a value of ``kind``, or None."""
        key = (path, kind)
        found = self._columns.get(key)
        if found is None:
            found = self._columns[key] = [coerce(raw, kind) for raw in self.raw(path)]
        return found

    def matched(self, slot: int, matches: Callable[[EventView], bool]) -> list[list[datetime]]:
        """Per profile, ``occurred_at`` of the events a matcher accepts."""
        found = self._matched.get(slot)
        if found is None:
            found = self._matched[slot] = [
                [e.occurred_at for e in events if matches(e)] for events in self.events
            ]
        return found


Members = Mapping[str, Mask]
"""Segment id -> the mask of the batch's profiles in it (as decided so far)."""
Check = Callable[[Batch, Members], Mask]


@dataclass(frozen=True, slots=True)
class Source:
    """A relative condition's clock: ``older_than``/``within`` on a trait path (``path``),
    or a ``last`` window over the events one matcher accepts (``event``, ``slot``).

    Its edges for a profile are the moments it flips: ``ts + span``, or
    ``occurred_at + span`` of each accepted event (none past year 9999). Between two
    consecutive edges of all its sources a definition's value cannot change unless
    its data or a segment it references does.
    """

    span: timedelta
    path: str | None = None
    event: str | None = None
    slot: int = 0
    matches: Callable[[EventView], bool] | None = field(default=None, compare=False)

    def edges(self, batch: Batch) -> Iterator[tuple[int, datetime]]:
        """``(profile index, moment)`` of every edge in the batch."""
        if self.path is not None:
            for index, instant in enumerate(batch.values(self.path, ValueKind.DATETIME)):
                if instant is not None:
                    moment = later(instant, self.span)
                    if moment is not None:
                        yield index, moment
            return
        assert self.matches is not None
        for index, moments in enumerate(batch.matched(self.slot, self.matches)):
            for at in moments:
                moment = later(at, self.span)
                if moment is not None:
                    yield index, moment


@dataclass(frozen=True, slots=True)
class Compiled:
    """One definition, compiled: its value over a batch, and the clocks of its own
    relative conditions (none for a definition that time alone cannot move)."""

    check: Check
    sources: frozenset[Source]


class Compiler:
    """Compiles definitions, sharing closures (and their memo slots) between identical
    leaves and event matchers of different definitions."""

    def __init__(self) -> None:
        self._checks: dict[Any, Check] = {}
        self._matchers: dict[Any, tuple[int, Callable[[EventView], bool]]] = {}
        self._slots = 0

    def compile(self, definition: Definition | Condition) -> Compiled:
        root = root_of(definition)
        return Compiled(self.check(root), frozenset(self._source(c) for c in _relative(root)))

    def check(self, condition: Condition) -> Check:
        match condition:
            case AllOf():
                return _all([self.check(c) for c in condition.all])
            case AnyOf():
                return _any([self.check(c) for c in condition.any])
            case NotOf():
                inner = self.check(condition.not_)
                return lambda batch, members: batch.full ^ inner(batch, members)
            case RfmCondition() | FStageCondition() | ConsentCondition():
                return self.check(expand(condition))
            case SegmentCondition():
                segment_id = condition.segment
                return lambda batch, members: members.get(segment_id, 0)
        return self._leaf(condition)

    def _leaf(self, condition: Condition) -> Check:
        # Keyed by the JSON form: pydantic equality holds 1 == 1.0 == True, kinds apart.
        key = (type(condition), condition.model_dump_json(by_alias=True))
        found = self._checks.get(key)
        if found is None:
            found = self._checks[key] = _memo(self._next_slot(), self._bits(condition))
        return found

    def _bits(self, condition: Condition) -> Callable[[Batch], list[bool]]:
        match condition:
            case TraitCondition():
                return _trait(condition)
            case TimeCondition():
                return _time(condition)
            case EventCondition():
                return self._event(condition)
        raise TypeError(f"not a condition: {condition!r}")

    def _event(self, condition: EventCondition) -> Callable[[Batch], list[bool]]:
        slot, matches = self._matcher(condition)
        counted = _counter(condition)
        window = condition.window
        if window is None:
            return lambda b: [counted(len(m)) for m in b.matched(slot, matches)]
        if window.last is not None:
            span = window.last.as_timedelta()

            def within_last(b: Batch) -> list[bool]:
                start = b.now - span
                return [counted(sum(1 for at in m if at > start)) for m in b.matched(slot, matches)]

            return within_last
        start, end = window.from_, window.to

        def between(b: Batch) -> list[bool]:
            return [counted(_between(m, start, end)) for m in b.matched(slot, matches)]

        return between

    def _matcher(self, condition: EventCondition) -> tuple[int, Callable[[EventView], bool]]:
        """One memo slot per event type and filters, whatever the count and window."""
        key = (condition.event, tuple(w.model_dump_json(by_alias=True) for w in condition.where))
        found = self._matchers.get(key)
        if found is None:
            found = self._matchers[key] = (self._next_slot(), event_matcher(condition))
        return found

    def _source(self, condition: TimeCondition | EventCondition) -> Source:
        if isinstance(condition, TimeCondition):
            duration = condition.older_than or condition.within
            assert duration is not None
            return Source(duration.as_timedelta(), path=condition.time)
        assert condition.window is not None and condition.window.last is not None
        slot, matches = self._matcher(condition)
        span = condition.window.last.as_timedelta()
        return Source(span, event=condition.event, slot=slot, matches=matches)

    def _next_slot(self) -> int:
        self._slots += 1
        return self._slots


def _memo(slot: int, bits: Callable[[Batch], list[bool]]) -> Check:
    """A leaf computed once per batch, however many definitions share it."""

    def leaf(batch: Batch, members: Members) -> Mask:
        found = batch.masks.get(slot)
        if found is None:
            found = batch.masks[slot] = mask_of(bits(batch))
        return found

    return leaf


def _all(children: list[Check]) -> Check:
    if len(children) == 1:
        return children[0]

    def all_of(batch: Batch, members: Members) -> Mask:
        found = batch.full
        for child in children:
            found &= child(batch, members)
            if not found:
                break
        return found

    return all_of


def _any(children: list[Check]) -> Check:
    if len(children) == 1:
        return children[0]

    def any_of(batch: Batch, members: Members) -> Mask:
        found = 0
        for child in children:
            found |= child(batch, members)
            if found == batch.full:
                break
        return found

    return any_of


# -- leaves ----------------------------------------------------------------------------

Column = list[Any]


def _trait(condition: TraitCondition) -> Callable[[Batch], list[bool]]:
    path, op = condition.trait, condition.op
    if op == "exists":
        return lambda b: [raw is not None for raw in b.raw(path)]
    if op == "not_exists":
        return lambda b: [raw is None for raw in b.raw(path)]
    kind, operands = condition.operands()
    if op == "contains":
        contains = _contains_test(operands[0])
        return lambda b: [contains(raw) for raw in b.raw(path)]
    test = column_test(op, operands)
    return lambda b: test(b.values(path, kind))


def column_test(op: str, operands: tuple[Comparable, ...]) -> Callable[[Column], list[bool]]:
    """A test of a column of values already of the operands' kind (None: missing)."""
    if op == "in":
        members = frozenset(operands)
        return lambda column: [value in members for value in column]
    if op == "not_in":
        excluded = frozenset(operands)
        return lambda column: [value is not None and value not in excluded for value in column]
    if op == "between":
        low: Any = operands[0]
        high: Any = operands[1]
        return lambda column: [value is not None and low <= value <= high for value in column]
    return _ORDERED[op](operands[0])


def _ordered(
    compare: Callable[[Any, Any], bool],
) -> Callable[[Any], Callable[[Column], list[bool]]]:
    def bind(right: Any) -> Callable[[Column], list[bool]]:
        return lambda column: [value is not None and compare(value, right) for value in column]

    return bind


# Inlined for the commonest operators (no call per value); the others through operator.
_ORDERED: dict[str, Callable[[Any], Callable[[Column], list[bool]]]] = {
    op: _ordered(compare) for op, compare in COMPARATORS.items()
}
_ORDERED[">="] = lambda right: lambda column: [v is not None and v >= right for v in column]
_ORDERED["<"] = lambda right: lambda column: [v is not None and v < right for v in column]
_ORDERED["="] = lambda right: lambda column: [v is not None and v == right for v in column]


def _contains_test(needle: object) -> Callable[[Any], bool]:
    def contains(raw: Any) -> bool:
        if isinstance(raw, list):
            return any(isinstance(item, str) and item == needle for item in raw)
        if isinstance(raw, str) and isinstance(needle, str):
            return needle in raw
        return False

    return contains


def comparison(condition: PropertyFilter) -> Callable[[Any], bool]:
    """A stored value -> whether it satisfies an event filter (``values.match_value``)."""
    op = condition.op
    if op == "exists":
        return lambda raw: raw is not None
    if op == "not_exists":
        return lambda raw: raw is None
    kind, operands = condition.operands()
    if op == "contains":
        return _contains_test(operands[0])
    test = column_test(op, operands)
    return lambda raw: test([coerce(raw, kind)])[0]


def _time(condition: TimeCondition) -> Callable[[Batch], list[bool]]:
    path, kind = condition.time, ValueKind.DATETIME
    if condition.older_than is not None:
        span = condition.older_than.as_timedelta()

        def older(b: Batch) -> list[bool]:
            bound = b.now - span
            return [at is not None and at <= bound for at in b.values(path, kind)]

        return older
    if condition.within is not None:
        span = condition.within.as_timedelta()

        def within(b: Batch) -> list[bool]:
            bound = b.now - span
            return [at is not None and at > bound for at in b.values(path, kind)]

        return within
    assert condition.between is not None
    start, end = condition.between
    return lambda b: [at is not None and start <= at < end for at in b.values(path, kind)]


def _counter(condition: EventCondition) -> Callable[[int], bool]:
    """count -> the count test, negated for ``performed: false``."""
    compare = COMPARATORS[condition.count.op]
    wanted, performed = condition.count.value, condition.performed
    return lambda count: compare(count, wanted) == performed


def _between(moments: list[datetime], start: datetime | None, end: datetime | None) -> int:
    return sum(1 for at in moments if (start is None or at >= start) and (end is None or at < end))


def event_matcher(condition: EventCondition) -> Callable[[EventView], bool]:
    """Type and filters of an event condition, ignoring the window (``event_matches``)."""
    event_type = condition.event
    on_event: list[tuple[str, Callable[[Any], bool]]] = []
    on_line: list[tuple[str, Callable[[Any], bool]]] = []
    for where in condition.where:
        scope, path = filter_target(where.field)
        (on_event if scope == "event" else on_line).append((path, comparison(where)))
    filters, line_filters = tuple(on_event), tuple(on_line)

    def matches(event: EventView) -> bool:
        if event.type != event_type:
            return False
        properties = event.properties
        for path, test in filters:
            if not test(resolve(properties, path)):
                return False
        if not line_filters:
            return True
        lines = properties.get("lines")
        if not isinstance(lines, list):
            return False
        return any(_line_matches(line_filters, line) for line in lines)

    return matches


def _line_matches(filters: Sequence[tuple[str, Callable[[Any], bool]]], line: object) -> bool:
    fields: Mapping[str, Any] = line if isinstance(line, Mapping) else {}
    return all(test(resolve(fields, path)) for path, test in filters)


def _relative(condition: Condition) -> Iterator[TimeCondition | EventCondition]:
    """The definition's own relative conditions (``older_than``/``within``, ``last``)."""
    match condition:
        case AllOf():
            for child in condition.all:
                yield from _relative(child)
        case AnyOf():
            for child in condition.any:
                yield from _relative(child)
        case NotOf():
            yield from _relative(condition.not_)
        case TimeCondition() if condition.between is None:
            yield condition
        case EventCondition() if condition.window is not None and condition.window.last:
            yield condition


def batch_of(profiles: Sequence[ProfileView], now: datetime) -> tuple[Batch, dict[str, Mask]]:
    """A batch of profile views and their memberships as masks (tests, one-off calls)."""
    batch = Batch([p.traits for p in profiles], [p.events for p in profiles], now)
    members: dict[str, Mask] = {}
    for index, profile in enumerate(profiles):
        for segment_id in profile.segments:
            members[segment_id] = members.get(segment_id, 0) | (1 << (8 * index))
    return batch, members
