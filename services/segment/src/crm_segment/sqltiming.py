"""When could a bulk-filled segment next change for each profile, in SQL.

After a fill, each profile's ``next_change_at`` must not be later than the
first moment the new segment's result can move with time alone. The
in-memory :func:`crm_segment.domain.timing.next_change_at` is exact but per
profile; here every moving boundary of the definition (``ts + d`` of each
relative time condition, ``occurred_at + d`` of the earliest event inside a
``last d`` window) is taken, and the earliest one after ``now`` is a safe lower
bound. The sweep then re-evaluates the profile and stores the exact moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Interval, and_, case, func, literal, select

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
    TimeCondition,
)
from crm_segment.domain.evaluate import root_of
from crm_segment.domain.expand import expand
from crm_segment.domain.timing import LAST_INSTANT
from crm_segment.domain.values import ValueKind
from crm_segment.readmodel import events, profiles
from crm_segment.sqlcompile import _at, _filters, json_at, typed


def next_change_bound(
    definition: Definition | Condition, now: datetime
) -> ColumnElement[Any] | None:
    """The earliest boundary after ``now`` (NULL if none), correlated to ``profiles``;
    None when the definition has no relative time at all."""
    bounds = [_later(bound, now) for bound in _bounds(root_of(definition), now)]
    if not bounds:
        return None
    return bounds[0] if len(bounds) == 1 else func.least(*bounds)


def _later(moment: ColumnElement[Any], now: datetime) -> ColumnElement[Any]:
    # Past LAST_INSTANT is no boundary, as in domain.timing.later: next_change_at
    # must stay readable by Python.
    return case((and_(moment > _at(now), moment <= _at(LAST_INSTANT)), moment))


def _span(duration: timedelta) -> ColumnElement[Any]:
    return literal(duration, Interval())


def _bounds(condition: Condition, now: datetime) -> Iterator[ColumnElement[Any]]:
    match condition:
        case AllOf():
            for child in condition.all:
                yield from _bounds(child, now)
        case AnyOf():
            for child in condition.any:
                yield from _bounds(child, now)
        case NotOf():
            yield from _bounds(condition.not_, now)
        case RfmCondition() | FStageCondition() | ConsentCondition():
            yield from _bounds(expand(condition), now)
        case TimeCondition() if condition.between is None:
            duration = condition.older_than or condition.within
            assert duration is not None
            instant = typed(json_at(profiles.c.traits, condition.time), ValueKind.DATETIME)
            yield instant + _span(duration.as_timedelta())
        case EventCondition() if condition.window is not None and condition.window.last:
            yield _first_leaving(condition, condition.window.last.as_timedelta(), now)


def _first_leaving(condition: EventCondition, span: timedelta, now: datetime) -> ColumnElement[Any]:
    e = events.alias()
    earliest = (
        select(func.min(e.c.occurred_at))
        .where(
            e.c.tenant_id == profiles.c.tenant_id,
            e.c.profile_id == profiles.c.profile_id,
            e.c.type == condition.event,
            e.c.occurred_at > _at(now - span),
            *_filters(e.c.properties, condition.where),
        )
        .scalar_subquery()
    )
    return earliest + _span(span)
