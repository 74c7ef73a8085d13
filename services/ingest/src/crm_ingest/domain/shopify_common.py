"""Pieces shared by several Shopify objects: currency, line items, tags, identity."""

from __future__ import annotations

import re
from decimal import Decimal

from crm_common.events import Discount, Identity, OrderLine
from crm_common.events.customers import Address
from crm_common.normalize import (
    clean_text,
    normalize_email,
    normalize_phone,
    normalize_postal_code,
    normalize_prefecture,
)
from crm_ingest.domain.context import TenantContext
from crm_ingest.domain.fields import Node
from crm_ingest.domain.money import to_amount, to_money

PLATFORM = "shopify"
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def currency_of(node: Node, tenant: TenantContext) -> str:
    """The object's ``currency`` (the shop currency in Shopify), else the tenant's."""
    currency = node.text("currency")
    if currency is None:
        return tenant.currency
    if not _CURRENCY.match(currency):
        node.fail("currency", f"not an ISO 4217 code: {currency!r}")
    return currency


def parse_tags(node: Node, key: str = "tags") -> list[str] | None:
    """Shopify's comma-separated tag string as a list; None when the key is absent.

    Absent and empty differ: absent (API 2025-01 embedded customers) means "not told",
    ``""`` means "no tags".
    """
    if not node.has(key):
        return None
    text = node.text(key) or ""
    return [tag for tag in (clean_text(part) for part in text.split(",")) if tag]


def line_items(
    node: Node, currency: str, applications: list[Node] | None = None
) -> list[OrderLine]:
    """``line_items`` of an order, checkout or cart."""
    return [line_item(item, currency, applications or []) for item in node.children("line_items")]


def line_item(item: Node, currency: str, applications: list[Node]) -> OrderLine:
    """One line: ids as text, unit price at currency precision, its discounts."""
    return OrderLine(
        line_id=item.ident("id") or item.text("key"),
        product_id=item.ident("product_id"),
        variant_id=item.ident("variant_id"),
        sku=item.text("sku"),
        title=item.text("title") or item.required_text("name"),
        quantity=_quantity(item),
        unit_price=to_money(item.required_decimal("price"), currency, item.where("price")),
        discounts=line_discounts(item, currency, applications),
    )


def _quantity(item: Node) -> int:
    quantity = item.integer("quantity")
    if quantity is None:
        item.fail("quantity", "missing")
    if quantity < 0:
        item.fail("quantity", f"negative: {quantity}")
    return quantity


def line_discounts(item: Node, currency: str, applications: list[Node]) -> list[Discount]:
    """Orders carry ``discount_allocations``; checkouts ``applied_discounts``; carts
    ``discounts``. The code comes from the order's ``discount_applications``."""
    for key in ("discount_allocations", "applied_discounts", "discounts"):
        if item.data.get(key) is not None:
            return [_discount(entry, currency, applications) for entry in item.children(key)]
    return []


def _discount(entry: Node, currency: str, applications: list[Node]) -> Discount:
    amount = to_money(entry.required_decimal("amount"), currency, entry.where("amount"))
    code = entry.text("code") or entry.text("title")
    index = entry.integer("discount_application_index")
    if code is None and index is not None and 0 <= index < len(applications):
        code = applications[index].text("code") or applications[index].text("title")
    return Discount(code=code, amount=amount)


def optional_amount(node: Node, key: str, currency: str) -> Decimal | None:
    """An optional money string at currency precision."""
    value = node.decimal(key)
    return None if value is None else to_amount(value, currency, node.where(key))


def phone_region(*addresses: Node | None) -> str:
    """Region for phones written without a country code: the first address's country,
    else Japan (the shops this CRM serves)."""
    for address in addresses:
        code = address.text("country_code") if address is not None else None
        if code and len(code) == 2:
            return code.upper()
    return "JP"


def make_identity(
    *,
    customer_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    region: str = "JP",
    cart_token: str | None = None,
    checkout_token: str | None = None,
) -> Identity:
    """Identity with normalized email/phone; unusable values are dropped, since Shopify
    has already accepted them and the event is still worth having."""
    return Identity(
        email=normalize_email(email),
        phone=normalize_phone(phone, region),
        external_ids={PLATFORM: customer_id} if customer_id else {},
        cart_token=cart_token,
        checkout_token=checkout_token,
    )


def address_of(node: Node | None) -> Address | None:
    """A Shopify address; Japanese postal codes and prefectures in canonical form."""
    if node is None:
        return None
    country = (node.text("country_code") or "").upper() or None
    zip_code, province = node.text("zip"), node.text("province_code") or node.text("province")
    if country == "JP":
        zip_code = normalize_postal_code(zip_code) or clean_text(zip_code)
        province = normalize_prefecture(province) or clean_text(node.text("province"))
    return Address(
        postal_code=clean_text(zip_code),
        prefecture=province if country == "JP" else clean_text(node.text("province")),
        city=clean_text(node.text("city")),
        address1=clean_text(node.text("address1")),
        address2=clean_text(node.text("address2")),
        country_code=country,
    )
