"""Order facts and their convergent reducer.

An :class:`OrderFact` is everything known about one order, built by folding
``order.*`` events with :func:`apply_order_event`. The fold is a join: applying
the same set of events in any order, with any duplicates, yields the same fact.

* Mutable fields (totals, lines, statuses, attribution ...) come from the event
  with the greatest stamp: ``data.updated_at`` (``placed_at`` when absent), then
  ``occurred_at``, then ``event_id``.
* Cancellation is sticky: once any event says the order is cancelled (an
  ``order.cancelled``, or any order event whose data carries ``cancelled_at``)
  it stays cancelled. The earliest cancellation seen is kept.
* Refunds are a set keyed by ``refund_id``; a refund may arrive before the order
  itself, in which case ``details`` stays ``None`` until an order event comes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from crm_common.events import DecimalStr, Frozen, UtcDatetime
from crm_common.events.commerce import (
    Attribution,
    OrderCancelled,
    OrderData,
    OrderFulfilled,
    OrderKind,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderRefunded,
    OrderUpdated,
    Subscription,
)
from crm_profile.domain.errors import FactMismatchError, UnsupportedEventError
from crm_profile.domain.versions import Stamp

OrderStateEvent = OrderPlaced | OrderUpdated | OrderPaid | OrderFulfilled | OrderCancelled
OrderEvent = OrderStateEvent | OrderRefunded
ORDER_EVENT_TYPES = frozenset(
    {
        "order.placed",
        "order.updated",
        "order.paid",
        "order.fulfilled",
        "order.cancelled",
        "order.refunded",
    }
)


class LineFact(Frozen):
    """One order line, reduced to what traits need."""

    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    title: str
    category: str | None = None
    quantity: int
    unit_price: DecimalStr

    @property
    def revenue(self) -> Decimal:
        return self.unit_price * self.quantity


class OrderDetails(Frozen):
    """The mutable part of an order, as of its latest event."""

    order_number: str | None = None
    kind: OrderKind = OrderKind.REGULAR
    placed_at: UtcDatetime
    updated_at: UtcDatetime | None = None
    currency: str
    total: DecimalStr
    financial_status: str | None = None
    fulfillment_status: str | None = None
    lines: tuple[LineFact, ...] = ()
    attribution: Attribution = Attribution()
    subscription: Subscription | None = None
    tags: tuple[str, ...] = ()
    checkout_token: str | None = None
    cart_token: str | None = None


class Cancellation(Frozen):
    at: UtcDatetime
    reason: str | None = None
    event_id: str

    def key(self) -> tuple[datetime, str]:
        return (self.at, self.event_id)


class RefundFact(Frozen):
    refund_id: str
    refunded_at: UtcDatetime
    amount: DecimalStr
    currency: str
    event_id: str

    def key(self) -> tuple[datetime, str]:
        return (self.refunded_at, self.event_id)


class OrderFact(Frozen):
    """Everything known about one order; ``details`` is None until an order event."""

    order_id: str
    details: OrderDetails | None = None
    version: Stamp | None = None
    cancellation: Cancellation | None = None
    refunds: tuple[RefundFact, ...] = ()  # sorted by refund_id, one per id

    @property
    def is_cancelled(self) -> bool:
        return self.cancellation is not None

    @property
    def refunded_amount(self) -> Decimal:
        """Sum of refunds in the order's currency (refunds in another currency are ignored)."""
        if self.details is None:
            return Decimal(0)
        currency = self.details.currency
        return sum((r.amount for r in self.refunds if r.currency == currency), Decimal(0))

    @property
    def net_total(self) -> Decimal:
        """What the customer finally paid: 0 when cancelled, never below 0 after refunds."""
        if self.details is None or self.is_cancelled:
            return Decimal(0)
        return max(self.details.total - self.refunded_amount, Decimal(0))


def apply_order_event(current: OrderFact | None, event: OrderEvent) -> OrderFact:
    """Fold one ``order.*`` event into the fact of its order (idempotent, commutative).

    Raises :class:`FactMismatchError` when the event is about another order and
    :class:`UnsupportedEventError` for a non-order event.
    """
    if not isinstance(event, OrderEvent):
        raise UnsupportedEventError("apply_order_event", str(getattr(event, "type", event)))
    order_id = event.data.order_id
    if current is not None and current.order_id != order_id:
        raise FactMismatchError("order", current.order_id, order_id)
    fact = current or OrderFact(order_id=order_id)
    if isinstance(event, OrderRefunded):
        return fact.model_copy(update={"refunds": _with_refund(fact.refunds, event)})
    return _apply_state(fact, event)


def fold_order_events(events: Iterable[OrderEvent]) -> dict[str, OrderFact]:
    """All order facts from a batch of events of any orders (replays, tests)."""
    facts: dict[str, OrderFact] = {}
    for event in events:
        order_id = event.data.order_id
        facts[order_id] = apply_order_event(facts.get(order_id), event)
    return facts


def _apply_state(fact: OrderFact, event: OrderStateEvent) -> OrderFact:
    stamp = _stamp_of(event)
    update: dict[str, object] = {"cancellation": _cancellation(fact.cancellation, event)}
    if stamp.newer_than(fact.version):
        update |= {"details": _details_of(event.data), "version": stamp}
    return fact.model_copy(update=update)


def _stamp_of(event: OrderStateEvent) -> Stamp:
    return Stamp(
        at=event.data.updated_at or event.data.placed_at,
        occurred_at=event.occurred_at,
        event_id=event.event_id,
    )


def _cancellation(current: Cancellation | None, event: OrderStateEvent) -> Cancellation | None:
    """The earliest cancellation of ``current`` and the one ``event`` reports, if any."""
    at = event.data.cancelled_at
    if at is None and isinstance(event, OrderCancelled):
        at = event.occurred_at
    if at is None:
        return current
    seen = Cancellation(at=at, reason=event.data.cancel_reason, event_id=event.event_id)
    return seen if current is None or seen.key() < current.key() else current


def _with_refund(refunds: tuple[RefundFact, ...], event: OrderRefunded) -> tuple[RefundFact, ...]:
    data = event.data
    seen = RefundFact(
        refund_id=data.refund_id,
        refunded_at=data.refunded_at,
        amount=data.amount.amount,
        currency=data.amount.currency,
        event_id=event.event_id,
    )
    by_id = {r.refund_id: r for r in refunds}
    known = by_id.get(seen.refund_id)
    # Two events for one refund id should agree; if not, the later one wins.
    if known is None or seen.key() > known.key():
        by_id[seen.refund_id] = seen
    return tuple(by_id[key] for key in sorted(by_id))


def _details_of(data: OrderData) -> OrderDetails:
    return OrderDetails(
        order_number=data.order_number,
        kind=data.kind,
        placed_at=data.placed_at,
        updated_at=data.updated_at,
        currency=data.currency,
        total=data.total,
        financial_status=data.financial_status,
        fulfillment_status=data.fulfillment_status,
        lines=tuple(_line_of(line) for line in data.lines),
        attribution=data.attribution,
        subscription=data.subscription,
        tags=tuple(data.tags),
        checkout_token=data.checkout_token,
        cart_token=data.cart_token,
    )


def _line_of(line: OrderLine) -> LineFact:
    return LineFact(
        product_id=line.product_id,
        variant_id=line.variant_id,
        sku=line.sku,
        title=line.title,
        category=line.category,
        quantity=line.quantity,
        unit_price=line.unit_price.amount,
    )
