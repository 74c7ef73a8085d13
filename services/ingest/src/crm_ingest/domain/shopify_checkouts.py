"""Shopify checkouts (abandoned-cart recovery) and carts."""

from __future__ import annotations

from pydantic import HttpUrl, TypeAdapter, ValidationError

from crm_common.events import CartData, CheckoutData, Identity
from crm_ingest.domain.context import TenantContext
from crm_ingest.domain.fields import Node
from crm_ingest.domain.money import to_amount
from crm_ingest.domain.shopify_common import currency_of, line_items, make_identity, phone_region

_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def checkout_data(checkout: Node, tenant: TenantContext) -> CheckoutData:
    """The canonical checkout; ``recovery_url`` is Shopify's ``abandoned_checkout_url``."""
    currency = currency_of(checkout, tenant)
    total = checkout.required_decimal("total_price")
    return CheckoutData(
        checkout_token=checkout.required_text("token"),
        cart_token=checkout.text("cart_token"),
        recovery_url=recovery_url(checkout),
        currency=currency,
        total=to_amount(total, currency, checkout.where("total_price")),
        lines=line_items(checkout, currency),
        started_at=checkout.timestamp("created_at") or checkout.fail("created_at", "missing"),
        updated_at=checkout.timestamp("updated_at"),
        completed_at=checkout.timestamp("completed_at"),
    )


def recovery_url(checkout: Node) -> HttpUrl | None:
    """The abandoned checkout URL, checked here so the error names Shopify's field."""
    url = checkout.text("abandoned_checkout_url")
    if url is None:
        return None
    try:
        return _URL.validate_python(url)
    except ValidationError:
        checkout.fail("abandoned_checkout_url", f"not a URL: {url!r}")


def checkout_identity(checkout: Node) -> Identity:
    """Buyer of a checkout: customer id, email, phone and both tokens."""
    customer = checkout.child("customer")
    region = phone_region(
        checkout.child("billing_address"),
        checkout.child("shipping_address"),
        customer.child("default_address") if customer else None,
    )
    return make_identity(
        customer_id=customer.ident("id") if customer else None,
        email=checkout.text("email") or (customer.text("email") if customer else None),
        phone=checkout.text("phone") or (customer.text("phone") if customer else None),
        region=region,
        cart_token=checkout.text("cart_token"),
        checkout_token=checkout.text("token"),
    )


def cart_data(cart: Node, tenant: TenantContext) -> CartData:
    """A cart. Cart webhooks carry no currency: prices are in the shop's currency."""
    currency = currency_of(cart, tenant)
    updated_at = cart.timestamp("updated_at") or cart.timestamp("created_at")
    return CartData(
        cart_token=cart.required_text("token"),
        currency=currency,
        lines=line_items(cart, currency),
        updated_at=updated_at or cart.fail("updated_at", "missing"),
    )


def cart_identity(cart: Node) -> Identity:
    """Carts are anonymous: only the cart token identifies them."""
    return Identity(cart_token=cart.required_text("token"))
