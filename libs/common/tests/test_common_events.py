from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_common.events import (
    EVENT_TYPES,
    ConsentChanged,
    EventDecodeError,
    OrderPlaced,
    decode_event,
    encode_event,
    parse_event,
    register_upcaster,
    stable_event_id,
)
from crm_common.events._registry import CURRENT_VERSION, _upcasters

JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _order(total: str = "10800", **extra: object) -> OrderPlaced:
    return OrderPlaced(
        event_id="e1",
        tenant_id="shop-1",
        source="shopify",
        occurred_at=NOW,
        received_at=NOW,
        identity={"email": "taro@example.jp", "external_ids": {"shopify": "42"}},
        data={
            "order_id": "1001",
            "placed_at": datetime(2026, 11, 23, 9, 0, tzinfo=JST),
            "currency": "JPY",
            "total": total,
            "lines": [
                {
                    "title": "緑茶",
                    "quantity": 2,
                    "unit_price": {"amount": "5400", "currency": "JPY"},
                }
            ],
            **extra,
        },
    )


def test_round_trip_keeps_money_exact_and_time_in_utc() -> None:
    event = _order("10800.50")
    raw = encode_event(event)
    body = orjson.loads(raw)
    assert body["data"]["total"] == "10800.50"
    assert body["data"]["placed_at"] == "2026-11-23T00:00:00Z"
    back = decode_event(raw)
    assert back == event
    assert back.data.total == Decimal("10800.50")


def test_events_are_frozen() -> None:
    with pytest.raises(ValidationError):
        _order().event_id = "other"  # type: ignore[misc]


def test_partition_key_prefers_platform_id() -> None:
    assert _order().partition_key() == "shop-1:shopify:42"


def test_naive_timestamps_are_rejected_with_the_path() -> None:
    payload = orjson.loads(encode_event(_order()))
    payload["data"]["placed_at"] = "2026-11-23T09:00:00"
    with pytest.raises(EventDecodeError) as err:
        parse_event(payload)
    assert "data.placed_at" in err.value.reason
    assert "timezone" in err.value.reason


def test_unknown_type_and_garbage_are_decode_errors() -> None:
    with pytest.raises(EventDecodeError, match="not JSON"):
        decode_event(b"\xff{")
    with pytest.raises(EventDecodeError, match="not a JSON object"):
        decode_event(b"[1]")
    with pytest.raises(EventDecodeError, match="does not match any of the expected tags"):
        decode_event(b'{"type": "order.teleported"}')


def test_upcaster_turns_an_old_payload_into_the_current_shape() -> None:
    @register_upcaster("consent.changed", 1)
    def _v1_to_v2(p: dict) -> dict:  # type: ignore[type-arg]
        p["data"]["channel"] = {"mail": "email"}.get(p["data"]["channel"], p["data"]["channel"])
        return p

    try:
        old = {
            "event_id": "c1",
            "type": "consent.changed",
            "schema_version": 1,
            "tenant_id": "t",
            "source": "x",
            "occurred_at": "2026-01-01T00:00:00Z",
            "received_at": "2026-01-01T00:00:00Z",
            "data": {"channel": "mail", "state": "subscribed"},
        }
        event = parse_event(old)
        assert isinstance(event, ConsentChanged)
        assert event.data.channel == "email" and event.schema_version == 2
    finally:
        _upcasters.pop(("consent.changed", 1))
        CURRENT_VERSION["consent.changed"] = 1


def test_every_type_is_registered_once() -> None:
    assert len(EVENT_TYPES) == 38
    assert "order.placed" in EVENT_TYPES and "message.clicked" in EVENT_TYPES


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=4))
def test_stable_event_id_is_a_function_of_its_parts(parts: list[str]) -> None:
    assert stable_event_id(*parts) == stable_event_id(*parts)
    assert stable_event_id(*parts) != stable_event_id(*parts, "more")


def test_offset_file_clock_moves_every_reader(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from crm_common.clock import OffsetFileClock

    path = tmp_path / "clock"
    a, b = OffsetFileClock(path), OffsetFileClock(path)
    assert abs((a.now() - datetime.now(UTC)).total_seconds()) < 1
    a.advance(timedelta(days=90))
    assert abs((b.now() - datetime.now(UTC) - timedelta(days=90)).total_seconds()) < 1
