"""The generic cart event API: one event, and batches with some invalid events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_common.events import stable_event_id
from crm_ingest.domain import (
    MAX_BATCH,
    BatchTooLarge,
    InvalidEvent,
    parse_batch,
    parse_generic_event,
)

NOW = datetime(2024, 6, 1, 3, 0, tzinfo=UTC)
CONTEXT = {"tenant_id": "t-jp", "source": "makeshop", "received_at": NOW}


def order_event(client_id="ms-1001", **data_overrides):
    data = {
        "order_id": "1001",
        "kind": "頒布会",
        "placed_at": "2024-05-31T21:14:00+09:00",
        "currency": "JPY",
        "total": "3980",
        "lines": [
            {"sku": "TEA-A", "title": "季節のお茶", "quantity": 1,
             "unit_price": {"amount": "3980", "currency": "JPY"}}
        ],
    }  # fmt: skip
    data.update(data_overrides)
    return {
        "event_id": client_id,
        "type": "order.placed",
        "occurred_at": "2024-05-31T21:14:00+09:00",
        "identity": {"email": " Hanako@Example.JP ", "external_ids": {"makeshop": "u-77"}},
        "data": data,
    }


def test_valid_order_event():
    event = parse_generic_event(order_event(), **CONTEXT)

    assert event.type == "order.placed"
    assert event.event_id == stable_event_id("t-jp", "makeshop", "order.placed", "once", "1001")
    assert (event.tenant_id, event.source, event.received_at) == ("t-jp", "makeshop", NOW)
    assert event.occurred_at == datetime(2024, 5, 31, 12, 14, tzinfo=UTC)
    assert event.identity.email == "hanako@example.jp"
    assert event.identity.external_ids == {"makeshop": "u-77"}
    assert event.data.kind == "hanpukai"
    assert event.data.total == Decimal("3980")
    assert event.data.lines[0].unit_price.amount == Decimal("3980")


@pytest.mark.parametrize(
    ("written", "kind"),
    [
        ("定期", "subscription"),
        ("予約", "pre_order"),
        ("通常", "regular"),
        ("subscription", "subscription"),
    ],
)
def test_japanese_order_kinds(written, kind):
    assert parse_generic_event(order_event(kind=written), **CONTEXT).data.kind == kind


def test_customer_event_normalizes_contact_fields():
    item = {
        "event_id": "c-1",
        "type": "customer.upserted",
        "occurred_at": "2024-05-31T21:14:00+09:00",
        "identity": {"phone": "０９０－１２３４－５６７８"},
        "data": {"customer_id": "u-77", "email": "TARO@EXAMPLE.COM", "phone": "090 1234 5678"},
    }

    event = parse_generic_event(item, **CONTEXT)

    assert event.identity.phone == "+819012345678"
    assert (event.data.email, event.data.phone) == ("taro@example.com", "+819012345678")


@pytest.mark.parametrize(
    ("item", "errors"),
    [
        (order_event(total="abc"), [("data.total", "Input should be a valid decimal")]),
        (
            {**order_event(), "occurred_at": "2024-05-31T21:14:00"},
            [("occurred_at", "Input should have timezone info")],
        ),
        (
            {**order_event(), "identity": {"email": "not-an-email"}},
            [("identity.email", "Input should be a valid email address")],
        ),
        (
            {**order_event(), "identity": {}},
            [
                (
                    "identity",
                    "At least one of email, phone, external_ids, anonymous_id, cart_token "
                    "or checkout_token is required",
                )
            ],
        ),
        (
            {**order_event(), "tenant_id": "other"},
            [("tenant_id", "Extra inputs are not permitted")],
        ),
        (
            {k: v for k, v in order_event().items() if k != "event_id"},
            [("event_id", "Field required")],
        ),
        ("not an object", [("(root)", "Input should be an object")]),
    ],
)
def test_invalid_event_lists_every_problem(item, errors):
    with pytest.raises(InvalidEvent) as caught:
        parse_generic_event(item, **CONTEXT)

    assert caught.value.errors == errors


def test_unsupported_type():
    with pytest.raises(InvalidEvent) as caught:
        parse_generic_event({**order_event(), "type": "tenant.uninstalled"}, **CONTEXT)

    [(path, message)] = caught.value.errors
    assert path == "type"
    assert message == (
        "Unsupported event type 'tenant.uninstalled'; expected one of cart.updated, "
        "checkout.started, checkout.updated, consent.changed, custom, customer.deleted, "
        "customer.upserted, order.cancelled, order.fulfilled, order.paid, order.placed, "
        "order.refunded, order.updated, subscription.cancelled, subscription.started"
    )


def test_batch_with_some_invalid_events():
    lines_bad = order_event("ms-3")
    lines_bad["data"]["lines"][0]["quantity"] = -1
    lines_bad["data"]["lines"][0]["unit_price"]["amount"] = "x"
    items = [
        order_event("ms-1"),
        order_event("ms-2", total="abc"),
        lines_bad,
        order_event("ms-1"),
        42,
        order_event("ms-2"),  # its first attempt was rejected, so this one is not a duplicate
    ]

    accepted, rejected = parse_batch(items, **CONTEXT)

    assert [index for index, _ in accepted] == [0, 5]
    assert accepted[0][1].event_id == stable_event_id(
        "t-jp", "makeshop", "order.placed", "once", "1001"
    )
    assert rejected == [
        (1, "data.total", "Input should be a valid decimal"),
        (2, "data.lines[0].quantity", "Input should be greater than or equal to 0"),
        (2, "data.lines[0].unit_price.amount", "Input should be a valid decimal"),
        (3, "event_id", "Duplicate of the event at index 0"),
        (4, "(root)", "Input should be an object"),
    ]


def test_batch_limit():
    assert parse_batch([order_event(f"id-{i}") for i in range(3)], **CONTEXT)[1] == []
    with pytest.raises(BatchTooLarge):
        parse_batch([{}] * (MAX_BATCH + 1), **CONTEXT)


@given(client_id=st.text(min_size=1, max_size=200))
def test_client_retry_keeps_the_event_id(client_id):
    first = parse_generic_event(order_event(client_id), **CONTEXT)
    retry = parse_generic_event(
        order_event(client_id), **{**CONTEXT, "received_at": NOW.replace(hour=9)}
    )

    assert first.event_id == retry.event_id
    assert first.data == retry.data


@given(first_id=st.text(min_size=1, max_size=200), second_id=st.text(min_size=1, max_size=200))
def test_one_order_under_two_client_ids_is_one_fact(first_id, second_id):
    first = parse_generic_event(order_event(first_id), **CONTEXT)
    second = parse_generic_event(order_event(second_id), **CONTEXT)

    assert first.event_id == second.event_id


def _custom(client_id: str) -> dict:
    return {
        "event_id": client_id,
        "type": "custom",
        "occurred_at": "2024-05-31T21:14:00+09:00",
        "identity": {"email": "a@example.jp"},
        "data": {"name": "viewed_product", "properties": {"sku": "TEA-A"}},
    }


def test_custom_events_are_named_by_the_client_id():
    one, retry, other = (parse_generic_event(_custom(c), **CONTEXT) for c in ("v-1", "v-1", "v-2"))

    assert one.event_id == retry.event_id != other.event_id


def test_an_order_update_is_a_fact_per_state_and_time():
    def update(client_id: str, status: str, at: str):
        item = order_event(client_id, financial_status=status)
        item.update(type="order.updated", occurred_at=at)
        return parse_generic_event(item, **CONTEXT).event_id

    paid = update("u-1", "paid", "2024-06-01T10:00:00+09:00")
    paid_again = update("u-2", "paid", "2024-06-01T10:00:00+09:00")
    refunded = update("u-3", "refunded", "2024-06-02T10:00:00+09:00")

    assert paid == paid_again != refunded


def test_an_order_over_the_lines_cap_is_rejected_with_the_cap():
    line = order_event()["data"]["lines"][0]
    item = order_event(lines=[line] * 5_001)

    with pytest.raises(InvalidEvent) as caught:
        parse_generic_event(item, **CONTEXT)

    assert caught.value.errors == [
        ("data.lines", "5,001 lines; at most 5,000 lines per order are accepted")
    ]
