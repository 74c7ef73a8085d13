"""Order facts converge whatever the order and repetition of their events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_common.events import Money
from crm_common.events.commerce import (
    Attribution,
    OrderCancelled,
    OrderData,
    OrderFulfilled,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderRefunded,
    OrderUpdated,
    RefundData,
)
from crm_common.events.customers import ConsentChanged
from crm_profile.domain.errors import FactMismatchError, UnsupportedEventError
from crm_profile.domain.facts import (
    Cancellation,
    LineFact,
    OrderEvent,
    OrderFact,
    apply_order_event,
    fold_order_events,
)

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
STATE_TYPES: dict[str, Any] = {
    "order.placed": OrderPlaced,
    "order.updated": OrderUpdated,
    "order.paid": OrderPaid,
    "order.fulfilled": OrderFulfilled,
    "order.cancelled": OrderCancelled,
}


def order_event(
    event_id: str,
    kind: str = "order.placed",
    *,
    order_id: str = "o1",
    total: str = "3000",
    updated: int | None = None,
    occurred: int = 0,
    cancelled: int | None = None,
    status: str | None = None,
) -> Any:
    data = OrderData(
        order_id=order_id,
        placed_at=T0,
        updated_at=T0 + timedelta(minutes=updated) if updated is not None else None,
        currency="JPY",
        total=Decimal(total),
        financial_status=status,
        lines=[
            OrderLine(
                title="緑茶",
                sku="TEA-1",
                category="tea",
                quantity=2,
                unit_price=Money(amount=Decimal(total) / 2, currency="JPY"),
            )
        ],
        attribution=Attribution(utm_source="line", utm_medium="social"),
        cancelled_at=T0 + timedelta(minutes=cancelled) if cancelled is not None else None,
    )
    at = T0 + timedelta(minutes=occurred)
    return STATE_TYPES[kind](
        event_id=event_id,
        tenant_id="t1",
        source="shopify",
        occurred_at=at,
        received_at=at,
        data=data,
    )


def refund_event(
    event_id: str, refund_id: str, amount: str, *, order_id: str = "o1"
) -> OrderRefunded:
    return OrderRefunded(
        event_id=event_id,
        tenant_id="t1",
        source="shopify",
        occurred_at=T0 + timedelta(days=1),
        received_at=T0 + timedelta(days=1),
        data=RefundData(
            refund_id=refund_id,
            order_id=order_id,
            refunded_at=T0 + timedelta(days=1),
            amount=Money(amount=Decimal(amount), currency="JPY"),
        ),
    )


def fold(events: list[Any]) -> OrderFact:
    fact: OrderFact | None = None
    for event in events:
        fact = apply_order_event(fact, event)
    assert fact is not None
    return fact


def test_placed_order_becomes_a_fact() -> None:
    fact = fold([order_event("e1", total="3000")])

    assert fact.details is not None
    assert fact.details.total == Decimal(3000)
    assert fact.details.lines == (
        LineFact(title="緑茶", sku="TEA-1", category="tea", quantity=2, unit_price=Decimal(1500)),
    )
    assert fact.net_total == Decimal(3000)
    assert fact.is_cancelled is False


def test_latest_update_wins_even_when_it_arrives_first() -> None:
    newer = order_event("e2", "order.updated", total="2500", updated=30, occurred=30)
    older = order_event("e1", "order.placed", total="3000")

    fact = fold([newer, older])

    assert fact.details is not None
    assert fact.details.total == Decimal(2500)
    assert fact.version is not None and fact.version.event_id == "e2"


def test_same_updated_at_is_decided_by_occurred_at_then_event_id() -> None:
    a = order_event("e-a", "order.paid", total="1000", updated=5, occurred=9, status="paid")
    b = order_event("e-b", "order.updated", total="2000", updated=5, occurred=7)
    c = order_event("e-c", "order.updated", total="3000", updated=5, occurred=9)

    fact = fold([c, a, b])

    assert fact.details is not None and fact.details.total == Decimal(3000)


def test_cancellation_sticks_even_after_a_later_update() -> None:
    cancelled = order_event("e2", "order.cancelled", updated=10, occurred=10, cancelled=10)
    later = order_event("e3", "order.updated", updated=20, occurred=20)

    fact = fold([cancelled, later])

    assert fact.cancellation == Cancellation(at=T0 + timedelta(minutes=10), event_id="e2")
    assert fact.net_total == Decimal(0)


def test_order_updated_carrying_cancelled_at_cancels() -> None:
    fact = fold([order_event("e1"), order_event("e2", "order.updated", updated=5, cancelled=4)])

    assert fact.cancellation == Cancellation(at=T0 + timedelta(minutes=4), event_id="e2")


def test_cancel_event_without_timestamp_uses_occurred_at() -> None:
    fact = fold([order_event("e9", "order.cancelled", occurred=42)])

    assert fact.cancellation == Cancellation(at=T0 + timedelta(minutes=42), event_id="e9")


def test_refunds_are_a_set_keyed_by_refund_id() -> None:
    events = [
        refund_event("r-e1", "r1", "1000"),
        order_event("e1", total="3000"),
        refund_event("r-e1", "r1", "1000"),
        refund_event("r-e2", "r2", "500"),
    ]

    fact = fold(events)

    assert [r.refund_id for r in fact.refunds] == ["r1", "r2"]
    assert fact.refunded_amount == Decimal(1500)
    assert fact.net_total == Decimal(1500)


def test_refund_before_order_keeps_details_unknown() -> None:
    fact = fold([refund_event("r-e1", "r1", "1000")])

    assert fact.details is None
    assert fact.net_total == Decimal(0)
    assert len(fact.refunds) == 1


def test_refunds_never_make_an_order_negative() -> None:
    fact = fold([order_event("e1", total="1000"), refund_event("r", "r1", "1500")])

    assert fact.net_total == Decimal(0)


def test_event_of_another_order_is_refused() -> None:
    fact = fold([order_event("e1")])

    with pytest.raises(FactMismatchError):
        apply_order_event(fact, order_event("e2", order_id="o2"))


def test_non_order_event_is_refused() -> None:
    consent: Any = ConsentChanged.model_validate(
        {
            "event_id": "c1",
            "tenant_id": "t1",
            "source": "shopify",
            "occurred_at": T0,
            "received_at": T0,
            "data": {"channel": "email", "state": "subscribed"},
        }
    )

    with pytest.raises(UnsupportedEventError):
        apply_order_event(None, consent)


def test_fold_groups_events_by_order() -> None:
    facts = fold_order_events([order_event("e1", order_id="a"), order_event("e2", order_id="b")])

    assert sorted(facts) == ["a", "b"]


@st.composite
def order_histories(draw: st.DrawFn) -> list[OrderEvent]:
    """Distinct events about one order: state events, maybe a cancel, some refunds."""
    events: list[OrderEvent] = [order_event("e-placed")]
    for n in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(sorted(STATE_TYPES)))
        cancel = draw(st.one_of(st.none(), st.integers(0, 5))) if kind != "order.placed" else None
        events.append(
            order_event(
                f"e-{n}",
                kind,
                total=str(draw(st.integers(1, 9)) * 1000),
                updated=draw(st.one_of(st.none(), st.integers(0, 3))),
                occurred=draw(st.integers(0, 3)),
                cancelled=cancel,
                status=draw(st.sampled_from([None, "paid", "pending"])),
            )
        )
    for n in range(draw(st.integers(0, 3))):
        refund_id = draw(st.sampled_from(["r1", "r2"]))
        events.append(refund_event(f"r-{n}", refund_id, str(draw(st.integers(1, 5)) * 100)))
    return events


@given(order_histories(), st.data())
def test_any_permutation_with_duplicates_converges(
    history: list[OrderEvent], data: st.DataObject
) -> None:
    replay = data.draw(st.permutations(history + data.draw(st.lists(st.sampled_from(history)))))

    assert fold(replay) == fold(history)


@given(order_histories())
def test_applying_an_event_twice_changes_nothing(history: list[OrderEvent]) -> None:
    fact = fold(history)

    assert all(apply_order_event(fact, event) == fact for event in history)
