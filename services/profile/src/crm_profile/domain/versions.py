"""Version stamps that decide which of two conflicting writes wins.

Events arrive in any order and may repeat, so every mutable value remembers the
stamp of the write that produced it; a write only replaces a value with a
smaller stamp. Ties on time are broken by ``event_id`` so that the winner never
depends on arrival order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from crm_common.events import Frozen, UtcDatetime

T = TypeVar("T")


class Stamp(Frozen):
    """When a value was true according to its source, plus a total-order tie-break.

    ``at`` is the source's own timestamp (``updated_at`` when it has one, else the
    envelope's ``occurred_at``); ``occurred_at`` and ``event_id`` break ties.
    """

    at: UtcDatetime
    occurred_at: UtcDatetime
    event_id: str

    def key(self) -> tuple[datetime, datetime, str]:
        """The sort key: later ``at`` wins, then later ``occurred_at``, then larger id."""
        return (self.at, self.occurred_at, self.event_id)

    def newer_than(self, other: Stamp | None) -> bool:
        """True when this stamp beats ``other`` (anything beats ``None``)."""
        return other is None or self.key() > other.key()


def latest(a: Stamp | None, b: Stamp | None) -> Stamp | None:
    """The winning stamp of the two (``None`` when both are ``None``)."""
    if a is None:
        return b
    return b if b is not None and b.newer_than(a) else a


class Stamped(Frozen, Generic[T]):
    """A value together with the stamp of the write that set it."""

    value: T
    stamp: Stamp


def pick(current: Stamped[T] | None, value: T | None, stamp: Stamp) -> Stamped[T] | None:
    """Last-writer-wins for one field; a missing (``None``) value never erases a known one."""
    if value is None:
        return current
    if current is not None and not stamp.newer_than(current.stamp):
        return current
    return Stamped(value=value, stamp=stamp)
