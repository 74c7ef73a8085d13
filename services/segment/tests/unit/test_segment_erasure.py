"""What an erasure leaves of stored event properties (crm_segment.domain.erasure)."""

from __future__ import annotations

from crm_segment.domain.erasure import scrub_properties

ORDER = {
    "order_id": "o-1",
    "total": "5400",
    "currency": "JPY",
    "placed_at": "2026-11-20T01:00:00Z",
    "lines": [
        {
            "product_id": "p-1",
            "title": "緑茶",
            "quantity": 2,
            "unit_price": {"amount": "2700", "currency": "JPY"},
        }
    ],
    "tags": ["gift"],
}


def test_an_order_keeps_everything_event_conditions_select_on() -> None:
    assert scrub_properties("order.placed", ORDER) == ORDER


def test_a_customer_keeps_ids_consents_tags_and_times_only() -> None:
    customer = {
        "customer_id": "c-1",
        "email": "saki@example.jp",
        "phone": "+819011112222",
        "first_name": "紗希",
        "last_name": "冴木",
        "first_name_kana": "サキ",
        "birthday": "1990-04-01",
        "gender": "female",
        "address": {"postal_code": "150-0041", "city": "渋谷区神南"},
        "tags": ["vip"],
        "consents": [{"channel": "email", "state": "subscribed"}],
        "properties": {"line_user_id": "U1", "memo": "二階の奥"},
        "updated_at": "2026-11-20T01:00:00Z",
    }
    assert scrub_properties("customer.upserted", customer) == {
        "customer_id": "c-1",
        "gender": "female",
        "tags": ["vip"],
        "consents": [{"channel": "email", "state": "subscribed"}],
        "updated_at": "2026-11-20T01:00:00Z",
    }


def test_free_text_goes_from_refunds_and_custom_events() -> None:
    refund = {"refund_id": "r-1", "order_id": "o-1", "note": "冴木様より電話", "lines": []}
    assert scrub_properties("order.refunded", refund) == {
        "refund_id": "r-1",
        "order_id": "o-1",
        "lines": [],
    }
    custom = {"name": "review.posted", "properties": {"text": "冴木です", "stars": 5}}
    assert scrub_properties("custom", custom) == {"name": "review.posted"}


def test_contact_fields_go_at_any_depth_and_unknown_types_keep_ids_and_times() -> None:
    nested = {"order_id": "o-2", "shipping": {"email": "x@example.jp", "city": "渋谷区"}}
    assert scrub_properties("order.updated", nested) == {
        "order_id": "o-2",
        "shipping": {"city": "渋谷区"},
    }
    unknown = {"thing_id": "t-1", "seen_at": "2026-11-20T01:00:00Z", "comment": "冴木"}
    assert scrub_properties("loyalty.changed", unknown) == {
        "thing_id": "t-1",
        "seen_at": "2026-11-20T01:00:00Z",
    }


def test_scrubbing_is_idempotent_and_leaves_the_input_alone() -> None:
    customer = {"customer_id": "c-1", "email": "saki@example.jp"}
    once = scrub_properties("customer.upserted", customer)
    assert scrub_properties("customer.upserted", once) == once == {"customer_id": "c-1"}
    assert customer["email"] == "saki@example.jp"
