"""Every topic of the Shopify map, with minimal bodies following Shopify's webhook docs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crm_common.events.customers import Channel, ConsentState
from crm_ingest.domain import normalize_shopify, supported_topics

SHOP = "jp-tea.myshopify.com"
TRIGGERED_AT = datetime(2024, 6, 1, 2, 59, 58, tzinfo=UTC)


def jp_order(**overrides):
    body = {
        "id": 5923871234567890123,
        "admin_graphql_api_id": "gid://shopify/Order/5923871234567890123",
        "name": "#2001",
        "order_number": 2001,
        "email": "Hanako.Sato@Example.JP",
        "phone": "090-1111-2222",
        "created_at": "2024-05-31T21:15:00+09:00",
        "updated_at": "2024-05-31T21:20:00+09:00",
        "processed_at": "2024-05-31T21:14:00+09:00",
        "currency": "JPY",
        "subtotal_price": "5400",
        "total_discounts": "540",
        "total_tax": "400",
        "total_price": "5460",
        "financial_status": "paid",
        "fulfillment_status": None,
        "landing_site": "/products/matcha?utm_source=line&utm_medium=social"
        "&utm_campaign=spring%20sale&utm_content=banner",
        "referring_site": "https://line.me/",
        "source_name": "web",
        "tags": "",
        "cart_token": "cart-1",
        "checkout_token": "chk-1",
        "cancelled_at": None,
        "cancel_reason": None,
        "discount_applications": [
            {
                "type": "discount_code",
                "code": "WELCOME10",
                "value": "10.0",
                "value_type": "percentage",
                "target_type": "line_item",
            }
        ],
        "line_items": [
            {
                "id": 13000000001,
                "product_id": 8000000001,
                "variant_id": 45000000001,
                "sku": "MATCHA-100",
                "title": "抹茶 100g",
                "quantity": 2,
                "price": "2700",
                "discount_allocations": [{"amount": "540", "discount_application_index": 0}],
            }
        ],
        "shipping_lines": [{"title": "宅配便", "price": "600"}],
        "customer": {
            "id": 7000000000000000001,
            "email": "hanako.sato@example.jp",
            "first_name": "花子",
            "last_name": "佐藤",
            "created_at": "2023-01-01T10:00:00+09:00",
            "updated_at": "2024-05-31T21:20:00+09:00",
            "default_address": {
                "zip": "１５０－０００１",
                "province": "Tokyo",
                "province_code": "JP-13",
                "country_code": "JP",
                "city": "渋谷区",
                "address1": "神宮前1-1-1",
                "address2": "",
            },
        },
    }
    body.update(overrides)
    return body


def test_topic_map_is_complete():
    assert supported_topics() == {
        "orders/create", "orders/updated", "orders/paid", "orders/cancelled",
        "orders/fulfilled", "refunds/create", "checkouts/create", "checkouts/update",
        "carts/create", "carts/update", "customers/create", "customers/update",
        "customers/delete", "customers/email_marketing_consent/update",
        "customers_marketing_consent/update", "customers/redact", "customers/data_request",
        "shop/redact", "app/uninstalled",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("topic", "event_type"),
    [
        ("orders/create", "order.placed"),
        ("orders/updated", "order.updated"),
        ("orders/paid", "order.paid"),
        ("orders/cancelled", "order.cancelled"),
        ("orders/fulfilled", "order.fulfilled"),
    ],
)
def test_order_topics(make_raw, jpy_tenant, topic, event_type):
    events = normalize_shopify(make_raw(topic, jp_order()), jpy_tenant)

    assert [e.type for e in events] == [event_type, "customer.upserted"]
    again = normalize_shopify(make_raw(topic, jp_order(), "wh-2"), jpy_tenant)
    assert [e.event_id for e in again] == [e.event_id for e in events]  # the fact, not the delivery
    assert events[0].occurred_at == datetime(2024, 5, 31, 12, 20, tzinfo=UTC)


def test_japanese_order_values(make_raw, jpy_tenant):
    order, customer = normalize_shopify(make_raw("orders/create", jp_order()), jpy_tenant)

    data = order.data
    assert data.order_id == "5923871234567890123"
    assert data.placed_at == datetime(2024, 5, 31, 12, 14, tzinfo=UTC)
    assert (data.currency, data.total, data.shipping) == ("JPY", Decimal("5460"), Decimal("600"))
    assert str(data.total) == "5460"
    line = data.lines[0]
    assert (line.sku, line.quantity, line.unit_price.amount) == ("MATCHA-100", 2, Decimal("2700"))
    assert [(d.code, d.amount.amount) for d in line.discounts] == [("WELCOME10", Decimal("540"))]
    assert data.attribution.utm_source == "line"
    assert data.attribution.utm_medium == "social"
    assert data.attribution.utm_campaign == "spring sale"
    assert data.attribution.utm_term is None
    assert data.attribution.utm_content == "banner"
    assert order.identity.email == "hanako.sato@example.jp"
    assert order.identity.phone == "+819011112222"
    assert order.identity.external_ids == {"shopify": "7000000000000000001"}
    assert order.identity.checkout_token == "chk-1"
    assert customer.data.address.postal_code == "150-0001"
    assert customer.data.address.prefecture == "東京都"
    assert customer.data.tags is None


def test_cancelled_order_keeps_reason(make_raw, jpy_tenant):
    body = jp_order(cancelled_at="2024-06-01T09:00:00+09:00", cancel_reason="customer")

    order = normalize_shopify(make_raw("orders/cancelled", body), jpy_tenant)[0]

    assert order.data.cancelled_at == datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
    assert order.data.cancel_reason == "customer"


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({}, "regular"),
        ({"tags": "定期便, LINE経由"}, "subscription"),
        ({"tags": "Subscription"}, "subscription"),
        ({"source_name": "subscription_contract"}, "subscription"),
        ({"tags": "頒布会"}, "hanpukai"),
        ({"tags": "予約商品"}, "pre_order"),
        ({"tags": "pre-order"}, "pre_order"),
        ({"tags": "予約, 定期"}, "subscription"),
    ],
)
def test_order_kind(make_raw, jpy_tenant, overrides, kind):
    order = normalize_shopify(make_raw("orders/create", jp_order(**overrides)), jpy_tenant)[0]

    assert order.data.kind == kind


def test_selling_plan_allocation_means_subscription(make_raw, jpy_tenant):
    body = jp_order()
    body["line_items"][0]["selling_plan_allocation"] = {
        "selling_plan": {"id": 123, "name": "毎月お届け"},
        "price": "2700",
    }

    order = normalize_shopify(make_raw("orders/create", body), jpy_tenant)[0]

    assert order.data.kind == "subscription"


def test_refund(make_raw, usd_tenant):
    body = {
        "id": 890088186047892319,
        "order_id": 820982911946154508,
        "created_at": "2021-12-31T19:00:00-05:00",
        "processed_at": "2021-12-31T19:00:00-05:00",
        "note": "Things were damaged",
        "restock": False,
        "refund_line_items": [
            {
                "id": 866550311766439093,
                "quantity": 1,
                "line_item_id": 866550311766439020,
                "subtotal": 195.66,
                "subtotal_set": {
                    "shop_money": {"amount": "195.66", "currency_code": "USD"},
                    "presentment_money": {"amount": "195.66", "currency_code": "USD"},
                },
            }
        ],
        "transactions": [
            {"id": 1, "kind": "refund", "status": "success", "amount": "41.94", "currency": "USD"},
            {"id": 2, "kind": "refund", "status": "failure", "amount": "9.00", "currency": "USD"},
        ],
    }

    (refund,) = normalize_shopify(make_raw("refunds/create", body), usd_tenant)

    assert refund.type == "order.refunded"
    assert refund.occurred_at == datetime(2022, 1, 1, 0, 0, tzinfo=UTC)
    assert refund.data.refund_id == "890088186047892319"
    assert refund.data.order_id == "820982911946154508"
    assert refund.data.amount.amount == Decimal("41.94")
    assert refund.data.amount.currency == "USD"
    assert refund.data.lines[0].line_id == "866550311766439020"
    assert refund.data.lines[0].subtotal.amount == Decimal("195.66")
    assert refund.data.note == "Things were damaged"


def test_customer_update_with_both_consents(make_raw, jpy_tenant):
    body = {
        "id": 706405506930370084,
        "email": "Bob@Biller.com",
        "phone": "+818012345678",
        "first_name": "Bob",
        "last_name": "Biller",
        "created_at": "2024-01-01T10:00:00+09:00",
        "updated_at": "2024-05-01T10:00:00+09:00",
        "tags": "VIP",
        "email_marketing_consent": {
            "state": "subscribed",
            "opt_in_level": "confirmed_opt_in",
            "consent_updated_at": "2024-04-30T10:00:00+09:00",
        },
        "sms_marketing_consent": {
            "state": "not_subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": None,
            "consent_collected_from": "OTHER",
        },
    }

    upserted, email, sms = normalize_shopify(make_raw("customers/update", body), jpy_tenant)

    assert upserted.data.email == "bob@biller.com"
    assert upserted.data.phone == "+818012345678"
    assert upserted.data.tags == ["VIP"]
    assert upserted.occurred_at == datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
    assert email.data.state == ConsentState.SUBSCRIBED
    assert email.occurred_at == datetime(2024, 4, 30, 1, 0, tzinfo=UTC)
    assert sms.data.state == ConsentState.NEVER
    assert sms.occurred_at == datetime(2024, 5, 1, 1, 0, tzinfo=UTC)  # no consent time


def test_customer_delete(make_raw, jpy_tenant):
    body = {
        "id": 706405506930370084,
        "phone": None,
        "addresses": [],
        "tax_exemptions": [],
        "email_marketing_consent": None,
        "admin_graphql_api_id": "gid://shopify/Customer/706405506930370084",
    }

    (deleted,) = normalize_shopify(make_raw("customers/delete", body), jpy_tenant)

    assert deleted.type == "customer.deleted"
    assert deleted.data.customer_id == "706405506930370084"
    assert deleted.identity.external_ids == {"shopify": "706405506930370084"}
    assert deleted.occurred_at == TRIGGERED_AT


def test_email_consent_topic(make_raw, jpy_tenant):
    body = {
        "customer_id": 706405506930370084,
        "email_address": "Bob@Biller.com",
        "email_marketing_consent": {
            "state": "unsubscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": "2024-05-30T10:00:00+09:00",
        },
    }

    (event,) = normalize_shopify(
        make_raw("customers/email_marketing_consent/update", body), jpy_tenant
    )

    assert event.type == "consent.changed"
    again = make_raw("customers/email_marketing_consent/update", body, "wh-2")
    assert [e.event_id for e in normalize_shopify(again, jpy_tenant)] == [event.event_id]
    assert (event.data.channel, event.data.state) == (Channel.EMAIL, ConsentState.UNSUBSCRIBED)
    assert event.data.source == "shopify"
    assert event.occurred_at == datetime(2024, 5, 30, 1, 0, tzinfo=UTC)
    assert event.identity.email == "bob@biller.com"
    assert event.identity.external_ids == {"shopify": "706405506930370084"}


def test_email_consent_topic_with_null_state_says_nothing(make_raw, jpy_tenant):
    body = {
        "customer_id": 706405506930370084,
        "email_address": None,
        "email_marketing_consent": {
            "state": None,
            "opt_in_level": None,
            "consent_updated_at": None,
        },
    }

    assert (
        normalize_shopify(make_raw("customers/email_marketing_consent/update", body), jpy_tenant)
        == []
    )


def test_sms_consent_topic(make_raw, jpy_tenant):
    body = {
        "id": 706405506930370084,
        "phone": "080-1234-5678",
        "sms_marketing_consent": {
            "state": "subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": None,
            "consent_collected_from": "SHOPIFY",
        },
    }

    (event,) = normalize_shopify(make_raw("customers_marketing_consent/update", body), jpy_tenant)

    assert (event.data.channel, event.data.state) == (Channel.SMS, ConsentState.SUBSCRIBED)
    assert event.identity.phone == "+818012345678"
    assert event.occurred_at == TRIGGERED_AT
    again = make_raw("customers_marketing_consent/update", body, "wh-2")
    assert [e.event_id for e in normalize_shopify(again, jpy_tenant)] == [event.event_id]


def _gdpr_customer():
    return {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"}


def test_customers_redact(make_raw, jpy_tenant):
    body = {
        "shop_id": 954889,
        "shop_domain": SHOP,
        "customer": _gdpr_customer(),
        "orders_to_redact": [299938, 280263, 220458],
    }

    (event,) = normalize_shopify(make_raw("customers/redact", body, "wh-9"), jpy_tenant)

    assert event.type == "privacy.redact_requested"
    assert event.data.request_id == "ev-1"  # Shopify's event id: one request per event
    assert event.data.customer_id == "191167"
    assert event.data.orders == ["299938", "280263", "220458"]
    assert event.identity.email == "john@example.com"
    assert event.identity.phone == "+815556251199"  # no country given: read as Japanese


def test_customers_data_request(make_raw, jpy_tenant):
    body = {
        "shop_id": 954889,
        "shop_domain": SHOP,
        "orders_requested": [299938],
        "customer": _gdpr_customer(),
        "data_request": {"id": 9999},
    }

    (event,) = normalize_shopify(make_raw("customers/data_request", body), jpy_tenant)

    assert event.type == "privacy.export_requested"
    assert (event.data.request_id, event.data.orders) == ("9999", ["299938"])


def test_shop_redact(make_raw, jpy_tenant):
    body = {"shop_id": 954889, "shop_domain": SHOP}

    (event,) = normalize_shopify(make_raw("shop/redact", body), jpy_tenant)

    assert event.type == "tenant.redact_requested"
    assert (event.data.shop_domain, event.data.reason) == (SHOP, "shop/redact")
    assert event.identity.is_empty()


def test_app_uninstalled(make_raw, jpy_tenant):
    body = {
        "id": 548380009,
        "name": "Super Toys",
        "email": "super@supertoys.com",
        "domain": None,
        "myshopify_domain": "jsmith.myshopify.com",
    }

    (event,) = normalize_shopify(make_raw("app/uninstalled", body), jpy_tenant)

    assert event.type == "tenant.uninstalled"
    assert (event.data.shop_domain, event.data.reason) == (
        "jsmith.myshopify.com",
        "app/uninstalled",
    )
    assert event.occurred_at == TRIGGERED_AT
