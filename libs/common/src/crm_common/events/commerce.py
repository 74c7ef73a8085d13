"""Orders, checkouts and carts."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, HttpUrl

from crm_common.events._base import DecimalStr, EnvelopeBase, Frozen, Money, UtcDatetime


class OrderKind(StrEnum):
    REGULAR = "regular"
    SUBSCRIPTION = "subscription"  # 定期購入
    HANPUKAI = "hanpukai"  # 頒布会: a fixed series of different items
    PRE_ORDER = "pre_order"  # 予約


class Discount(Frozen):
    code: str | None = None
    amount: Money


class OrderLine(Frozen):
    line_id: str | None = None
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    title: str
    category: str | None = None
    quantity: int = Field(ge=0)
    unit_price: Money
    discounts: list[Discount] = Field(default_factory=list)


class Attribution(Frozen):
    """Where the order came from (for LTV by acquisition source)."""

    landing_site: str | None = None
    referring_site: str | None = None
    source_name: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None


class Subscription(Frozen):
    contract_id: str
    cycle: int = Field(ge=1, description="Which delivery of the subscription this order is")
    interval_days: int | None = Field(default=None, ge=1)


class OrderData(Frozen):
    order_id: str
    order_number: str | None = None
    kind: OrderKind = OrderKind.REGULAR
    placed_at: UtcDatetime
    updated_at: UtcDatetime | None = None
    currency: str = Field(pattern="^[A-Z]{3}$")
    subtotal: DecimalStr | None = None
    total_discounts: DecimalStr | None = None
    total_tax: DecimalStr | None = None
    shipping: DecimalStr | None = None
    total: DecimalStr
    financial_status: str | None = None
    fulfillment_status: str | None = None
    lines: list[OrderLine] = Field(default_factory=list)
    attribution: Attribution = Field(default_factory=Attribution)
    checkout_token: str | None = None
    cart_token: str | None = None
    subscription: Subscription | None = None
    tags: list[str] = Field(default_factory=list)
    cancelled_at: UtcDatetime | None = None
    cancel_reason: str | None = None


class OrderPlaced(EnvelopeBase):
    type: Literal["order.placed"] = "order.placed"
    data: OrderData


class OrderUpdated(EnvelopeBase):
    type: Literal["order.updated"] = "order.updated"
    data: OrderData


class OrderPaid(EnvelopeBase):
    type: Literal["order.paid"] = "order.paid"
    data: OrderData


class OrderFulfilled(EnvelopeBase):
    type: Literal["order.fulfilled"] = "order.fulfilled"
    data: OrderData


class OrderCancelled(EnvelopeBase):
    type: Literal["order.cancelled"] = "order.cancelled"
    data: OrderData


class RefundLine(Frozen):
    line_id: str | None = None
    quantity: int = Field(ge=0)
    subtotal: Money


class RefundData(Frozen):
    refund_id: str
    order_id: str
    refunded_at: UtcDatetime
    amount: Money
    lines: list[RefundLine] = Field(default_factory=list)
    note: str | None = None


class OrderRefunded(EnvelopeBase):
    type: Literal["order.refunded"] = "order.refunded"
    data: RefundData


class CheckoutData(Frozen):
    checkout_token: str
    cart_token: str | None = None
    recovery_url: HttpUrl | None = None
    currency: str = Field(pattern="^[A-Z]{3}$")
    total: DecimalStr
    lines: list[OrderLine] = Field(default_factory=list)
    started_at: UtcDatetime
    updated_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None


class CheckoutStarted(EnvelopeBase):
    type: Literal["checkout.started"] = "checkout.started"
    data: CheckoutData


class CheckoutUpdated(EnvelopeBase):
    type: Literal["checkout.updated"] = "checkout.updated"
    data: CheckoutData


class CartData(Frozen):
    cart_token: str
    currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")
    lines: list[OrderLine] = Field(default_factory=list)
    updated_at: UtcDatetime


class CartUpdated(EnvelopeBase):
    type: Literal["cart.updated"] = "cart.updated"
    data: CartData


class SubscriptionData(Frozen):
    contract_id: str
    product_id: str | None = None
    interval_days: int | None = Field(default=None, ge=1)
    cycle: int | None = Field(default=None, ge=0)
    status: Literal["active", "paused", "cancelled"]
    changed_at: UtcDatetime
    reason: str | None = None


class SubscriptionStarted(EnvelopeBase):
    type: Literal["subscription.started"] = "subscription.started"
    data: SubscriptionData


class SubscriptionCancelled(EnvelopeBase):
    type: Literal["subscription.cancelled"] = "subscription.cancelled"
    data: SubscriptionData


class CustomEventData(Frozen):
    """A shop-defined event (``product.viewed``, ``review.posted`` ...)."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.:-]+$")
    properties: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class CustomEvent(EnvelopeBase):
    type: Literal["custom"] = "custom"
    data: CustomEventData
