"""Shopify webhooks to canonical events.

Topic map (``X-Shopify-Topic`` -> event types, primary event first)::

    orders/create        order.placed       + embedded customer events + opt-ins
    orders/updated       order.updated      + embedded customer events + opt-ins
    orders/paid          order.paid         + embedded customer events + opt-ins
    orders/cancelled     order.cancelled    + embedded customer events + opt-ins
    orders/fulfilled     order.fulfilled    + embedded customer events + opt-ins
    refunds/create       order.refunded
    checkouts/create     checkout.started   + embedded customer events + opt-ins
    checkouts/update     checkout.updated   + embedded customer events + opt-ins
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
shape is recognised by which keys are present, not by ``api_version``. "Opt-ins"
are the checkout's ticked marketing boxes (``buyer_accepts_marketing``, in both
shapes), one ``consent.changed`` per channel from source ``shopify_checkout`` at
the time of the order.

Event ids name the business fact, not the delivery (:mod:`.facts`): the order id
for ``order.placed``, the refund id, a digest of the stated state and its
``updated_at`` for ``order.updated`` and the customer and consent events, Shopify's
``X-Shopify-Event-Id`` for privacy and app lifecycle requests. The same body posted
under two webhook ids (duplicate subscriptions, a reinstalled app, a replay tool)
gives the same events; the webhook id only deduplicates deliveries at the door.
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
    checkout_consent_events,
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
    identity, data = order_identity(body), order_data(body, em.tenant)
    event = em.emit(cls, occurred_at=em.occurred_at(body), identity=identity, data=data)
    opt_ins = checkout_consent_events(em, body, identity, data.placed_at)
    return [event, *embedded_customer_events(em, body), *opt_ins]


def _refund(em: Emitter) -> list[Any]:
    body = em.body
    data = refund_data(body, em.tenant)
    return [em.emit(OrderRefunded, occurred_at=em.occurred_at(body), data=data)]


def _checkout(cls: type[Any], em: Emitter) -> list[Any]:
    body = em.body
    identity, at = checkout_identity(body), em.occurred_at(body)
    event = em.emit(cls, occurred_at=at, identity=identity, data=checkout_data(body, em.tenant))
    opt_ins = checkout_consent_events(em, body, identity, at)
    return [event, *embedded_customer_events(em, body), *opt_ins]


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
