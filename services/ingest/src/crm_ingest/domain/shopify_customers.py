"""Shopify customers, consent topics, privacy (GDPR) and shop lifecycle topics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_common.events import (
    ConsentChanged,
    CustomerData,
    CustomerDeleted,
    CustomerDeletedData,
    CustomerUpserted,
    Identity,
    PrivacyExportRequested,
    PrivacyRedactRequested,
    PrivacyRequestData,
    TenantLifecycleData,
    TenantRedactRequested,
    TenantUninstalled,
)
from crm_common.events.customers import Channel, Consent
from crm_common.normalize import clean_text, normalize_email, normalize_phone
from crm_ingest.domain.fields import Node
from crm_ingest.domain.shopify_common import address_of, make_identity, parse_tags, phone_region
from crm_ingest.domain.shopify_consent import (
    CONSENT_KEYS,
    checkout_consents,
    consent_from,
    customer_consents,
)
from crm_ingest.domain.shopify_envelope import Emitter


def customer_data(customer: Node) -> CustomerData:
    """A customer record. Consent is not put here: Shopify consent always travels as
    ``consent.changed`` events (see :func:`customer_events`)."""
    address_node = customer.child("default_address")
    region = phone_region(address_node)
    return CustomerData(
        customer_id=customer.required_ident("id"),
        email=normalize_email(customer.text("email")),
        phone=normalize_phone(customer.text("phone"), region),
        first_name=clean_text(customer.text("first_name")),
        last_name=clean_text(customer.text("last_name")),
        address=address_of(address_node),
        tags=parse_tags(customer),
        properties=_properties(customer),
        created_at=customer.timestamp("created_at"),
        updated_at=customer.timestamp("updated_at"),
    )


def _properties(customer: Node) -> dict[str, Any]:
    found = {
        "state": customer.text("state"),
        "verified_email": customer.flag("verified_email"),
        "note": clean_text(customer.text("note")),
    }
    return {key: value for key, value in found.items() if value is not None}


def customer_identity(customer: Node) -> Identity:
    """Shopify id, normalized email and phone of a customer object."""
    return make_identity(
        customer_id=customer.ident("id"),
        email=customer.text("email"),
        phone=customer.text("phone"),
        region=phone_region(customer.child("default_address")),
    )


def customer_events(em: Emitter, customer: Node, fallback: datetime | None = None) -> list[Any]:
    """``customer.upserted`` plus one ``consent.changed`` per channel the object states."""
    occurred_at = _customer_time(em, customer, fallback)
    identity = customer_identity(customer)
    upserted = em.emit(
        CustomerUpserted, occurred_at=occurred_at, identity=identity, data=customer_data(customer)
    )
    consents = [
        consent_event(em, consent, identity, occurred_at) for consent in customer_consents(customer)
    ]
    return [upserted, *consents]


def _customer_time(em: Emitter, customer: Node, fallback: datetime | None) -> datetime:
    moment = customer.timestamp("updated_at") or customer.timestamp("created_at")
    return moment or fallback or em.occurred_at()


def consent_event(
    em: Emitter, consent: Consent, identity: Identity, fallback: datetime
) -> ConsentChanged:
    """``consent.changed`` (its id covers the channel, so email and SMS of one webhook
    differ)."""
    return em.emit(
        ConsentChanged,
        occurred_at=consent.collected_at or fallback,
        identity=identity,
        data=consent,
    )


def embedded_customer_events(em: Emitter, parent: Node) -> list[Any]:
    """Extra events from the customer embedded in an order or checkout. Both API shapes
    yield ``customer.upserted``; only the pre-2025-01 shape yields consent events
    (and tags), because the newer one no longer carries them."""
    customer = parent.child("customer")
    if customer is None or customer.ident("id") is None:
        return []
    return customer_events(em, customer, em.occurred_at(parent))


def consent_topic_events(em: Emitter, channel: Channel) -> list[Any]:
    """``customers/email_marketing_consent/update`` and
    ``customers_marketing_consent/update``; a null state says nothing, so no event."""
    body = em.body
    key = CONSENT_KEYS[channel]
    if body.child(key) is None:
        body.fail(key, "missing")
    consent = consent_from(body, channel)
    if consent is None:
        return []
    identity = make_identity(
        customer_id=body.ident("customer_id") or body.required_ident("id"),
        email=body.text("email_address"),
        phone=body.text("phone"),
    )
    return [consent_event(em, consent, identity, em.occurred_at())]


def deleted_events(em: Emitter) -> list[Any]:
    """``customers/delete``: the body holds little more than the id."""
    body = em.body
    customer_id = body.required_ident("id")
    return [
        em.emit(
            CustomerDeleted,
            occurred_at=em.occurred_at(body),
            identity=make_identity(customer_id=customer_id),
            data=CustomerDeletedData(customer_id=customer_id),
        )
    ]


def privacy_events(em: Emitter, export: bool) -> list[Any]:
    """``customers/redact`` and ``customers/data_request``. The request id is the
    data request's id when Shopify gives one, else Shopify's event id (else the
    webhook id)."""
    body = em.body
    customer = body.child("customer")
    request = body.child("data_request")
    customer_id = customer.ident("id") if customer else None
    data = PrivacyRequestData(
        request_id=(request.ident("id") if request else None) or em.happening,
        customer_id=customer_id,
        orders=body.idents("orders_requested" if export else "orders_to_redact"),
    )
    identity = customer_identity(customer) if customer else Identity()
    cls = PrivacyExportRequested if export else PrivacyRedactRequested
    return [em.emit(cls, occurred_at=em.occurred_at(), identity=identity, data=data)]


def tenant_events(em: Emitter, uninstalled: bool) -> list[Any]:
    """``app/uninstalled`` (body: the shop) and ``shop/redact`` (body: shop id and domain)."""
    body = em.body
    domain = body.text("myshopify_domain") or body.text("shop_domain") or em.raw.shop_domain
    data = TenantLifecycleData(shop_domain=domain, reason=em.raw.topic)
    cls = TenantUninstalled if uninstalled else TenantRedactRequested
    return [em.emit(cls, occurred_at=em.occurred_at(), data=data)]


def checkout_consent_events(
    em: Emitter, parent: Node, identity: Identity, at: datetime
) -> list[Any]:
    """``consent.changed`` for each opt-in box ticked on an order or checkout, for the
    address it was ticked for (no e-mail on the order: no e-mail consent)."""
    addresses = {Channel.EMAIL: identity.email, Channel.SMS: identity.phone}
    return [
        consent_event(em, consent, identity, at)
        for consent in checkout_consents(parent, at)
        if addresses[consent.channel]
    ]
