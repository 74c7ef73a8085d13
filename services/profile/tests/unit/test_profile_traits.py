"""Traits recomputed from facts, with exact expected values."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from hypothesis import given
from hypothesis import strategies as st

from crm_common.events.commerce import Attribution, OrderKind, Subscription
from crm_common.events.customers import Channel
from crm_profile.domain.activity import (
    EngagementFact,
    EngagementKind,
    SubscriptionFact,
)
from crm_profile.domain.facts import Cancellation, LineFact, OrderDetails, OrderFact, RefundFact
from crm_profile.domain.rfm import RfmThresholds
from crm_profile.domain.traits import compute_traits, f_stage
from crm_profile.domain.versions import Stamp, Stamped

JAN1 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
SUB, OPEN, CLICK = EngagementKind.SENT, EngagementKind.OPENED, EngagementKind.CLICKED


def day(n: float) -> datetime:
    return JAN1 + timedelta(days=n)


def line(category: str, quantity: int, price: int) -> LineFact:
    return LineFact(title=category, category=category, quantity=quantity, unit_price=Decimal(price))


def order(
    order_id: str,
    placed: float,
    total: int,
    *,
    currency: str = "JPY",
    cancelled: bool = False,
    refunds: tuple[int, ...] = (),
    lines: tuple[LineFact, ...] = (),
    utm: str | None = None,
    subscription: Subscription | None = None,
) -> OrderFact:
    return OrderFact(
        order_id=order_id,
        details=OrderDetails(
            placed_at=day(placed),
            currency=currency,
            total=Decimal(total),
            lines=lines,
            attribution=Attribution(utm_source=utm, utm_medium="email" if utm else None),
            subscription=subscription,
            kind=OrderKind.SUBSCRIPTION if subscription else OrderKind.REGULAR,
        ),
        cancellation=Cancellation(at=day(placed + 1), event_id="c") if cancelled else None,
        refunds=tuple(
            RefundFact(
                refund_id=f"r{i}",
                refunded_at=day(placed + 2),
                amount=Decimal(amount),
                currency=currency,
                event_id=f"r{i}",
            )
            for i, amount in enumerate(refunds)
        ),
    )


def touch(
    message_id: str, kind: EngagementKind, at: float, purpose: str = "marketing"
) -> EngagementFact:
    return EngagementFact(
        message_id=message_id,
        kind=kind,
        channel=Channel.EMAIL,
        purpose="marketing" if purpose == "marketing" else "transactional",
        at=day(at),
        event_id=f"{message_id}-{kind}-{at}",
    )


def contract(
    cid: str, status: Literal["active", "paused", "cancelled"], cycle: int = 0
) -> SubscriptionFact:
    stamp = Stamp(at=JAN1, occurred_at=JAN1, event_id=cid)
    return SubscriptionFact(contract_id=cid, status=Stamped(value=status, stamp=stamp), cycle=cycle)


THREE_ORDERS = [
    order("o1", 0, 3000, refunds=(1000,), utm="newsletter", lines=(line("tea", 2, 1500),)),
    order("o2", 10, 5000, cancelled=True, utm="ads", lines=(line("sweets", 9, 500),)),
    order("o3", 20, 2000, lines=(line("sweets", 1, 1000), line("cups", 2, 500))),
]


def test_cancelled_and_refunded_orders_count_exactly() -> None:
    traits = compute_traits(THREE_ORDERS, [], [], now=day(31))

    assert traits.orders_count == 2
    assert traits.total_spent == Decimal(4000)
    assert traits.average_order_value == Decimal(2000)
    assert (traits.first_order_at, traits.last_order_at) == (day(0), day(20))
    assert traits.days_since_last_order == 11
    assert traits.average_days_between_orders == Decimal("20.0")
    assert traits.f_stage == "F2"
    assert (traits.rfm_recency, traits.rfm_frequency, traits.rfm_monetary) == (5, 2, 1)
    assert traits.rfm_rank == "C"
    assert traits.expected_next_order_at == day(40)
    assert traits.churn_risk == Decimal("0.23")  # r = 11/20: 0.3025 / 1.3025


def test_acquisition_is_the_first_non_cancelled_order() -> None:
    orders = [order("o0", -5, 1000, cancelled=True, utm="ads"), *THREE_ORDERS]

    traits = compute_traits(orders, [], [], now=day(31))

    assert traits.acquisition.utm_source == "newsletter"
    assert traits.acquisition.utm_medium == "email"


def test_top_categories_by_quantity_then_revenue_skip_cancelled_orders() -> None:
    traits = compute_traits(THREE_ORDERS, [], [], now=day(31))

    # sweets' 9 units are on the cancelled order; tea and cups tie on quantity 2 and
    # revenue 3,000 vs 1,000 puts tea first.
    assert traits.top_categories == ("tea", "cups", "sweets")


def test_no_orders_is_f0_without_rfm() -> None:
    traits = compute_traits([], [], [], now=day(0))

    assert (traits.orders_count, traits.total_spent, traits.f_stage) == (0, Decimal(0), "F0")
    assert (traits.rfm_rank, traits.rfm_recency, traits.churn_risk) == (None, None, None)
    assert traits.average_order_value is None


def test_f_stage_moves_with_purchases_and_cancellations() -> None:
    history = [order(f"o{i}", i, 1000) for i in range(4)]
    stages = [compute_traits(history[:n], [], [], now=day(5)).f_stage for n in range(5)]
    after_cancel = [*history[:1], order("o1", 1, 1000, cancelled=True)]

    assert stages == ["F0", "F1", "F2", "F3+", "F3+"]
    assert compute_traits(after_cancel, [], [], now=day(5)).f_stage == "F1"
    assert [f_stage(n) for n in (0, 1, 2, 3, 10)] == ["F0", "F1", "F2", "F3+", "F3+"]


def test_one_time_buyer_uses_the_tenant_default_interval() -> None:
    traits = compute_traits([order("o1", 0, 12000)], [], [], now=day(45), default_interval_days=90)

    assert traits.expected_next_order_at is None
    assert traits.average_days_between_orders is None
    assert traits.churn_risk == Decimal("0.20")  # r = 0.5
    assert traits.rfm_rank == "C"  # R4 + F2 + M3 = 9


def test_churn_risk_is_one_half_when_the_next_order_is_due() -> None:
    orders = [order("a", 0, 1000), order("b", 30, 1000), order("c", 90, 1000)]

    traits = compute_traits(orders, [], [], now=day(135))

    assert traits.expected_next_order_at == day(135)  # median of 30 and 60 days
    assert traits.churn_risk == Decimal("0.50")


def test_money_counts_only_the_tenant_currency() -> None:
    orders = [order("jp", 0, 3000), order("us", 1, 40, currency="USD")]

    traits = compute_traits(orders, [], [], now=day(2))

    assert (traits.orders_count, traits.total_spent, traits.average_order_value) == (
        2,
        Decimal(3000),
        Decimal(3000),
    )


def test_average_order_value_rounds_to_the_currency_unit() -> None:
    orders = [order("a", 0, 1000), order("b", 1, 1000), order("c", 2, 1001)]
    usd = RfmThresholds(currency="USD")
    usd_orders = [
        order("u1", 0, 10, currency="USD"),
        order("u2", 1, 10, currency="USD"),
        order("u3", 2, 11, currency="USD"),
    ]

    assert compute_traits(orders, [], [], now=day(3)).average_order_value == Decimal(1000)
    assert compute_traits(
        usd_orders, [], [], now=day(3), thresholds=usd
    ).average_order_value == Decimal("10.33")


def test_unengaged_sends_count_marketing_since_the_last_open_click_or_purchase() -> None:
    engagement = [
        touch("m1", SUB, 1),
        touch("m1", OPEN, 2),
        touch("m2", SUB, 3),
        touch("m3", SUB, 4),
        touch("m3", SUB, 4.1),  # delivered after sent: the same message
        touch("t1", SUB, 5, purpose="transactional"),
        touch("m4", SUB, 8),
    ]

    no_orders = compute_traits([], engagement, [], now=day(9))
    bought_on_day_6 = compute_traits([order("o1", 6, 1000)], engagement, [], now=day(9))

    assert no_orders.last_opened_at == day(2)
    assert no_orders.last_clicked_at is None
    assert no_orders.unengaged_marketing_sends == 3
    assert bought_on_day_6.unengaged_marketing_sends == 1


def test_subscription_status_and_cycle() -> None:
    sub = Subscription(contract_id="k1", cycle=3, interval_days=30)
    orders = [order("s1", 0, 3000, subscription=sub)]

    described = compute_traits(orders, [], [contract("k1", "paused", cycle=2)], now=day(10))
    order_only_recent = compute_traits(orders, [], [], now=day(60))
    order_only_old = compute_traits(orders, [], [], now=day(61))
    mixed = compute_traits(
        [], [], [contract("a", "cancelled", 5), contract("b", "active", 1)], now=day(1)
    )

    assert (described.subscription_status, described.subscription_cycle) == ("paused", 3)
    assert order_only_recent.subscription_status == "active"
    assert order_only_old.subscription_status == "lapsed"
    assert (mixed.subscription_status, mixed.subscription_cycle) == ("active", 5)
    assert compute_traits([], [], [], now=day(1)).subscription_status == "none"


def test_snapshot_is_flat_and_json_ready() -> None:
    snapshot = compute_traits(THREE_ORDERS, [touch("m1", OPEN, 3)], [], now=day(31)).to_snapshot()

    assert sorted(snapshot) == sorted(
        [
            "currency",
            "orders_count",
            "total_spent",
            "average_order_value",
            "first_order_at",
            "last_order_at",
            "days_since_last_order",
            "average_days_between_orders",
            "f_stage",
            "rfm_recency",
            "rfm_frequency",
            "rfm_monetary",
            "rfm_rank",
            "top_categories",
            "subscription_status",
            "subscription_cycle",
            "last_opened_at",
            "last_clicked_at",
            "unengaged_marketing_sends",
            "expected_next_order_at",
            "churn_risk",
            "acquisition_utm_source",
            "acquisition_utm_medium",
            "acquisition_utm_campaign",
            "acquisition_landing_site",
            "acquisition_referring_site",
            "acquisition_source_name",
        ]
    )
    assert snapshot["total_spent"] == "4000"
    assert snapshot["churn_risk"] == "0.23"
    assert snapshot["average_days_between_orders"] == "20.0"
    assert snapshot["last_order_at"] == "2024-01-21T12:00:00Z"
    assert snapshot["top_categories"] == ["tea", "cups", "sweets"]
    assert snapshot["acquisition_utm_source"] == "newsletter"


ORDER_POOL = [
    order(
        f"o{i}",
        i * 7 % 40,
        1000 + 500 * i,
        cancelled=i % 4 == 3,
        refunds=(300,) * (i % 3 == 1),
        lines=(line(("tea", "cups", "sweets")[i % 3], 1 + i % 2, 400),),
    )
    for i in range(8)
]
TOUCH_POOL = [touch(f"m{i % 4}", (SUB, OPEN, CLICK)[i % 3], i * 3) for i in range(10)]


@given(
    st.lists(st.sampled_from(ORDER_POOL), unique_by=lambda o: o.order_id),
    st.lists(st.sampled_from(TOUCH_POOL)),
    st.randoms(),
)
def test_traits_do_not_depend_on_the_order_of_facts(
    orders: list[OrderFact], touches: list[EngagementFact], rnd: random.Random
) -> None:
    expected = compute_traits(orders, touches, [], now=day(50))
    shuffled_orders, shuffled_touches = list(orders), list(touches)
    rnd.shuffle(shuffled_orders)
    rnd.shuffle(shuffled_touches)

    assert compute_traits(shuffled_orders, shuffled_touches, [], now=day(50)) == expected


@given(st.lists(st.sampled_from(ORDER_POOL), unique_by=lambda o: o.order_id))
def test_spend_never_exceeds_the_sum_of_totals(orders: list[OrderFact]) -> None:
    traits = compute_traits(orders, [], [], now=day(50))
    kept = [o for o in orders if not o.is_cancelled]

    assert traits.orders_count == len(kept)
    assert (
        Decimal(0)
        <= traits.total_spent
        <= sum((o.details.total for o in kept if o.details), Decimal(0))
    )
    assert traits.churn_risk is None or Decimal(0) <= traits.churn_risk <= Decimal(1)
