"""Marketing consent as Shopify states it, in both API shapes.

Before API 2025-01 customers (also those embedded in orders and checkouts) carry
``email_marketing_consent`` / ``sms_marketing_consent`` objects, and older payloads
only ``accepts_marketing``. From 2025-01 embedded customers carry none of them and
consent arrives on its own topics, which use the same objects.

Orders and checkouts in both shapes also carry the checkout's opt-in checkboxes
(``buyer_accepts_marketing``, and on checkouts ``buyer_accepts_sms_marketing``),
the most common e-mail opt-in of Japanese shops: a ticked box is consent, given at
the time of the order (:func:`checkout_consents`).
"""

from __future__ import annotations

from datetime import datetime

from crm_common.events.customers import Channel, Consent, ConsentState
from crm_ingest.domain.fields import Node

CONSENT_SOURCE = "shopify"
CHECKOUT_SOURCE = "shopify_checkout"

# pending = double opt-in not yet confirmed: not consent. redacted and invalid mean
# the address must not be mailed, which is what "unsubscribed" carries downstream.
_STATES: dict[str, ConsentState] = {
    "subscribed": ConsentState.SUBSCRIBED,
    "unsubscribed": ConsentState.UNSUBSCRIBED,
    "not_subscribed": ConsentState.NEVER,
    "pending": ConsentState.NEVER,
    "redacted": ConsentState.UNSUBSCRIBED,
    "invalid": ConsentState.UNSUBSCRIBED,
}

CONSENT_KEYS = {Channel.EMAIL: "email_marketing_consent", Channel.SMS: "sms_marketing_consent"}


def consent_from(node: Node, channel: Channel) -> Consent | None:
    """The consent object for ``channel``; None when absent, null or without a state."""
    state_node = node.child(CONSENT_KEYS[channel])
    if state_node is None:
        return None
    state = state_node.text("state")
    if state is None:
        return None
    mapped = _STATES.get(state.lower())
    if mapped is None:
        state_node.fail("state", f"unknown consent state: {state!r}")
    return Consent(
        channel=channel,
        state=mapped,
        source=CONSENT_SOURCE,
        collected_at=state_node.timestamp("consent_updated_at"),
    )


def legacy_email_consent(node: Node) -> Consent | None:
    """``accepts_marketing`` (pre-2022 payloads). False maps to "never", as Shopify's
    own migration mapped it to ``not_subscribed``."""
    accepts = node.flag("accepts_marketing")
    if accepts is None:
        return None
    return Consent(
        channel=Channel.EMAIL,
        state=ConsentState.SUBSCRIBED if accepts else ConsentState.NEVER,
        source=CONSENT_SOURCE,
        collected_at=node.timestamp("accepts_marketing_updated_at"),
    )


def customer_consents(customer: Node) -> list[Consent]:
    """Every consent a customer object states. The consent object wins over
    ``accepts_marketing``; a null consent object (customer without email) means
    nothing is said about that channel."""
    email = consent_from(customer, Channel.EMAIL)
    if email is None and not customer.has(CONSENT_KEYS[Channel.EMAIL]):
        email = legacy_email_consent(customer)
    sms = consent_from(customer, Channel.SMS)
    return [consent for consent in (email, sms) if consent is not None]


_CHECKBOXES = {
    Channel.EMAIL: "buyer_accepts_marketing",
    Channel.SMS: "buyer_accepts_sms_marketing",
}


def checkout_consents(node: Node, at: datetime) -> list[Consent]:
    """The opt-in boxes ticked at checkout (an order or a checkout), as consent
    collected ``at`` (when the buyer ordered). An unticked box says nothing: it is
    not an opt-out and never undoes an earlier opt-in. A later explicit opt-out
    wins, being later (the profile keeps the latest statement per channel)."""
    return [
        Consent(
            channel=channel, state=ConsentState.SUBSCRIBED, source=CHECKOUT_SOURCE, collected_at=at
        )
        for channel, key in _CHECKBOXES.items()
        if node.flag(key) is True
    ]
