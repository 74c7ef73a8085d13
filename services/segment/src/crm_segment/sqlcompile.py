"""Definitions compiled to SQL over the read model: bulk fill, preview, verification.

Every leaf compiles to a predicate that is never NULL (``COALESCE(..., false)``),
so ``NOT`` is plain negation exactly as in the in-memory evaluator, and typed
extraction from JSONB follows :mod:`crm_segment.domain.values` to the letter:
a value is cast only after a pattern (and, for timestamps, a day-of-month
check) has shown the cast cannot fail, so bad data never aborts a query.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Numeric,
    Select,
    Text,
    and_,
    any_,
    case,
    cast,
    collate,
    column,
    exists,
    extract,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.types import TypeEngine

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
    Window,
)
from crm_segment.domain.evaluate import require_aware, root_of
from crm_segment.domain.expand import expand, filter_target
from crm_segment.domain.values import (
    COMPARATORS,
    MAX_NUMBER_DIGITS,
    NUMBER_SHAPE_SQL_PATTERN,
    TIMESTAMP_SQL_PATTERN,
    ValueKind,
)
from crm_segment.readmodel import events, memberships, profiles

Predicate = ColumnElement[bool]
Json = ColumnElement[Any]

_SQL_TYPES: dict[ValueKind, TypeEngine[Any]] = {
    ValueKind.NUMBER: Numeric(),
    ValueKind.DATETIME: DateTime(timezone=True),
    ValueKind.STRING: Text(),
    ValueKind.BOOLEAN: Boolean(),
}
_ONE: ColumnElement[Any] = literal_column("1")
_SCALAR_TEXT: ColumnElement[Any] = literal_column("'{}'::text[]")
# The same operators as the in-memory evaluator, typed for SQL expressions.
_SQL_COMPARATORS: dict[str, Callable[[Any, Any], Predicate]] = dict(COMPARATORS)  # type: ignore[arg-type]
_EMPTY_ARRAY = literal_column("'[]'::jsonb", JSONB)


def compile_definition(
    definition: Definition | Condition, tenant_id: str, now: datetime
) -> Select[tuple[str]]:
    """``SELECT profile_id`` of the tenant's profiles matching ``definition`` at ``now``."""
    require_aware(now)
    return select(profiles.c.profile_id).where(
        profiles.c.tenant_id == tenant_id, predicate(root_of(definition), now)
    )


def predicate(condition: Condition, now: datetime) -> Predicate:
    """The never-NULL SQL predicate of one condition, correlated to ``profiles``."""
    match condition:
        case AllOf():
            return and_(*(predicate(child, now) for child in condition.all))
        case AnyOf():
            return or_(*(predicate(child, now) for child in condition.any))
        case NotOf():
            return not_(predicate(condition.not_, now))
        case TraitCondition():
            return comparison(condition, json_at(profiles.c.traits, condition.trait))
        case TimeCondition():
            return _time(condition, now)
        case EventCondition():
            return _event(condition, now)
        case RfmCondition() | FStageCondition() | ConsentCondition():
            return predicate(expand(condition), now)
        case SegmentCondition():
            return _member_of(condition.segment)
    raise TypeError(f"not a condition: {condition!r}")


def json_at(document: Json, path: str) -> Json:
    """The JSONB at ``path``: the flat key if it holds a non-null value, else nested."""
    flat = _member(document, path)
    if "." not in path:
        return flat
    nested = document.op("#>", return_type=JSONB)(literal(path.split("."), ARRAY(Text)))
    return case((func.jsonb_typeof(flat) != "null", flat), else_=nested)


def _member(document: Json, key: str) -> Json:
    # Explicit ->: it yields NULL on arrays and scalars, where subscripting may not.
    return document.op("->", return_type=JSONB)(literal(key, Text))


def _text(value: Json) -> ColumnElement[str]:
    return value.op("#>>", return_type=Text)(_SCALAR_TEXT)


def _matches(text_value: ColumnElement[str], pattern: str) -> Predicate:
    return text_value.bool_op("~")(literal(pattern, Text))


def typed(value: Json, kind: ValueKind) -> ColumnElement[Any]:
    """The value as SQL of ``kind``, or NULL when it is not one (see values.py)."""
    json_type = func.jsonb_typeof(value)
    text_value = _text(value)
    if kind is ValueKind.NUMBER:
        number = cast(text_value, Numeric)
        looks_numeric = and_(json_type == "string", _numeric_text(text_value))
        return case((json_type == "number", number), (looks_numeric, number))
    if kind is ValueKind.DATETIME:
        instant = case((_day_exists(text_value), cast(text_value, DateTime(timezone=True))))
        checked = case((_matches(text_value, TIMESTAMP_SQL_PATTERN), instant))
        return case((json_type == "string", checked))
    if kind is ValueKind.STRING:
        return collate(case((json_type == "string", text_value)), "C")
    return case((json_type == "boolean", cast(text_value, Boolean)))


def _numeric_text(text_value: ColumnElement[str]) -> Predicate:
    """``values.NUMBER_BODY`` in full: up to 255 digits a side (see NUMBER_SHAPE_SQL_PATTERN)."""
    whole = func.split_part(func.ltrim(text_value, "-"), ".", 1)
    fraction = func.split_part(text_value, ".", 2)
    return and_(
        _matches(text_value, NUMBER_SHAPE_SQL_PATTERN),
        func.length(whole) <= MAX_NUMBER_DIGITS,
        func.length(fraction) <= MAX_NUMBER_DIGITS,
    )


def _day_exists(stamp: ColumnElement[str]) -> Predicate:
    # The pattern allows 2024-02-30; adding day-1 days to the 1st stays in the
    # month only for days that exist, and make_date cannot fail on 1000-9999/01-12.
    year, month, day = (
        cast(func.substr(stamp, s, n), Integer) for s, n in ((1, 4), (6, 2), (9, 2))
    )
    first = func.make_date(year, month, 1, type_=Date)
    return extract("month", first + (day - 1)) == month


def comparison(condition: TraitCondition | PropertyFilter, value: Json) -> Predicate:
    """A trait condition or event filter applied to a JSONB value."""
    op = condition.op
    present = func.coalesce(func.jsonb_typeof(value) != "null", false())
    if op == "exists":
        return present
    if op == "not_exists":
        return not_(present)
    kind, operands = condition.operands()
    if op == "contains":
        return func.coalesce(_contains(value, str(operands[0])), false())
    left = typed(value, kind)
    test: Predicate
    if op in ("in", "not_in"):
        # One array parameter, not one per value: a long list cannot push the
        # statement past asyncpg's 32,767 bind parameters.
        listed = left == any_(literal(list(operands), ARRAY(_SQL_TYPES[kind])))
        return func.coalesce(listed if op == "in" else not_(listed), false())
    right = [literal(operand, _SQL_TYPES[kind]) for operand in operands]
    if op == "between":
        test = left.between(right[0], right[1])
    else:
        test = _SQL_COMPARATORS[op](left, right[0])
    return func.coalesce(test, false())


def _contains(value: Json, needle: str) -> Predicate:
    json_type = func.jsonb_typeof(value)
    element = cast(literal(json.dumps([needle]), Text), JSONB)
    return case(
        (json_type == "array", value.bool_op("@>")(element)),
        (json_type == "string", func.strpos(_text(value), literal(needle, Text)) > 0),
        else_=false(),
    )


def _time(condition: TimeCondition, now: datetime) -> Predicate:
    instant = typed(json_at(profiles.c.traits, condition.time), ValueKind.DATETIME)
    if condition.older_than is not None:
        test = instant <= _at(now - condition.older_than.as_timedelta())
    elif condition.within is not None:
        test = instant > _at(now - condition.within.as_timedelta())
    else:
        assert condition.between is not None
        start, end = condition.between
        test = and_(instant >= _at(start), instant < _at(end))
    return func.coalesce(test, false())


def _at(moment: datetime) -> ColumnElement[datetime]:
    return literal(moment, DateTime(timezone=True))


def _event(condition: EventCondition, now: datetime) -> Predicate:
    e = events.alias()
    criteria = [
        e.c.tenant_id == profiles.c.tenant_id,
        e.c.profile_id == profiles.c.profile_id,
        e.c.type == condition.event,
        *_window(e.c.occurred_at, condition.window, now),
        *_filters(e.c.properties, condition.where),
    ]
    spec = (condition.count.op, condition.count.value)
    test: Predicate
    if spec in {(">=", 1), (">", 0)}:
        test = exists(select(_ONE).select_from(e).where(*criteria))
    elif spec in {("=", 0), ("<", 1), ("<=", 0)}:
        test = not_(exists(select(_ONE).select_from(e).where(*criteria)))
    else:
        count = select(func.count()).select_from(e).where(*criteria).scalar_subquery()
        test = _SQL_COMPARATORS[spec[0]](count, spec[1])
    return test if condition.performed else not_(test)


def _window(
    occurred_at: ColumnElement[datetime], window: Window | None, now: datetime
) -> list[Predicate]:
    if window is None:
        return []
    if window.last is not None:
        return [occurred_at > _at(now - window.last.as_timedelta())]
    bounds = []
    if window.from_ is not None:
        bounds.append(occurred_at >= _at(window.from_))
    if window.to is not None:
        bounds.append(occurred_at < _at(window.to))
    return bounds


def _filters(properties: Json, filters: tuple[PropertyFilter, ...]) -> list[Predicate]:
    tests = []
    line_tests = []
    lines_json = case(
        (func.jsonb_typeof(_member(properties, "lines")) == "array", _member(properties, "lines")),
        else_=_EMPTY_ARRAY,
    )
    lines = func.jsonb_array_elements(lines_json).table_valued(column("value", JSONB)).alias()
    for where in filters:
        scope, path = filter_target(where.field)
        if scope == "event":
            tests.append(comparison(where, json_at(properties, path)))
        else:
            line_tests.append(comparison(where, json_at(lines.c.value, path)))
    if line_tests:
        tests.append(exists(select(_ONE).select_from(lines).where(*line_tests)))
    return tests


def _member_of(segment_id: str) -> Predicate:
    m = memberships.alias()
    return exists(
        select(_ONE)
        .select_from(m)
        .where(
            m.c.tenant_id == profiles.c.tenant_id,
            m.c.profile_id == profiles.c.profile_id,
            m.c.segment_id == segment_id,
            m.c.exited_at.is_(None),
        )
    )
