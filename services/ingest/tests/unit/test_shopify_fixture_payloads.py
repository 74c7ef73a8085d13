"""The real Shopify sample bodies, in the older API shape and as 2025-01 would send them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from crm_common.events import stable_event_id
from crm_common.events.customers import Channel, ConsentState
from crm_ingest.domain import normalize_shopify

SHOP = "jp-tea.myshopify.com"
RECEIVED_AT = datetime(2024, 6, 1, 3, 0, tzinfo=UTC)


def _strip_2025_customer(body):
    """API 2025-01: embedded customers lose tags, consent and order statistics."""
    for key in (
        "tags",
        "accepts_marketing",
        "email_marketing_consent",
        "sms_marketing_consent",
        "orders_count",
        "total_spent",
        "last_order_id",
        "last_order_name",
    ):
        body["customer"].pop(key, None)
    return body


def test_order_fixture_becomes_order_placed(load_fixture, make_raw, usd_tenant):
    events = normalize_shopify(make_raw("orders/create", load_fixture("order.json")), usd_tenant)

    assert [e.type for e in events] == ["order.placed", "customer.upserted", "consent.changed"]
    order = events[0]
    assert order.event_id == stable_event_id(
        "t-usd", "shopify", "order.placed", "once", "450789469"
    )
    assert order.tenant_id == "t-usd"
    assert order.source == "shopify"
    assert order.occurred_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)
    assert order.received_at == RECEIVED_AT
    data = order.data
    assert data.order_id == "450789469"
    assert data.order_number == "#1001"
    assert data.kind == "regular"
    assert data.placed_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)
    assert data.currency == "USD"
    assert data.total == Decimal("409.94")
    assert data.subtotal == Decimal("398.00")
    assert data.total_tax == Decimal("11.94")
    assert data.total_discounts == Decimal("0.00")
    assert data.shipping == Decimal("0.00")
    assert data.financial_status == "authorized"
    assert data.fulfillment_status is None
    assert data.cart_token == "68778783ad298f1c80c3bafcddeea02f"
    assert data.checkout_token is None
    assert data.tags == []
    assert len(data.lines) == 3
    first = data.lines[0]
    assert (first.line_id, first.product_id, first.variant_id) == (
        "466157049",
        "632910392",
        "39072856",
    )
    assert first.sku == "IPOD2008GREEN"
    assert first.title == "IPod Nano - 8gb"
    assert first.quantity == 1
    assert first.unit_price.amount == Decimal("199.00")
    assert first.unit_price.currency == "USD"
    assert first.discounts == []
    assert [line.sku for line in data.lines] == ["IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"]
    attribution = data.attribution
    assert attribution.landing_site == "http://www.example.com?source=abc"
    assert attribution.referring_site == "http://www.otherexample.com"
    assert attribution.source_name == "web"
    assert attribution.utm_source is None
    assert attribution.utm_campaign is None
    assert order.identity.email == "bob.norman@hostmail.com"
    assert order.identity.external_ids == {"shopify": "207119551"}
    assert order.identity.phone is None
    assert order.identity.cart_token == "68778783ad298f1c80c3bafcddeea02f"


def test_order_fixture_embedded_customer_old_shape(load_fixture, make_raw, usd_tenant):
    _, customer, consent = normalize_shopify(
        make_raw("orders/create", load_fixture("order.json")), usd_tenant
    )

    assert customer.occurred_at == datetime(2014, 1, 22, 20, 58, 27, tzinfo=UTC)
    assert customer.data.customer_id == "207119551"
    assert customer.data.email == "bob.norman@hostmail.com"
    assert (customer.data.first_name, customer.data.last_name) == ("Bob", "Norman")
    assert customer.data.tags == []
    assert customer.data.consents == []
    assert customer.data.address.postal_code == "40202"
    assert customer.data.address.prefecture == "Kentucky"
    assert customer.data.address.country_code == "US"
    assert consent.data.channel == Channel.EMAIL
    assert consent.data.state == ConsentState.NEVER  # accepts_marketing: false
    assert consent.data.collected_at is None
    assert consent.identity.external_ids == {"shopify": "207119551"}


def test_order_fixture_in_2025_shape_emits_no_consent(load_fixture, make_raw, usd_tenant):
    body = _strip_2025_customer(load_fixture("order.json"))

    events = normalize_shopify(make_raw("orders/create", body), usd_tenant)

    assert [e.type for e in events] == ["order.placed", "customer.upserted"]
    assert events[1].data.tags is None  # not told, which is not "no tags"
    assert events[1].data.email == "bob.norman@hostmail.com"
    assert events[0].data.total == Decimal("409.94")


def test_order_with_consent_objects_and_tags(load_fixture, make_raw, usd_tenant):
    body = load_fixture("order.json")
    body["customer"]["tags"] = "VIP, 定期会員"
    body["customer"]["email_marketing_consent"] = {
        "state": "subscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2014-01-20T10:00:00-05:00",
    }
    body["customer"]["sms_marketing_consent"] = {
        "state": "unsubscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2014-01-21T10:00:00+09:00",
        "consent_collected_from": "OTHER",
    }

    _, customer, email, sms = normalize_shopify(make_raw("orders/paid", body), usd_tenant)

    assert customer.data.tags == ["VIP", "定期会員"]
    assert (email.data.channel, email.data.state) == (Channel.EMAIL, ConsentState.SUBSCRIBED)
    assert email.data.collected_at == datetime(2014, 1, 20, 15, 0, tzinfo=UTC)
    assert email.occurred_at == datetime(2014, 1, 20, 15, 0, tzinfo=UTC)
    assert (sms.data.channel, sms.data.state) == (Channel.SMS, ConsentState.UNSUBSCRIBED)
    assert sms.data.collected_at == datetime(2014, 1, 21, 1, 0, tzinfo=UTC)
    assert len({customer.event_id, email.event_id, sms.event_id}) == 3


def test_checkout_fixture(load_fixture, make_raw, usd_tenant):
    events = normalize_shopify(
        make_raw("checkouts/update", load_fixture("checkout.json")), usd_tenant
    )

    assert [e.type for e in events] == ["checkout.updated", "customer.upserted", "consent.changed"]
    checkout = events[0]
    assert checkout.occurred_at == datetime(2012, 10, 12, 11, 5, 27, tzinfo=UTC)
    data = checkout.data
    assert data.checkout_token == "2a1ace52255252df566af0faaedfbfa7"
    assert data.cart_token == "68778783ad298f1c80c3bafcddeea02f"
    assert str(data.recovery_url) == (
        "https://checkout.local/orders/690933842/2a1ace52255252df566af0faaedfbfa7?recovered=1"
    )
    assert data.currency == "USD"
    assert data.total == Decimal("409.94")
    assert data.started_at == datetime(2012, 10, 12, 11, 5, 27, tzinfo=UTC)
    assert data.completed_at is None
    assert len(data.lines) == 2
    assert data.lines[0].sku == "IPOD2008RED"
    assert data.lines[0].unit_price.amount == Decimal("199.00")
    assert data.lines[0].quantity == 1
    assert data.lines[1].variant_id == "808950810"
    assert checkout.identity.email == "bob.norman@hostmail.com"
    assert checkout.identity.checkout_token == "2a1ace52255252df566af0faaedfbfa7"
    assert checkout.identity.external_ids == {"shopify": "207119551"}
    assert events[1].occurred_at == datetime(2014, 3, 7, 21, 12, 37, tzinfo=UTC)


def test_checkout_fixture_in_2025_shape(load_fixture, make_raw, usd_tenant):
    body = _strip_2025_customer(load_fixture("checkout.json"))

    events = normalize_shopify(make_raw("checkouts/create", body), usd_tenant)

    assert [e.type for e in events] == ["checkout.started", "customer.upserted"]
    assert events[0].data.total == Decimal("409.94")


def test_cart_fixture_in_shop_currency(load_fixture, make_raw, usd_tenant, jpy_tenant):
    usd = normalize_shopify(make_raw("carts/update", load_fixture("cart.json")), usd_tenant)
    jpy = normalize_shopify(make_raw("carts/create", load_fixture("cart.json")), jpy_tenant)

    (cart,) = usd
    assert cart.type == "cart.updated"
    assert cart.identity.cart_token == "3eed8183d4281db6ea82ee2b8f23e9cc"
    assert cart.identity.external_ids == {}
    assert cart.occurred_at == datetime(2012, 2, 13, 19, 39, 37, tzinfo=UTC)
    assert cart.data.cart_token == "3eed8183d4281db6ea82ee2b8f23e9cc"
    assert cart.data.currency == "USD"
    assert len(cart.data.lines) == 1
    line = cart.data.lines[0]
    assert (line.line_id, line.variant_id, line.sku, line.title) == ("1", "1", None, "test")
    assert line.unit_price.amount == Decimal("1.00")
    assert str(jpy[0].data.lines[0].unit_price.amount) == "1"  # JPY has no minor unit
    assert jpy[0].data.currency == "JPY"


def test_customer_fixture(load_fixture, make_raw, usd_tenant):
    upserted, consent = normalize_shopify(
        make_raw("customers/create", load_fixture("customer.json")), usd_tenant
    )

    assert upserted.type == "customer.upserted"
    assert upserted.occurred_at == datetime(2015, 5, 27, 22, 11, 24, tzinfo=UTC)
    assert upserted.identity.external_ids == {"shopify": "207119551"}
    assert upserted.identity.email == "bob.norman@hostmail.com"
    data = upserted.data
    assert data.customer_id == "207119551"
    assert (data.first_name, data.last_name) == ("Bob", "Norman")
    assert data.tags == []
    assert data.created_at == datetime(2015, 5, 27, 22, 11, 24, tzinfo=UTC)
    assert data.properties == {"state": "disabled", "verified_email": True}
    assert data.address.address1 == "Chestnut Street 92"
    assert data.address.city == "Louisville"
    assert data.address.address2 is None
    assert consent.type == "consent.changed"
    assert (consent.data.channel, consent.data.state) == (Channel.EMAIL, ConsentState.NEVER)
