"""When a wait step is over, in the journey's timezone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from crm_messaging.domain.clock import first_at_or_after, occurrences, wall, zone
from crm_messaging.domain.journeys.models import (
    WaitDateTrait,
    WaitDuration,
    WaitSinceEntry,
    WaitSpec,
    WaitTimeOfDay,
)
from crm_messaging.domain.journeys.state import Facts, RunState


def trait_value(traits: dict[str, Any], path: str) -> Any:
    """A trait by dotted path (``address.prefecture``); None when any part is absent."""
    value: Any = traits
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def as_date(value: Any) -> date | None:
    """A date trait as stored: a date, a datetime or an ISO string; else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def anniversary(original: date, year: int) -> date:
    """``original`` in ``year``; 29 February becomes 28 February in common years."""
    try:
        return original.replace(year=year)
    except ValueError:
        return original.replace(year=year, day=28)


def wait_until(spec: WaitSpec, run: RunState, facts: Facts, tz_name: str) -> datetime | None:
    """The UTC instant the wait ends, or None when a date trait it needs is missing."""
    match spec:
        case WaitDuration():
            return run.step_entered_at + spec.duration
        case WaitSinceEntry():
            return run.entered_at + spec.duration
        case WaitTimeOfDay():
            return _next_time_of_day(spec, run.step_entered_at, tz_name)
        case WaitDateTrait():
            return _date_trait_instant(spec, run.step_entered_at, facts, tz_name)


def _next_time_of_day(spec: WaitTimeOfDay, since: datetime, tz_name: str) -> datetime:
    tz = zone(tz_name)
    today = wall(since, tz).date()
    for offset in range(9):
        day = today + timedelta(days=offset)
        if spec.weekdays and day.weekday() not in spec.weekdays:
            continue
        for instant in occurrences(day, spec.at, tz):
            if instant >= since:
                return instant
    raise AssertionError("some weekday matches within 9 days")  # pragma: no cover


def _date_trait_instant(
    spec: WaitDateTrait, since: datetime, facts: Facts, tz_name: str
) -> datetime | None:
    base = as_date(trait_value(facts.traits, spec.trait))
    if base is None:
        return None
    tz = zone(tz_name)
    if not spec.yearly:
        return first_at_or_after(base + timedelta(days=spec.offset_days), spec.at, tz)
    year = wall(since, tz).year
    for candidate_year in (year - 1, year, year + 1):
        day = anniversary(base, candidate_year) + timedelta(days=spec.offset_days)
        instant = first_at_or_after(day, spec.at, tz)
        if instant >= since:
            return instant
    raise AssertionError("an anniversary falls within two years")  # pragma: no cover
