"""Marketing consent as Shopify states it, in both API shapes.

Before API 2025-01 customers (also those embedded in orders and checkouts) carry
``email_marketing_consent`` / ``sms_marketing_consent`` objects, and older payloads
only ``accepts_marketing``. From 2025-01 embedded customers carry none of them and
consent arrives on its own topics, which use the same objects.
"""

from __future__ import annotations

from crm_common.events.customers import Channel, Consent, ConsentState
from crm_ingest.domain.fields import Node

CONSENT_SOURCE = "shopify"

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
