"""Wall-clock arithmetic in a tenant's timezone, safe across DST transitions.

Python compares and subtracts two datetimes that share a tzinfo by their wall
times, ignoring the offset; everything here therefore works in UTC and only
converts to local time to read or build wall-clock values.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_messaging.domain.errors import NaiveDatetimeError, UnknownTimezone


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; UnknownTimezone when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimezone(f"unknown timezone {name!r}") from exc


def as_utc(value: datetime, what: str = "now") -> datetime:
    """``value`` in UTC; a naive value is a programming error, never guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(f"{what} must be timezone-aware")
    return value.astimezone(UTC)


def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock reading of ``instant`` in ``tz``."""
    # Via UTC: astimezone() to the tzinfo a value already has returns it unchanged,
    # which would keep a non-existent wall time as if it were real.
    return instant.astimezone(UTC).astimezone(tz).replace(tzinfo=None)


def occurrences(day: date, at: time, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the wall clock in ``tz`` reads ``day at``.

    Usually one; two in a repeated (fall-back) hour; in a skipped (spring-forward)
    hour none exists, and the first instant after the gap stands in for it.
    """
    naive = datetime.combine(day, at)
    first = naive.replace(tzinfo=tz, fold=0)
    if wall(first, tz) != naive:
        return [_gap_end(naive, tz)]
    second = naive.replace(tzinfo=tz, fold=1)
    instants = {first.astimezone(UTC), second.astimezone(UTC)}
    return sorted(instants)


def first_at_or_after(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The earliest UTC instant whose wall-clock reading is ``day at`` (or past it, in a gap)."""
    return occurrences(day, at, tz)[0]


def _gap_end(naive: datetime, tz: ZoneInfo) -> datetime:
    # fold=1 reads a skipped time with the offset after the gap (an instant before
    # it), fold=0 with the one before (an instant after it); zone transitions
    # fall on whole seconds, so bisecting to one second finds the transition.
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    while hi - lo > timedelta(seconds=1):
        mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
        if wall(mid, tz) >= naive:
            hi = mid
        else:
            lo = mid
    return hi
