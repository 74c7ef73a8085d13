"""The checkout's opt-in box, from a real Shopify order to the profile's consent.

Pure (no engines): the ingest normalizer's output folded by the profile's consent
rules, in every arrival order, as the pipeline would apply it.
"""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crm_common.events.customers import Channel, ConsentState
from crm_ingest.domain import RawWebhook, TenantContext, normalize_shopify
from crm_profile.domain.consent import Permissions, apply_consent_event

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
TENANT = TenantContext("t-jp")
SHOP = "jp-tea.myshopify.com"


def _deliver(topic: str, body: dict[str, Any], webhook_id: str) -> list[Any]:
    raw = RawWebhook(
        shop_domain=SHOP,
        topic=topic,
        webhook_id=webhook_id,
        event_id=f"ev-{webhook_id}",
        received_at=datetime(2026, 12, 1, tzinfo=UTC),
        body=body,
    )
    return normalize_shopify(raw, TENANT)


def _order(api_2025: bool) -> dict[str, Any]:
    body = json.loads((FIXTURES / "order.json").read_text(encoding="utf-8"))
    body["buyer_accepts_marketing"] = True  # the box ticked at checkout, 2008-01-10
    # The older shape also embeds the customer, whom Shopify then shows as accepting
    # marketing (updated 2014-01-22 in the fixture).
    body["customer"]["accepts_marketing"] = True
    if api_2025:
        for key in ("accepts_marketing", "email_marketing_consent", "sms_marketing_consent"):
            body["customer"].pop(key, None)
    return body


def _opt_out(at: str) -> dict[str, Any]:
    return {
        "customer_id": 207119551,
        "email_address": "bob.norman@hostmail.com",
        "email_marketing_consent": {"state": "unsubscribed", "consent_updated_at": at},
    }


def _consents(events: list[Any]) -> list[Any]:
    return [e for e in events if e.type in ("consent.changed", "customer.upserted")]


def _fold(events: list[Any]) -> Permissions:
    perms = Permissions()
    for event in events:
        perms = apply_consent_event(perms, event)
    return perms


@pytest.mark.parametrize("api_2025", [False, True])
def test_a_ticked_box_makes_the_buyer_subscribed(api_2025: bool) -> None:
    perms = _fold(_consents(_deliver("orders/create", _order(api_2025), "wh-1")))

    assert perms.state(Channel.EMAIL) is ConsentState.SUBSCRIBED
    if api_2025:  # only the checkbox says so: recorded from the checkout, at the order's time
        (record,) = [c for c in perms.consents if c.channel == Channel.EMAIL]
        assert record.source == "shopify_checkout"
        assert record.stamp.at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("api_2025", [False, True])
def test_a_later_opt_out_wins_in_any_arrival_order_and_after_replays(api_2025: bool) -> None:
    order = _consents(_deliver("orders/create", _order(api_2025), "wh-1"))
    opt_out = _deliver(
        "customers/email_marketing_consent/update", _opt_out("2015-01-01T00:00:00Z"), "wh-2"
    )
    fulfilled = copy.deepcopy(_order(api_2025))
    fulfilled.update(fulfillment_status="fulfilled", updated_at="2015-03-01T00:00:00Z")
    replayed = _consents(_deliver("orders/fulfilled", fulfilled, "wh-3"))  # after the opt-out

    for arrival in itertools.permutations([order, opt_out, replayed]):
        perms = _fold([e for events in arrival for e in events])
        assert perms.state(Channel.EMAIL) is ConsentState.UNSUBSCRIBED, arrival


def test_an_opt_out_before_the_order_is_overridden_by_the_ticked_box() -> None:
    opt_out = _deliver(
        "customers/email_marketing_consent/update", _opt_out("2007-12-01T00:00:00Z"), "wh-2"
    )
    order = _consents(_deliver("orders/create", _order(True), "wh-1"))

    for arrival in ([*opt_out, *order], [*order, *opt_out]):
        assert _fold(arrival).state(Channel.EMAIL) is ConsentState.SUBSCRIBED
