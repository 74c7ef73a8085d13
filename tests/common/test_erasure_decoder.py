"""crm_common.erasure.decode_only: erasure requests parsed, other records only named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_common.erasure import ERASURE_TYPES, Skipped, decode_only
from crm_common.events import (
    EventDecodeError,
    Identity,
    OrderPlaced,
    PrivacyRedactRequested,
    TenantRedactRequested,
    encode_event,
)
from crm_common.events.commerce import OrderData
from crm_common.events.customers import PrivacyRequestData, TenantLifecycleData

NOW = datetime(2026, 12, 3, tzinfo=UTC)
BASE = {"tenant_id": "t1", "source": "shopify", "occurred_at": NOW, "received_at": NOW}


def test_erasure_requests_are_parsed_and_other_types_are_skipped_by_id() -> None:
    decode = decode_only()
    redact = PrivacyRedactRequested(
        event_id="r1",
        identity=Identity(email="saki@example.jp"),
        data=PrivacyRequestData(request_id="q1"),
        **BASE,
    )
    shop = TenantRedactRequested(
        event_id="s1", data=TenantLifecycleData(shop_domain="x.myshopify.com", reason="r"), **BASE
    )
    order = OrderPlaced(
        event_id="o1",
        data=OrderData(order_id="1", placed_at=NOW, currency="JPY", total=1),
        **BASE,
    )
    assert decode(encode_event(redact)) == redact
    assert decode(encode_event(shop)) == shop
    assert decode(encode_event(order)) == Skipped("o1", "order.placed")
    assert {redact.type, shop.type} == ERASURE_TYPES


def test_only_the_types_asked_for_are_parsed_and_garbage_is_poison() -> None:
    decode = decode_only({"tenant.redact_requested"})
    assert decode(b'{"type": "privacy.redact_requested", "event_id": "r1"}') == Skipped(
        "r1", "privacy.redact_requested"
    )
    with pytest.raises(EventDecodeError):
        decode(b"not json")
    with pytest.raises(EventDecodeError):
        decode(b'{"type": "tenant.redact_requested", "event_id": "x"}')
