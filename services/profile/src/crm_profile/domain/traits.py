"""Computed traits: everything segments select on, recomputed from facts.

:func:`compute_traits` is a pure function of the stored facts and ``now``;
nothing is incremented, so duplicates and arrival order cannot skew it.

Semantics worth knowing:

* A purchase is an order with known details that is not cancelled. Fully
  refunded orders still count in ``orders_count`` but add 0 to spend.
* Money (``total_spent``, ``average_order_value``) is in the tenant currency
  (``thresholds.currency``); orders in other currencies count as orders but
  not as spend. Net spend = total - refunds (never below 0) per order.
* ``f_stage``: ``F0`` no purchase, ``F1``, ``F2``, ``F3+``.
* RFM: see :mod:`crm_profile.domain.rfm`.
* ``expected_next_order_at`` = last purchase + median gap between purchases
  (None with fewer than 2 purchases).
* ``churn_risk`` = r² / (1 + r²), r = time since the last purchase divided by
  the expected gap: the customer's own median gap with 2+ purchases (at least
  one day), else ``default_interval_days`` (the tenant's typical repurchase
  cycle for one-time buyers). 0.5 means "the next order is due now". None
  without purchases.
* Engagement: ``unengaged_marketing_sends`` counts distinct marketing messages
  sent after the latest open, click or purchase (all of them if none).
* Subscription status: ``active`` > ``paused`` > ``lapsed`` > ``cancelled`` >
  ``none`` over contracts. A contract known only from its orders (no
  subscription event) is ``active`` while its last order is within twice its
  interval (30 days when unknown) of ``now``, else ``lapsed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from crm_common.events import DecimalStr, Frozen, UtcDatetime
from crm_profile.domain.activity import EngagementFact, EngagementKind, SubscriptionFact
from crm_profile.domain.facts import OrderFact
from crm_profile.domain.purchases import (
    Acquisition,
    acquisition,
    average,
    churn_risk,
    details,
    gaps,
    in_days,
    median,
    placed,
    spent_in,
    top_categories,
    whole_days,
)
from crm_profile.domain.rfm import RfmRank, RfmThresholds, score_rfm

FStage = Literal["F0", "F1", "F2", "F3+"]
SubscriptionState = Literal["active", "paused", "lapsed", "cancelled", "none"]
_SUBSCRIPTION_PRECEDENCE: tuple[SubscriptionState, ...] = (
    "active",
    "paused",
    "lapsed",
    "cancelled",
)
DEFAULT_INTERVAL_DAYS = 90
_DEFAULT_SUBSCRIPTION_INTERVAL = timedelta(days=30)


class Traits(Frozen):
    """The computed traits of one profile; see the module docstring for semantics."""

    currency: str
    orders_count: int = 0
    total_spent: DecimalStr = Decimal(0)
    average_order_value: DecimalStr | None = None
    first_order_at: UtcDatetime | None = None
    last_order_at: UtcDatetime | None = None
    days_since_last_order: int | None = None
    average_days_between_orders: DecimalStr | None = None
    f_stage: FStage = "F0"
    rfm_recency: int | None = None
    rfm_frequency: int | None = None
    rfm_monetary: int | None = None
    rfm_rank: RfmRank | None = None
    acquisition: Acquisition = Acquisition()
    top_categories: tuple[str, ...] = ()
    subscription_status: SubscriptionState = "none"
    subscription_cycle: int = 0
    last_opened_at: UtcDatetime | None = None
    last_clicked_at: UtcDatetime | None = None
    unengaged_marketing_sends: int = 0
    expected_next_order_at: UtcDatetime | None = None
    churn_risk: DecimalStr | None = None

    def to_snapshot(self) -> dict[str, Any]:
        """A flat JSON-able dict: Decimals as strings, datetimes ISO 8601 in UTC.

        ``acquisition`` is flattened to ``acquisition_<field>`` keys and
        ``top_categories`` is a list.
        """
        flat = self.model_dump(mode="json", exclude={"acquisition"})
        flat |= {f"acquisition_{k}": v for k, v in self.acquisition.model_dump().items()}
        return flat


def compute_traits(
    orders: Iterable[OrderFact],
    engagement: Iterable[EngagementFact],
    subscriptions: Iterable[SubscriptionFact],
    now: datetime,
    thresholds: RfmThresholds | None = None,
    *,
    default_interval_days: int = DEFAULT_INTERVAL_DAYS,
) -> Traits:
    """Recompute every trait from the profile's facts as of ``now``."""
    rules = thresholds or RfmThresholds()
    bought = placed(orders)
    fields: dict[str, Any] = {"currency": rules.currency}
    fields |= _purchase_fields(bought, now, rules, timedelta(days=default_interval_days))
    fields |= _engagement_fields(list(engagement), bought)
    fields |= _subscription_fields(list(subscriptions), bought, now)
    return Traits(**fields)


def f_stage(orders_count: int) -> FStage:
    """``F0`` .. ``F3+`` from the number of purchases."""
    stages: tuple[FStage, ...] = ("F0", "F1", "F2", "F3+")
    return stages[min(orders_count, 3)]


def _purchase_fields(
    bought: Sequence[OrderFact], now: datetime, rules: RfmThresholds, default: timedelta
) -> dict[str, Any]:
    if not bought:
        return {}
    spent, paid_count = spent_in(bought, rules.currency)
    first, last = details(bought[0]).placed_at, details(bought[-1]).placed_at
    days_since = whole_days(now - last)
    scores = score_rfm(days_since, len(bought), spent, rules)
    typical = median(gaps(bought))
    return {
        "orders_count": len(bought),
        "total_spent": spent,
        "average_order_value": average(spent, paid_count, rules.currency),
        "first_order_at": first,
        "last_order_at": last,
        "days_since_last_order": days_since,
        "average_days_between_orders": (
            in_days((last - first) / (len(bought) - 1)) if len(bought) > 1 else None
        ),
        "f_stage": f_stage(len(bought)),
        "rfm_recency": scores.recency,
        "rfm_frequency": scores.frequency,
        "rfm_monetary": scores.monetary,
        "rfm_rank": scores.rank,
        "acquisition": acquisition(bought),
        "top_categories": top_categories(bought),
        "expected_next_order_at": last + typical if typical is not None else None,
        "churn_risk": churn_risk(now - last, typical if typical is not None else default),
    }


def _engagement_fields(
    facts: Sequence[EngagementFact], bought: Sequence[OrderFact]
) -> dict[str, Any]:
    opened = _latest(f.at for f in facts if f.kind is EngagementKind.OPENED)
    clicked = _latest(f.at for f in facts if f.kind is EngagementKind.CLICKED)
    purchased = details(bought[-1]).placed_at if bought else None
    since = _latest(t for t in (opened, clicked, purchased) if t is not None)
    unanswered = {
        f.message_id
        for f in facts
        if f.kind is EngagementKind.SENT
        and f.purpose == "marketing"
        and (since is None or f.at > since)
    }
    return {
        "last_opened_at": opened,
        "last_clicked_at": clicked,
        "unengaged_marketing_sends": len(unanswered),
    }


def _subscription_fields(
    facts: Sequence[SubscriptionFact], bought: Sequence[OrderFact], now: datetime
) -> dict[str, Any]:
    states: set[str] = {f.status.value for f in facts}
    states |= _order_only_states({f.contract_id for f in facts}, bought, now)
    status = next((s for s in _SUBSCRIPTION_PRECEDENCE if s in states), "none")
    cycles = [f.cycle for f in facts]
    cycles += [s.cycle for o in bought if (s := details(o).subscription) is not None]
    return {"subscription_status": status, "subscription_cycle": max(cycles, default=0)}


def _order_only_states(described: set[str], bought: Sequence[OrderFact], now: datetime) -> set[str]:
    """``active`` / ``lapsed`` for contracts seen on orders but never in an event."""
    last_order: dict[str, tuple[datetime, timedelta]] = {}
    for order in bought:  # oldest first, so the last write is the latest order
        sub = details(order).subscription
        if sub is not None and sub.contract_id not in described:
            interval = timedelta(days=sub.interval_days) if sub.interval_days else None
            last_order[sub.contract_id] = (
                details(order).placed_at,
                interval or _DEFAULT_SUBSCRIPTION_INTERVAL,
            )
    return {"active" if now - at <= 2 * every else "lapsed" for at, every in last_order.values()}


def _latest(times: Iterable[datetime]) -> datetime | None:
    return max(times, default=None)
