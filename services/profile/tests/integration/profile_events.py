"""Builders of canonical events for the profile integration tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm_common.events import (
    CheckoutStarted,
    ConsentChanged,
    CustomerUpserted,
    Identity,
    MessageOpened,
    MessageSent,
    OrderCancelled,
    OrderPlaced,
    OrderRefunded,
    OrderUpdated,
)
from crm_common.events._base import Money
from crm_common.events.commerce import CheckoutData, OrderData, OrderLine, RefundData
from crm_common.events.customers import Address, Channel, Consent, ConsentState, CustomerData
from crm_common.events.downstream import MessageData

T0 = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def new_tenant() -> str:
    return f"tn-{uuid.uuid4().hex[:12]}"


def _envelope(tenant: str, event_id: str, days: float, identity: Identity) -> dict[str, Any]:
    return {
        # Event ids are unique per tenant: the consumer's dedup spans every test.
        "event_id": f"{tenant}:{event_id}",
        "tenant_id": tenant,
        "source": "test",
        "occurred_at": at(days),
        "received_at": at(days),
        "identity": identity,
    }


def ident(
    email: str | None = None,
    phone: str | None = None,
    customer: str | None = None,
    checkout: str | None = None,
) -> Identity:
    return Identity(
        email=email,
        phone=phone,
        external_ids={"shopify": customer} if customer else {},
        checkout_token=checkout,
    )


def order_data(order_id: str, total: int, days: float, **extra: Any) -> OrderData:
    line = OrderLine(
        title="tea",
        category=extra.pop("category", "tea"),
        quantity=1,
        unit_price=Money(amount=Decimal(total), currency="JPY"),
    )
    return OrderData(
        order_id=order_id,
        placed_at=at(days),
        currency="JPY",
        total=Decimal(total),
        lines=[line],
        **extra,
    )


def placed(tenant: str, order_id: str, total: int, days: float, who: Identity) -> OrderPlaced:
    return OrderPlaced(
        **_envelope(tenant, f"{order_id}-placed", days, who),
        data=order_data(order_id, total, days),
    )


def updated(
    tenant: str, order_id: str, total: int, days: float, later: float, who: Identity
) -> OrderUpdated:
    return OrderUpdated(
        **_envelope(tenant, f"{order_id}-updated-{later}", days + later, who),
        data=order_data(order_id, total, days, updated_at=at(days + later)),
    )


def cancelled(
    tenant: str, order_id: str, total: int, days: float, later: float, who: Identity
) -> OrderCancelled:
    return OrderCancelled(
        **_envelope(tenant, f"{order_id}-cancelled", days + later, who),
        data=order_data(
            order_id, total, days, updated_at=at(days + later), cancelled_at=at(days + later)
        ),
    )


def refunded(tenant: str, order_id: str, refund_id: str, amount: int, days: float) -> OrderRefunded:
    return OrderRefunded(
        **_envelope(tenant, f"{order_id}-{refund_id}", days, Identity()),
        data=RefundData(
            refund_id=refund_id,
            order_id=order_id,
            refunded_at=at(days),
            amount=Money(amount=Decimal(amount), currency="JPY"),
        ),
    )


def customer(
    tenant: str, event_id: str, days: float, who: Identity, **data: Any
) -> CustomerUpserted:
    if "address" in data and isinstance(data["address"], dict):
        data["address"] = Address(**data["address"])
    return CustomerUpserted(
        **_envelope(tenant, event_id, days, who),
        data=CustomerData(email=who.email, phone=who.phone, updated_at=at(days), **data),
    )


def consent(
    tenant: str, event_id: str, days: float, who: Identity, channel: str, state: str
) -> ConsentChanged:
    return ConsentChanged(
        **_envelope(tenant, event_id, days, who),
        data=Consent(channel=Channel(channel), state=ConsentState(state), collected_at=at(days)),
    )


def checkout(tenant: str, token: str, days: float, who: Identity) -> CheckoutStarted:
    return CheckoutStarted(
        **_envelope(tenant, f"co-{token}", days, who),
        data=CheckoutData(
            checkout_token=token, currency="JPY", total=Decimal(1000), started_at=at(days)
        ),
    )


def message(tenant: str, kind: str, profile_id: str, message_id: str, days: float) -> Any:
    cls = {"sent": MessageSent, "opened": MessageOpened}[kind]
    return cls(
        **_envelope(tenant, f"{message_id}-{kind}", days, Identity()),
        data=MessageData(
            message_id=message_id,
            profile_id=profile_id,
            channel=Channel.EMAIL,
            source_kind="campaign",
            source_id="c1",
            at=at(days),
        ),
    )
