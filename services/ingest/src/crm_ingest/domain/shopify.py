"""Shopify webhooks to canonical events.

Topic map (``X-Shopify-Topic`` -> event types, primary event first)::

    orders/create        order.placed       + embedded customer events
    orders/updated       order.updated      + embedded customer events
    orders/paid          order.paid         + embedded customer events
    orders/cancelled     order.cancelled    + embedded customer events
    orders/fulfilled     order.fulfilled    + embedded customer events
    refunds/create       order.refunded
    checkouts/create     checkout.started   + embedded customer events
    checkouts/update     checkout.updated   + embedded customer events
    carts/create|update  cart.updated
    customers/create|update                  customer.upserted + consent.changed per channel
    customers/delete                         customer.deleted
    customers/email_marketing_consent/update consent.changed (email)
    customers_marketing_consent/update       consent.changed (sms)
    customers/redact     privacy.redact_requested
    customers/data_request privacy.export_requested
    shop/redact          tenant.redact_requested
    app/uninstalled      tenant.uninstalled

"Embedded customer events" are ``customer.upserted`` (both API shapes) and, for the
pre-2025-01 shape that still embeds consent, ``consent.changed`` per channel. The
shape is recognised by which keys are present, not by ``api_version``.

Event ids: ``stable_event_id("shopify", shop_domain, webhook_id, key)`` where the key
is the event type, or ``consent.changed:<channel>`` for consent events.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from crm_common.events import (
    CartUpdated,
    CheckoutStarted,
    CheckoutUpdated,
    Event,
    OrderCancelled,
    OrderFulfilled,
    OrderPaid,
    OrderPlaced,
    OrderRefunded,
    OrderUpdated,
)
from crm_common.events.customers import Channel
from crm_ingest.domain.context import TenantContext
from crm_ingest.domain.errors import field_error
from crm_ingest.domain.shopify_checkouts import (
    cart_data,
    cart_identity,
    checkout_data,
    checkout_identity,
)
from crm_ingest.domain.shopify_customers import (
    consent_topic_events,
    customer_events,
    deleted_events,
    embedded_customer_events,
    privacy_events,
    tenant_events,
)
from crm_ingest.domain.shopify_envelope import Emitter, RawWebhook
from crm_ingest.domain.shopify_orders import order_data, order_identity, refund_data

Handler = Callable[[Emitter], list[Any]]


def normalize_shopify(raw: RawWebhook, tenant: TenantContext) -> list[Event]:
    """All canonical events one Shopify webhook describes (possibly none, e.g. a consent
    webhook with a null state). Deterministic: the same webhook gives equal events.

    Raises :class:`~crm_ingest.domain.errors.NormalizationError` naming the field.
    """
    handler = _HANDLERS.get(raw.topic)
    if handler is None:
        raise field_error("topic", f"unsupported topic: {raw.topic!r}")
    return handler(Emitter(raw, tenant))


def supported_topics() -> frozenset[str]:
    """Topics :func:`normalize_shopify` understands (for webhook registration)."""
    return frozenset(_HANDLERS)


def _order(cls: type[Any], em: Emitter) -> list[Any]:
    body = em.body
    event = em.emit(
        cls,
        occurred_at=em.occurred_at(body),
        identity=order_identity(body),
        data=order_data(body, em.tenant),
    )
    return [event, *embedded_customer_events(em, body)]


def _refund(em: Emitter) -> list[Any]:
    body = em.body
    data = refund_data(body, em.tenant)
    return [em.emit(OrderRefunded, occurred_at=em.occurred_at(body), data=data)]


def _checkout(cls: type[Any], em: Emitter) -> list[Any]:
    body = em.body
    event = em.emit(
        cls,
        occurred_at=em.occurred_at(body),
        identity=checkout_identity(body),
        data=checkout_data(body, em.tenant),
    )
    return [event, *embedded_customer_events(em, body)]


def _cart(em: Emitter) -> list[Any]:
    body = em.body
    data = cart_data(body, em.tenant)
    return [
        em.emit(CartUpdated, occurred_at=data.updated_at, identity=cart_identity(body), data=data)
    ]


def _customer(em: Emitter) -> list[Any]:
    return customer_events(em, em.body)


_HANDLERS: dict[str, Handler] = {
    "orders/create": partial(_order, OrderPlaced),
    "orders/updated": partial(_order, OrderUpdated),
    "orders/paid": partial(_order, OrderPaid),
    "orders/cancelled": partial(_order, OrderCancelled),
    "orders/fulfilled": partial(_order, OrderFulfilled),
    "refunds/create": _refund,
    "checkouts/create": partial(_checkout, CheckoutStarted),
    "checkouts/update": partial(_checkout, CheckoutUpdated),
    "carts/create": _cart,
    "carts/update": _cart,
    "customers/create": _customer,
    "customers/update": _customer,
    "customers/delete": deleted_events,
    "customers/email_marketing_consent/update": partial(
        consent_topic_events, channel=Channel.EMAIL
    ),
    "customers_marketing_consent/update": partial(consent_topic_events, channel=Channel.SMS),
    "customers/redact": partial(privacy_events, export=False),
    "customers/data_request": partial(privacy_events, export=True),
    "shop/redact": partial(tenant_events, uninstalled=False),
    "app/uninstalled": partial(tenant_events, uninstalled=True),
}
