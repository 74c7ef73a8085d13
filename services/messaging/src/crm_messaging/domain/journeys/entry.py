"""Whether a person may start a run: re-entry rules and the run key of event triggers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from crm_messaging.domain.clock import as_utc
from crm_messaging.domain.journeys.models import (
    EventTrigger,
    EveryTime,
    Once,
    OncePer,
    ReEntry,
    Trigger,
)


def reentry_allowed(
    rule: ReEntry, previous_entries: Sequence[datetime], now: datetime, active: bool
) -> bool:
    """May the person enter again? ``active``: a run of theirs is still going.

    ``once``: never twice. ``once_per``: not within ``days`` of the last entry.
    ``every_time``: always, the run key (see :func:`run_key`) preventing doubles
    for one trigger fact. No rule allows two concurrent runs, except every_time.
    """
    match rule:
        case Once():
            return not previous_entries and not active
        case OncePer():
            if active:
                return False
            window = timedelta(days=rule.days)
            return all(as_utc(now) - as_utc(entry) >= window for entry in previous_entries)
        case EveryTime():
            return True
    return False  # pragma: no cover


def run_key(trigger: Trigger, event: Mapping[str, Any]) -> str | None:
    """The value at the trigger's ``key_field`` in an event (its JSON form), as text.

    None when the trigger has no key field or the event lacks it; callers then
    fall back to the event id, so one event still starts at most one run.
    """
    if not isinstance(trigger, EventTrigger) or trigger.key_field is None:
        return None
    value: Any = event
    for part in trigger.key_field.split("."):
        if not isinstance(value, Mapping) or value.get(part) is None:
            return None
        value = value[part]
    return str(value)
