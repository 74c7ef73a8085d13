"""profile.changed and profile.activity written directly (handlers/wire.py) are the
JSON of their typed models: they decode to the model built the ordinary way, equal
its encode_event JSON, and carry its key and event id."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_common.events import (
    CustomerUpserted,
    Identity,
    OrderPlaced,
    decode_event,
    encode_event,
    stable_event_id,
)
from crm_common.events._base import Money
from crm_common.events.commerce import OrderData, OrderLine
from crm_common.events.customers import CustomerData
from crm_common.events.downstream import (
    ProfileActivity,
    ProfileActivityData,
    ProfileChanged,
    ProfileContact,
    ProfileSnapshot,
    ProfileTraits,
)
from crm_profile.domain import Permissions, RfmThresholds, compute_traits
from crm_profile.domain.attributes import Attributes
from crm_profile.domain.snapshot import snapshot_json
from crm_profile.handlers.identity import direct_identity
from crm_profile.handlers.wire import activity_row, changed_row

JST = timezone(timedelta(hours=9))
instants = st.datetimes(
    min_value=datetime(2001, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, JST]),
)


def _same(payload: bytes, model: Any) -> None:
    assert decode_event(payload) == model
    assert orjson.loads(payload) == orjson.loads(encode_event(model))


@settings(max_examples=100, deadline=None)
@given(
    instants,
    st.integers(1, 10**9),
    st.integers(0, 50),
    st.fixed_dictionaries(
        {},
        optional={
            "email": st.just("hanako@example.jp"),
            "birthday": st.dates(date(1930, 1, 1), date(2010, 1, 1)),
            "address_prefecture": st.just("東京都"),
            "line_user_id": st.just("U" + "d4" * 16),
        },
    ),
)
def test_changed_row_is_the_models_json(
    now: datetime, version: int, orders: int, contact: dict[str, Any]
) -> None:
    traits = compute_traits([], [], [], now, RfmThresholds())
    snapshot = snapshot_json(traits, Attributes(), Permissions(), rfm_rank_previous="B")
    snapshot["orders_count"] = orders
    row = changed_row("crm.profiles.v1", "t1", "p1", version, now, snapshot, contact)
    model = ProfileChanged(
        event_id=stable_event_id("profile.changed", "t1", "p1", str(version)),
        tenant_id="t1",
        source="profile",
        occurred_at=now,
        received_at=now,
        identity=direct_identity("p1"),
        data=ProfileSnapshot(
            profile_id="p1",
            version=version,
            traits=ProfileTraits.model_validate(snapshot),
            contact=ProfileContact(**contact),
        ),
    )
    _same(row.payload, model)
    assert (row.key, row.event_id) == (model.partition_key(), model.event_id)


def _order(at: datetime) -> OrderPlaced:
    line = OrderLine(
        title="煎茶", quantity=2, unit_price=Money(amount=Decimal("1080.5"), currency="JPY")
    )
    data = OrderData(
        order_id="o1", placed_at=at, currency="JPY", total=Decimal("2161"), lines=[line]
    )
    return OrderPlaced(
        event_id="e1", tenant_id="t1", source="shopify", occurred_at=at, received_at=at,
        identity=Identity(email="a@example.jp"), data=data,
    )  # fmt: skip


def _customer(at: datetime) -> CustomerUpserted:
    data = CustomerData(email="a@example.jp", birthday=date(1990, 5, 17), updated_at=at)
    return CustomerUpserted(
        event_id="e2", tenant_id="t1", source="shopify", occurred_at=at, received_at=at,
        identity=Identity(email="a@example.jp"), data=data,
    )  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(instants, instants, st.booleans())
def test_activity_row_is_the_models_json(at: datetime, now: datetime, order: bool) -> None:
    event = _order(at) if order else _customer(at)
    row = activity_row("crm.profiles.v1", "t1", "p1", now, event)
    model = ProfileActivity(
        event_id=stable_event_id("profile.activity", "t1", "p1", event.event_id),
        tenant_id="t1",
        source="profile",
        occurred_at=event.occurred_at,
        received_at=now,
        identity=direct_identity("p1"),
        data=ProfileActivityData(
            profile_id="p1",
            source_event_id=event.event_id,
            source_type=event.type,
            occurred_at=event.occurred_at,
            data=event.data.model_dump(mode="json"),
        ),
    )
    _same(row.payload, model)
    assert (row.key, row.event_id) == (model.partition_key(), model.event_id)
