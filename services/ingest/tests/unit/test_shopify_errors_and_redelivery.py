"""Payloads that cannot be normalized, and redelivery giving the same events."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_ingest.domain import NormalizationError, normalize_shopify


def _set(body, path, value):
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("line_items", 0, "price"), "abc", "line_items[0].price: not a decimal: 'abc'"),
        (("line_items", 1, "quantity"), "2", "line_items[1].quantity: not an integer: '2'"),
        (("line_items", 2, "sku"), 12, "line_items[2].sku: expected a string, got number"),
        (("total_price",), [1], "total_price: not a decimal: [1]"),
        (("total_price",), None, "total_price: missing"),
        (("id",), 1.5, "id: not an id: 1.5"),
        (("customer", "id"), True, "customer.id: not an id: True"),
        (("created_at",), "yesterday", "created_at: not a timestamp: 'yesterday'"),
        (
            ("updated_at",),
            "2024-01-01T00:00:00",
            "updated_at: timestamp without UTC offset: '2024-01-01T00:00:00'",
        ),
        (("currency",), "usd", "currency: not an ISO 4217 code: 'usd'"),
        (("line_items",), {}, "line_items: expected an array, got object"),
        (("line_items", 0), "x", "line_items[0]: expected an object, got string"),
        (("customer",), "bob", "customer: expected an object, got string"),
        (
            ("customer", "email_marketing_consent"),
            {"state": "maybe"},
            "customer.email_marketing_consent.state: unknown consent state: 'maybe'",
        ),
    ],
)
def test_wrong_field_names_the_path(load_fixture, make_raw, usd_tenant, path, value, message):
    body = _set(load_fixture("order.json"), path, value)

    with pytest.raises(NormalizationError) as caught:
        normalize_shopify(make_raw("orders/create", body), usd_tenant)

    assert str(caught.value) == message
    assert caught.value.reason == message


def test_jpy_amount_with_fraction_is_refused(load_fixture, make_raw, jpy_tenant):
    body = load_fixture("order.json")
    body["currency"] = "JPY"

    with pytest.raises(NormalizationError) as caught:
        normalize_shopify(make_raw("orders/create", body), jpy_tenant)

    # "398.00" is a whole yen amount and passes; the first real fraction is refused
    assert str(caught.value) == "total_tax: more decimal places than JPY allows: '11.94'"


def test_unsupported_topic(make_raw, usd_tenant):
    with pytest.raises(NormalizationError) as caught:
        normalize_shopify(make_raw("products/create", {"id": 1}), usd_tenant)

    assert str(caught.value) == "topic: unsupported topic: 'products/create'"


def test_checkout_with_bad_recovery_url(load_fixture, make_raw, usd_tenant):
    body = load_fixture("checkout.json")
    body["abandoned_checkout_url"] = "not a url"

    with pytest.raises(NormalizationError) as caught:
        normalize_shopify(make_raw("checkouts/update", body), usd_tenant)

    assert str(caught.value) == "abandoned_checkout_url: not a URL: 'not a url'"


def test_cart_without_token(load_fixture, make_raw, usd_tenant):
    body = load_fixture("cart.json")
    del body["token"]

    with pytest.raises(NormalizationError) as caught:
        normalize_shopify(make_raw("carts/update", body), usd_tenant)

    assert str(caught.value) == "token: missing"


def test_gdpr_order_ids_must_be_ids(make_raw, usd_tenant):
    body = {"shop_domain": "x.myshopify.com", "customer": {"id": 1}, "orders_to_redact": [1, None]}

    with pytest.raises(NormalizationError) as caught:
        normalize_shopify(make_raw("customers/redact", body), usd_tenant)

    assert str(caught.value) == "orders_to_redact[1]: not an id: None"


_money = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False).map(str)
_line = st.fixed_dictionaries(
    {
        "id": st.integers(min_value=1, max_value=2**63 - 1),
        "title": st.text(min_size=1, max_size=20).filter(str.strip),
        "sku": st.one_of(st.none(), st.text(max_size=12)),
        "quantity": st.integers(min_value=0, max_value=99),
        "price": _money,
    }
)
_order_topics = st.sampled_from(
    ["orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled"]
)


@settings(max_examples=60, deadline=None)
@given(
    topic=_order_topics,
    webhook_id=st.uuids().map(str),
    order_id=st.integers(min_value=1, max_value=2**63 - 1),
    lines=st.lists(_line, max_size=4),
    total=_money,
    tags=st.lists(st.sampled_from(["定期", "予約", "VIP", "頒布会", "gift"]), max_size=3),
    delay=st.integers(min_value=0, max_value=72 * 3600),
    accepts_marketing=st.booleans(),
)
def test_redelivered_webhook_gives_identical_events(
    make_raw, usd_tenant, topic, webhook_id, order_id, lines, total, tags, delay, accepts_marketing
):
    body = {
        "id": order_id,
        "created_at": "2024-05-31T21:15:00+09:00",
        "currency": "USD",
        "total_price": total,
        "tags": ", ".join(tags),
        "line_items": lines,
        "customer": {"id": 42, "email": "A@B.jp", "accepts_marketing": accepts_marketing},
    }
    first = make_raw(topic, body, webhook_id)
    again = make_raw(topic, copy.deepcopy(body), webhook_id)

    once = normalize_shopify(first, usd_tenant)
    twice = normalize_shopify(again, usd_tenant)
    later = normalize_shopify(
        dataclasses.replace(first, received_at=first.received_at + timedelta(seconds=delay)),
        usd_tenant,
    )

    assert once == twice
    assert [e.event_id for e in later] == [e.event_id for e in once]
    assert [e.data for e in later] == [e.data for e in once]
    assert len({e.event_id for e in once}) == len(once) == 3
    assert all(e.occurred_at == datetime(2024, 5, 31, 12, 15, tzinfo=UTC) for e in once[:1])
