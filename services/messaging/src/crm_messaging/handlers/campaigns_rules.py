"""Pure campaign rules: the status machine, the send instant, the throttle.

draft -> scheduled -> sending -> completed;  scheduled|sending <-> paused;
anything not finished -> cancelled. A paused campaign resumes to ``sending``
when its audience was already frozen, else back to ``scheduled``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from crm_messaging.domain.clock import as_utc, first_at_or_after, zone

Status = Literal["draft", "scheduled", "sending", "paused", "completed", "cancelled"]
Action = Literal["schedule", "pause", "resume", "cancel"]

FINISHED: frozenset[str] = frozenset({"completed", "cancelled"})
EDITABLE: frozenset[str] = frozenset({"draft", "scheduled"})
# Fields that may change while a campaign runs (the rest would change what was promised).
LIVE_FIELDS: frozenset[str] = frozenset({"name", "throttle_per_minute"})

_FROM: dict[Action, frozenset[str]] = {
    "schedule": frozenset({"draft", "scheduled"}),
    "pause": frozenset({"scheduled", "sending"}),
    "resume": frozenset({"paused"}),
    "cancel": frozenset({"draft", "scheduled", "sending", "paused"}),
}


class TransitionRefused(Exception):
    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"cannot {action} a campaign that is {status}")
        self.action = action
        self.status = status


def next_status(action: Action, status: str, audience_frozen: bool) -> Status:
    """The status after ``action``; TransitionRefused when it does not apply."""
    if status not in _FROM[action]:
        raise TransitionRefused(action, status)
    if action == "schedule":
        return "scheduled"
    if action == "pause":
        return "paused"
    if action == "resume":
        return "sending" if audience_frozen else "scheduled"
    return "cancelled"


def send_instant(send_at: datetime | None, timezone: str, now: datetime) -> datetime:
    """When to start, in UTC. A naive ``send_at`` is a wall time in the tenant's zone
    (in a DST gap: the first instant after it); None means now."""
    if send_at is None:
        return as_utc(now)
    if send_at.tzinfo is None or send_at.utcoffset() is None:
        return first_at_or_after(send_at.date(), send_at.time(), zone(timezone))
    return as_utc(send_at, "send_at")


@dataclass(frozen=True)
class Allowance:
    count: int  # how many recipients this round may enqueue
    next_at: datetime  # when the following round may run
    throttled: bool  # the throttle, not the batch size, set the count


def allowance(
    now: datetime,
    next_at: datetime | None,
    per_minute: int | None,
    max_batch: int,
    tick: timedelta,
) -> Allowance:
    """Messages per minute as evenly spaced slots; at most one tick of unused slots
    carries over, so a campaign that waited (paused, slow worker) never bursts."""
    if per_minute is None:
        return Allowance(max_batch, now, throttled=False)
    slot = timedelta(minutes=1) / per_minute
    base = max(next_at or now, now - tick)
    if base > now:
        return Allowance(0, base, throttled=True)
    due = 1 + math.floor((now - base) / slot)
    count = min(max_batch, due)
    return Allowance(count, base + count * slot, throttled=count < max_batch)
