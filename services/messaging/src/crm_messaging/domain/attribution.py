"""Which message an order is credited to (pure rules, no I/O).

An order is attributed to the LAST qualifying touch before it:

- email: an open or a click, the order within ``email_days`` after it;
- sms / line: a click, the order within ``sms_days`` / ``line_days`` after it;
- postal_dm: the piece sent (its print batch exported), the order within
  ``postal_dm_days`` after it;
- call: never (the call team records ``converted`` as a call outcome instead).

Windows are inclusive at both ends (an order exactly five days after the open
counts). "Last" means the latest touch instant; ties go to the greater message id
so that the answer never depends on the order the touches were read in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import Field

from crm_common.events import Frozen

TouchKind = Literal["opened", "clicked", "sent"]


class AttributionWindows(Frozen):
    """A tenant's attribution windows in days (part of its messaging settings)."""

    email_days: float = Field(default=5, ge=0, le=365)
    sms_days: float = Field(default=5, ge=0, le=365)
    line_days: float = Field(default=5, ge=0, le=365)
    postal_dm_days: float = Field(default=30, ge=0, le=365)

    def window(self, channel: str, kind: TouchKind) -> timedelta | None:
        """How long ``kind`` on ``channel`` keeps crediting orders; None: it never does."""
        days = _QUALIFYING.get(channel, {}).get(kind)
        return None if days is None else timedelta(days=getattr(self, days))


_QUALIFYING: dict[str, dict[str, str]] = {
    "email": {"opened": "email_days", "clicked": "email_days"},
    "sms": {"clicked": "sms_days"},
    "line": {"clicked": "line_days"},
    "postal_dm": {"sent": "postal_dm_days"},
}


@dataclass(frozen=True)
class Touch:
    message_id: str
    channel: str
    kind: TouchKind
    at: datetime


@dataclass(frozen=True)
class Order:
    order_id: str
    total: Decimal
    currency: str
    placed_at: datetime


def qualifies(touch: Touch, ordered_at: datetime, windows: AttributionWindows) -> bool:
    window = windows.window(touch.channel, touch.kind)
    return window is not None and touch.at <= ordered_at <= touch.at + window


def last_touch(
    touches: Iterable[Touch], ordered_at: datetime, windows: AttributionWindows
) -> Touch | None:
    """The touch the order at ``ordered_at`` is credited to, if any."""
    eligible = [t for t in touches if qualifies(t, ordered_at, windows)]
    return max(eligible, key=lambda t: (t.at, t.message_id), default=None)


def longest_window(windows: AttributionWindows) -> timedelta:
    """How far back touches can matter (to bound the lookup)."""
    days = max(windows.email_days, windows.sms_days, windows.line_days, windows.postal_dm_days)
    return timedelta(days=days)


def order_of(data: Mapping[str, Any], occurred_at: datetime) -> Order | None:
    """The order in a ``profile.activity`` payload of ``order.placed`` (None if unusable)."""
    order_id = data.get("order_id")
    currency = data.get("currency")
    try:
        total = Decimal(str(data.get("total")))
    except InvalidOperation:
        return None
    if not order_id or not currency or not total.is_finite():
        return None
    placed = data.get("placed_at")
    placed_at = datetime.fromisoformat(placed) if isinstance(placed, str) else occurred_at
    if placed_at.tzinfo is None:
        return None
    return Order(str(order_id), total, str(currency), placed_at)
