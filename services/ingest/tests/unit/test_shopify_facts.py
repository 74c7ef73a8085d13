"""Shopify: one business fact is one event whatever delivered it, and the checkout's
opt-in box is an e-mail consent."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from crm_common.events.customers import Channel, ConsentState
from crm_ingest.domain import normalize_shopify
from crm_ingest.domain.facts import first_news, tellings


def _replayed(raw, webhook_id: str, event_id: str | None, days: int = 3):
    """The same body as another delivery: a duplicate subscription (same Shopify event
    id), or a replay tool (new event id, or none) days later."""
    later = raw.received_at + timedelta(days=days)
    return dataclasses.replace(raw, webhook_id=webhook_id, event_id=event_id, received_at=later)


def _ids(events):
    return [e.event_id for e in events]


def test_one_order_body_under_three_deliveries_is_one_set_of_events(
    load_fixture, make_raw, usd_tenant
):
    raw = make_raw("orders/create", load_fixture("order.json"))

    first = normalize_shopify(raw, usd_tenant)
    duplicate = normalize_shopify(_replayed(raw, "wh-dup", "ev-1"), usd_tenant)
    replay = normalize_shopify(_replayed(raw, "wh-replay", None, days=40), usd_tenant)

    assert [e.type for e in first] == ["order.placed", "customer.upserted", "consent.changed"]
    assert _ids(first) == _ids(duplicate) == _ids(replay)


def test_a_changed_order_is_a_new_state_but_the_same_placement(load_fixture, make_raw, usd_tenant):
    body = load_fixture("order.json")
    placed, *_ = normalize_shopify(make_raw("orders/create", body), usd_tenant)
    updated, *_ = normalize_shopify(make_raw("orders/updated", body, "wh-2"), usd_tenant)
    paid, *_ = normalize_shopify(make_raw("orders/paid", body, "wh-3"), usd_tenant)
    body["updated_at"] = "2008-01-11T10:00:00-05:00"
    body["financial_status"] = "refunded"
    changed, *_ = normalize_shopify(make_raw("orders/updated", body, "wh-4"), usd_tenant)
    created_again, *_ = normalize_shopify(make_raw("orders/create", body, "wh-5"), usd_tenant)

    assert len({placed.event_id, updated.event_id, paid.event_id, changed.event_id}) == 4
    assert created_again.event_id == placed.event_id  # an order is placed once


def test_a_placement_told_again_with_other_content_is_told_as_the_new_state(
    load_fixture, make_raw, usd_tenant
):
    body = load_fixture("order.json")
    placed = normalize_shopify(make_raw("orders/create", body), usd_tenant)[0]
    body["total_price"] = "1.00"
    body["updated_at"] = "2008-01-11T10:00:00-05:00"
    again = normalize_shopify(make_raw("orders/create", body, "wh-2"), usd_tenant)[0]
    first_tellings = tellings(placed, placed.received_at)
    later_tellings = tellings(again, again.received_at)
    published = set(_ids(first_tellings))  # the first delivery claimed both

    news = first_news([later_tellings], set(_ids(later_tellings)) - published)

    assert [(e.type, str(e.data.total)) for e in news] == [("order.updated", "1.00")]
    assert first_news([first_tellings], set()) == []  # the same body again: nothing new


def test_a_consent_stated_again_later_is_a_new_fact(make_raw, jpy_tenant):
    def consent(state: str, at: str):
        body = {
            "customer_id": 706405506930370084,
            "email_address": "bob@biller.com",
            "email_marketing_consent": {"state": state, "consent_updated_at": at},
        }
        raw = make_raw("customers/email_marketing_consent/update", body, f"wh-{state}-{at}")
        return normalize_shopify(raw, jpy_tenant)[0].event_id

    ids = [
        consent("subscribed", "2024-05-01T10:00:00+09:00"),
        consent("unsubscribed", "2024-05-02T10:00:00+09:00"),
        consent("subscribed", "2024-05-03T10:00:00+09:00"),
        consent("subscribed", "2024-05-03T10:00:00+09:00"),  # the last one delivered twice
    ]

    assert len(set(ids)) == 3


def test_an_app_uninstalled_twice_is_two_facts(make_raw, jpy_tenant):
    body = {"id": 548380009, "myshopify_domain": "jp-tea.myshopify.com"}
    raw = make_raw("app/uninstalled", body)

    (first,) = normalize_shopify(raw, jpy_tenant)
    (duplicate,) = normalize_shopify(_replayed(raw, "wh-dup", "ev-1"), jpy_tenant)
    (second,) = normalize_shopify(_replayed(raw, "wh-later", "ev-2", days=90), jpy_tenant)

    assert first.event_id == duplicate.event_id != second.event_id


def _opt_ins(events):
    return [
        e for e in events if e.type == "consent.changed" and e.data.source == "shopify_checkout"
    ]


def test_the_checkout_opt_in_on_an_order_is_email_consent_in_both_shapes(
    load_fixture, make_raw, usd_tenant
):
    old = load_fixture("order.json")
    new = load_fixture("order.json")
    for key in ("accepts_marketing", "email_marketing_consent", "sms_marketing_consent"):
        new["customer"].pop(key, None)  # API 2025-01: no consent on embedded customers
    for body in (old, new):
        body["buyer_accepts_marketing"] = True

        events = normalize_shopify(make_raw("orders/create", body), usd_tenant)

        (opt_in,) = _opt_ins(events)
        order = events[0]
        assert (opt_in.data.channel, opt_in.data.state) == (Channel.EMAIL, ConsentState.SUBSCRIBED)
        assert opt_in.data.collected_at == order.data.placed_at  # the time of the order
        assert opt_in.occurred_at == order.data.placed_at
        assert opt_in.identity.email == "bob.norman@hostmail.com"
        assert opt_in.identity.external_ids == {"shopify": "207119551"}


def test_the_opt_in_of_an_order_is_one_fact_across_its_webhooks(load_fixture, make_raw, usd_tenant):
    body = load_fixture("order.json")
    body["buyer_accepts_marketing"] = True

    created = _opt_ins(normalize_shopify(make_raw("orders/create", body), usd_tenant))
    body["fulfillment_status"] = "fulfilled"
    body["updated_at"] = "2008-01-20T10:00:00-05:00"
    fulfilled = _opt_ins(normalize_shopify(make_raw("orders/fulfilled", body, "wh-9"), usd_tenant))

    assert _ids(created) == _ids(fulfilled)  # still the box ticked when ordering


def test_an_unticked_box_or_an_order_without_email_says_nothing(load_fixture, make_raw, usd_tenant):
    unticked = load_fixture("order.json")
    no_email = load_fixture("order.json")
    no_email["buyer_accepts_marketing"] = True
    for key in ("email", "contact_email"):
        no_email.pop(key, None)
    no_email["customer"]["email"] = None

    for body in (unticked, no_email):
        assert _opt_ins(normalize_shopify(make_raw("orders/create", body), usd_tenant)) == []


def test_the_checkout_opt_ins_on_a_checkout(load_fixture, make_raw, usd_tenant):
    body = load_fixture("checkout.json")
    body["buyer_accepts_marketing"] = True
    body["buyer_accepts_sms_marketing"] = True
    body["phone"] = "+81 90-1234-5678"

    events = normalize_shopify(make_raw("checkouts/update", body), usd_tenant)

    channels = {e.data.channel: e for e in _opt_ins(events)}
    assert set(channels) == {Channel.EMAIL, Channel.SMS}
    assert channels[Channel.SMS].identity.phone == "+819012345678"
    assert channels[Channel.EMAIL].data.collected_at == events[0].occurred_at


def test_checkout_opt_in_times_are_utc(load_fixture, make_raw, usd_tenant):
    body = load_fixture("order.json")
    body["buyer_accepts_marketing"] = True

    (opt_in,) = _opt_ins(normalize_shopify(make_raw("orders/create", body), usd_tenant))

    assert opt_in.data.collected_at.tzinfo == UTC
    assert opt_in.data.collected_at < datetime(2009, 1, 1, tzinfo=UTC)
