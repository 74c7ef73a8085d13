"""Shopify orders and refunds."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from crm_common.events import (
    Attribution,
    Identity,
    OrderData,
    OrderKind,
    RefundData,
    RefundLine,
)
from crm_common.normalize import clean_text
from crm_ingest.domain.context import TenantContext
from crm_ingest.domain.fields import Node
from crm_ingest.domain.money import to_amount, to_money
from crm_ingest.domain.shopify_common import (
    currency_of,
    line_items,
    make_identity,
    optional_amount,
    parse_tags,
    phone_region,
)

_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def order_data(order: Node, tenant: TenantContext) -> OrderData:
    """The canonical order. ``placed_at`` is ``processed_at`` (what Shopify shows as the
    order date, and the original date of imported orders), else ``created_at``."""
    currency = currency_of(order, tenant)
    tags = parse_tags(order) or []
    placed_at = order.timestamp("processed_at") or order.timestamp("created_at")
    return OrderData(
        order_id=order.required_ident("id"),
        order_number=order.text("name") or order.ident("order_number"),
        kind=order_kind(order, tags),
        placed_at=placed_at or order.fail("created_at", "missing"),
        updated_at=order.timestamp("updated_at"),
        currency=currency,
        subtotal=optional_amount(order, "subtotal_price", currency),
        total_discounts=optional_amount(order, "total_discounts", currency),
        total_tax=optional_amount(order, "total_tax", currency),
        shipping=shipping_total(order, currency),
        total=to_amount(
            order.required_decimal("total_price"), currency, order.where("total_price")
        ),
        financial_status=order.text("financial_status"),
        fulfillment_status=order.text("fulfillment_status"),
        lines=line_items(order, currency, order.children("discount_applications")),
        attribution=attribution(order),
        checkout_token=order.text("checkout_token"),
        cart_token=order.text("cart_token"),
        tags=tags,
        cancelled_at=order.timestamp("cancelled_at"),
        cancel_reason=order.text("cancel_reason"),
    )


def order_kind(order: Node, tags: list[str]) -> OrderKind:
    """Subscription when a line was bought on a selling plan, the order was created by a
    subscription contract, or a tag says 定期/subscription; 頒布会 tags make it a
    hanpukai (a subscription of changing items), 予約/pre-order tags a pre-order.
    Precedence: hanpukai, subscription, pre_order, regular."""
    lowered = [tag.lower() for tag in tags]
    if any("頒布会" in tag for tag in lowered):
        return OrderKind.HANPUKAI
    if _has_selling_plan(order) or any("定期" in t or "subscription" in t for t in lowered):
        return OrderKind.SUBSCRIPTION
    if (order.text("source_name") or "").startswith("subscription_contract"):
        return OrderKind.SUBSCRIPTION
    if any("予約" in t or t.replace("-", "").replace("_", "") == "preorder" for t in lowered):
        return OrderKind.PRE_ORDER
    return OrderKind.REGULAR


def _has_selling_plan(order: Node) -> bool:
    return any(
        item.data.get("selling_plan_allocation") or item.data.get("selling_plan_id")
        for item in order.children("line_items")
    )


def shipping_total(order: Node, currency: str) -> Decimal | None:
    """Sum of ``shipping_lines[].price``; None when the order has no shipping lines."""
    lines = order.children("shipping_lines")
    if not lines:
        return None
    amounts = [
        to_amount(line.required_decimal("price"), currency, line.where("price")) for line in lines
    ]
    return sum(amounts, Decimal(0))


def attribution(order: Node) -> Attribution:
    """Landing/referring site, source name and the UTM parameters of the landing URL."""
    landing = order.text("landing_site")
    return Attribution(
        landing_site=landing,
        referring_site=order.text("referring_site"),
        source_name=order.text("source_name"),
        **utm_parameters(landing),
    )


def utm_parameters(url: str | None) -> dict[str, str]:
    """``utm_*`` values of a URL's query string (first value of each, cleaned)."""
    if not url:
        return {}
    query = parse_qs(urlsplit(url).query)
    found = {key: clean_text(query[key][0]) for key in _UTM_KEYS if key in query}
    return {key: value for key, value in found.items() if value}


def order_identity(order: Node) -> Identity:
    """The buyer: embedded customer id, order (else customer) email and phone, tokens."""
    customer = order.child("customer")
    region = phone_region(
        order.child("billing_address"), customer.child("default_address") if customer else None
    )
    return make_identity(
        customer_id=customer.ident("id") if customer else None,
        email=order.text("email") or order.text("contact_email") or _from(customer, "email"),
        phone=order.text("phone") or _from(customer, "phone"),
        region=region,
        cart_token=order.text("cart_token"),
        checkout_token=order.text("checkout_token"),
    )


def _from(node: Node | None, key: str) -> str | None:
    return node.text(key) if node is not None else None


def refund_data(refund: Node, tenant: TenantContext) -> RefundData:
    """A refund. The amount is the sum of successful refund transactions, else the sum
    of the refunded lines' subtotals (a refund without money movement, e.g. restock)."""
    lines = [_refund_line(line, tenant.currency) for line in refund.children("refund_line_items")]
    transactions = _refund_transactions(refund)
    currency = transactions[0].text("currency") if transactions else None
    currency = currency or tenant.currency
    if transactions:
        amounts = [
            to_amount(t.required_decimal("amount"), currency, t.where("amount"))
            for t in transactions
        ]
    else:
        amounts = [line.subtotal.amount for line in lines]
    refunded_at = refund.timestamp("processed_at") or refund.timestamp("created_at")
    return RefundData(
        refund_id=refund.required_ident("id"),
        order_id=refund.required_ident("order_id"),
        refunded_at=refunded_at or refund.fail("created_at", "missing"),
        amount=to_money(sum(amounts, Decimal(0)), currency, refund.where("transactions")),
        lines=lines,
        note=clean_text(refund.text("note")),
    )


def _refund_transactions(refund: Node) -> list[Node]:
    return [
        t
        for t in refund.children("transactions")
        if t.text("kind") == "refund" and t.text("status") in (None, "success")
    ]


def _refund_line(line: Node, currency: str) -> RefundLine:
    # subtotal is a JSON number in refunds; subtotal_set carries the exact string.
    money_set = line.child("subtotal_set")
    shop_money = money_set.child("shop_money") if money_set else None
    source = shop_money if shop_money is not None else line
    key = "amount" if shop_money is not None else "subtotal"
    line_currency = (shop_money.text("currency_code") if shop_money else None) or currency
    quantity = line.integer("quantity")
    return RefundLine(
        line_id=line.ident("line_item_id"),
        quantity=quantity if quantity is not None else line.fail("quantity", "missing"),
        subtotal=to_money(source.required_decimal(key), line_currency, source.where(key)),
    )
