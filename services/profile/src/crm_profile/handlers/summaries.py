"""Timeline summaries: what happened, without personal data.

Summaries hold ids, amounts, statuses, channels and the *names* of changed
fields, never their values, so the timeline needs no scrubbing on erasure and
custom event properties (free-form, shop-defined) are left out.
"""

from __future__ import annotations

from typing import Any

from crm_common.events.commerce import (
    CartData,
    CheckoutData,
    CustomEventData,
    OrderData,
    RefundData,
    SubscriptionData,
)
from crm_common.events.customers import (
    Consent,
    CustomerData,
    CustomerDeletedData,
    PrivacyRequestData,
)
from crm_common.events.downstream import MessageData
from crm_common.events.loyalty import RankChangedData


def summary_of(event: Any) -> dict[str, Any]:
    data = getattr(event, "data", None)
    for kind, build in _BUILDERS:
        if isinstance(data, kind):
            built: dict[str, Any] = build(data)
            return built
    return {}


def _order(d: OrderData) -> dict[str, Any]:
    return {
        "order_id": d.order_id,
        "order_number": d.order_number,
        "total": format(d.total, "f"),
        "currency": d.currency,
        "financial_status": d.financial_status,
        "fulfillment_status": d.fulfillment_status,
        "cancelled": d.cancelled_at is not None,
        "lines": len(d.lines),
    }


def _refund(d: RefundData) -> dict[str, Any]:
    return {
        "order_id": d.order_id,
        "refund_id": d.refund_id,
        "amount": format(d.amount.amount, "f"),
        "currency": d.amount.currency,
    }


def _customer(d: CustomerData) -> dict[str, Any]:
    told = d.model_dump(exclude_none=True, exclude={"consents", "properties", "customer_id"})
    return {
        "fields": sorted(told) + sorted(f"properties.{k}" for k in d.properties),
        "consents": [{"channel": c.channel.value, "state": c.state.value} for c in d.consents],
    }


def _consent(d: Consent) -> dict[str, Any]:
    return {"channel": d.channel.value, "state": d.state.value, "source": d.source}


def _checkout(d: CheckoutData) -> dict[str, Any]:
    return {"total": format(d.total, "f"), "currency": d.currency, "lines": len(d.lines)}


def _cart(d: CartData) -> dict[str, Any]:
    return {"lines": len(d.lines)}


def _subscription(d: SubscriptionData) -> dict[str, Any]:
    return {"contract_id": d.contract_id, "status": d.status, "cycle": d.cycle}


def _message(d: MessageData) -> dict[str, Any]:
    return {
        "message_id": d.message_id,
        "channel": d.channel.value,
        "purpose": d.purpose,
        "source_kind": d.source_kind,
        "source_id": d.source_id,
        "reason": d.reason,
    }


def _rank(d: RankChangedData) -> dict[str, Any]:
    return {"previous_rank": d.previous_rank, "rank": d.rank, "direction": d.direction}


def _custom(d: CustomEventData) -> dict[str, Any]:
    return {"name": d.name}


def _privacy(d: PrivacyRequestData) -> dict[str, Any]:
    return {"request_id": d.request_id}


def _deleted(d: CustomerDeletedData) -> dict[str, Any]:
    return {"customer_id": d.customer_id}


_BUILDERS: tuple[tuple[type[Any], Any], ...] = (
    (OrderData, _order),
    (RefundData, _refund),
    (CustomerData, _customer),
    (Consent, _consent),
    (CheckoutData, _checkout),
    (CartData, _cart),
    (SubscriptionData, _subscription),
    (MessageData, _message),
    (CustomEventData, _custom),
    (PrivacyRequestData, _privacy),
    (CustomerDeletedData, _deleted),
    (RankChangedData, _rank),
)
