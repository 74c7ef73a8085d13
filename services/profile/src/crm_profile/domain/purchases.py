"""Purchase statistics derived from order facts (helpers of ``traits``).

Every function takes the orders as a set: results are computed from sorted
copies, never from the order in which facts were loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

from crm_common.events import Frozen
from crm_common.events.commerce import Attribution
from crm_profile.domain.facts import OrderDetails, OrderFact

_DAY = timedelta(days=1)
_MICROS_PER_DAY = Decimal(86_400_000_000)
# ISO 4217 currencies without a minor unit; every other currency gets two places.
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})


class Acquisition(Frozen):
    """Where the first (non-cancelled) order came from."""

    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    landing_site: str | None = None
    referring_site: str | None = None
    source_name: str | None = None


def placed(orders: Iterable[OrderFact]) -> list[OrderFact]:
    """Orders that count as purchases: known details, not cancelled; oldest first."""
    kept = [o for o in orders if o.details is not None and not o.is_cancelled]
    return sorted(kept, key=_placed_key)


def details(order: OrderFact) -> OrderDetails:
    """The details of an order returned by :func:`placed` (always known there)."""
    if order.details is None:
        raise ValueError(f"order {order.order_id} has no details")
    return order.details


def spent_in(orders: Sequence[OrderFact], currency: str) -> tuple[Decimal, int]:
    """Net spend and order count over the orders in ``currency``."""
    mine = [o for o in orders if details(o).currency == currency]
    return sum((o.net_total for o in mine), Decimal(0)), len(mine)


def average(amount: Decimal, count: int, currency: str) -> Decimal | None:
    """``amount / count`` rounded half-up to the currency's minor unit."""
    if count == 0:
        return None
    unit = Decimal(1) if currency in _ZERO_DECIMAL else Decimal("0.01")
    return (amount / count).quantize(unit, rounding=ROUND_HALF_UP)


def gaps(orders: Sequence[OrderFact]) -> list[timedelta]:
    """Time between consecutive purchases."""
    times = [details(o).placed_at for o in orders]
    return [later - earlier for earlier, later in pairwise(times)]


def in_days(span: timedelta, places: str = "0.1") -> Decimal:
    """A duration in days as an exact Decimal, rounded half-up to ``places``."""
    micros = Decimal(span // timedelta(microseconds=1))
    return (micros / _MICROS_PER_DAY).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def whole_days(span: timedelta) -> int:
    """Complete days in ``span``; 0 for a negative span (an order stamped after now)."""
    return max(span // _DAY, 0)


def median(spans: Sequence[timedelta]) -> timedelta | None:
    """The median duration, the mean of the middle two for an even count."""
    if not spans:
        return None
    ordered = sorted(spans)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def churn_risk(elapsed: timedelta, expected: timedelta) -> Decimal:
    """``r² / (1 + r²)`` with ``r = elapsed / expected``, rounded to 0.01.

    0 right after a purchase, 0.20 at half the expected interval, 0.50 when the
    next order is exactly due, 0.80 at twice the interval, 0.90 at three times.
    """
    ratio = Decimal(max(elapsed, timedelta(0)) // timedelta(microseconds=1)) / Decimal(
        max(expected, _DAY) // timedelta(microseconds=1)
    )
    squared = ratio * ratio
    return (squared / (1 + squared)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def acquisition(orders: Sequence[OrderFact]) -> Acquisition:
    """Attribution of the first purchase (empty when there is none)."""
    if not orders:
        return Acquisition()
    first: Attribution = details(orders[0]).attribution
    return Acquisition(
        utm_source=first.utm_source,
        utm_medium=first.utm_medium,
        utm_campaign=first.utm_campaign,
        landing_site=first.landing_site,
        referring_site=first.referring_site,
        source_name=first.source_name,
    )


def top_categories(orders: Sequence[OrderFact], limit: int = 3) -> tuple[str, ...]:
    """Categories by quantity bought, then revenue, then name; at most ``limit``."""
    quantity: dict[str, int] = {}
    revenue: dict[str, Decimal] = {}
    for order in orders:
        for line in details(order).lines:
            if line.category:
                quantity[line.category] = quantity.get(line.category, 0) + line.quantity
                revenue[line.category] = revenue.get(line.category, Decimal(0)) + line.revenue
    ranked = sorted(quantity, key=lambda c: (-quantity[c], -revenue[c], c))
    return tuple(ranked[:limit])


def _placed_key(order: OrderFact) -> tuple[datetime, str]:
    return (details(order).placed_at, order.order_id)
