"""The typed ``profile.changed`` snapshot (ProfileTraits / ProfileContact, v2).

The snapshot is built without re-validation (``model_construct``), so these tests
hold it to what validation would give: the JSON it writes is the JSON of v1 (the
flat dict consumers stored), it parses back to the same model, and serialising it
raises no type warning. A v1 record still parses, with the LINE id in ``contact``.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_common.events import Identity, decode_event, encode_event
from crm_common.events.commerce import Attribution
from crm_common.events.customers import (
    Address,
    Channel,
    Consent,
    ConsentChanged,
    ConsentState,
    CustomerData,
    CustomerUpserted,
)
from crm_common.events.downstream import (
    MessageBounced,
    MessageData,
    ProfileChanged,
    ProfileSnapshot,
    ProfileTraits,
)
from crm_profile.domain import (
    Attributes,
    Permissions,
    RfmThresholds,
    apply_consent_event,
    apply_customer_event,
    build_snapshot,
    compute_traits,
)
from crm_profile.domain.facts import LineFact, OrderDetails, OrderFact
from crm_profile.domain.redaction import redact
from crm_profile.domain.snapshot import (
    StoredAttributes,
    contact_details,
    segmentable_attributes,
    snapshot_json,
)
from crm_profile.domain.versions import Stamp

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
LINE_ID = "U" + "b2" * 16


def _v1_snapshot(traits: Any, attributes: Attributes, permissions: Permissions) -> dict[str, Any]:
    """The v1 snapshot, as the profile service wrote it before the typed model."""
    address = attributes.address.value if attributes.address else None
    email = attributes.email.value if attributes.email else None
    birthday = attributes.birthday.value if attributes.birthday else None
    props = {p.key: p.value for p in attributes.properties if p.key != "line_user_id"}
    return (
        traits.to_snapshot()
        | permissions.to_snapshot()
        | {
            "prefecture": address.prefecture if address else None,
            "country_code": address.country_code if address else None,
            "gender": attributes.gender.value if attributes.gender else None,
            "birthday_month": birthday.month if birthday else None,
            "tags": list(attributes.tags.value) if attributes.tags else [],
            "email_domain": email.partition("@")[2] if email else None,
            "has_email": email is not None,
            "has_phone": attributes.phone is not None,
            "properties": props,
            "deleted": False,
            "redacted": True,
            "rfm_rank_previous": "C",
        }
    )


def _order(n: int, days: int, total: int, category: str, utm: str | None) -> OrderFact:
    return OrderFact(
        order_id=f"o{n}",
        details=OrderDetails(
            placed_at=T0 + timedelta(days=days, minutes=n),
            currency="JPY",
            total=Decimal(total),
            lines=(LineFact(title=category, category=category, quantity=1, unit_price=total),),
            attribution=Attribution(utm_source=utm),
        ),
    )


orders = st.lists(
    st.builds(
        _order,
        st.integers(0, 10_000),
        st.integers(0, 400),
        st.integers(0, 90_000),
        st.sampled_from(["food", "cosme", "goods"]),
        st.none() | st.sampled_from(["line", "google"]),
    ),
    max_size=6,
    unique_by=lambda o: o.order_id,
)
customers = st.fixed_dictionaries(
    {
        "email": st.none() | st.just("hanako@example.jp"),
        "phone": st.none() | st.just("090-1111-2222"),
        "gender": st.none() | st.sampled_from(["female", "male"]),
        "birthday": st.none() | st.dates(date(1950, 1, 1), date(2010, 12, 31)),
        "tags": st.none() | st.lists(st.sampled_from(["vip", "b2b"]), unique=True),
        "address": st.none() | st.just(Address(postal_code="1000001", prefecture="東京")),
        "properties": st.dictionaries(
            st.sampled_from(["line_user_id", "member_rank", "points"]),
            st.sampled_from([LINE_ID, "gold", 3]),
        ),
    }
)


def _attributes(fields: dict[str, Any]) -> Attributes:
    event = CustomerUpserted(
        event_id="c1",
        tenant_id="t1",
        source="shopify",
        occurred_at=T0,
        received_at=T0,
        identity=Identity(),
        data=CustomerData(updated_at=T0, **fields),
    )
    return apply_customer_event(None, event)


def _permissions(said: list[tuple[ConsentState, Channel]], bounced: list[Channel]) -> Permissions:
    perms: Permissions | None = None
    for n, (state, channel) in enumerate(said):
        at = T0 + timedelta(minutes=n)
        perms = apply_consent_event(
            perms,
            ConsentChanged(
                event_id=f"k{n}",
                tenant_id="t1",
                source="shopify",
                occurred_at=at,
                received_at=at,
                identity=Identity(),
                data=Consent(channel=channel, state=state),
            ),
        )
    for n, channel in enumerate(bounced):
        at = T0 + timedelta(hours=n)
        data = MessageData(
            message_id=f"m{n}",
            profile_id="p1",
            channel=channel,
            source_kind="journey",
            source_id="j1",
            at=at,
        )
        event = MessageBounced(
            event_id=f"b{n}",
            tenant_id="t1",
            source="messaging",
            occurred_at=at,
            received_at=at,
            data=data,
        )
        perms = apply_consent_event(perms, event)
    return perms or Permissions()


@settings(max_examples=150, deadline=None)
@given(
    orders,
    customers,
    st.lists(st.tuples(st.sampled_from(list(ConsentState)), st.sampled_from(list(Channel)))),
    st.lists(st.sampled_from(list(Channel)), max_size=3),
    st.integers(0, 500),
)
def test_the_built_snapshot_is_the_v1_json_and_valid(
    facts: list[OrderFact],
    fields: dict[str, Any],
    said: list[tuple[ConsentState, Channel]],
    bounced: list[Channel],
    later: int,
) -> None:
    attributes = _attributes(fields)
    permissions = _permissions(said, bounced)
    traits = compute_traits(facts, [], [], T0 + timedelta(days=later), RfmThresholds())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a value of the wrong type warns when serialised
        built = build_snapshot(
            traits, attributes, permissions, redacted=True, rfm_rank_previous="C"
        )
        written = built.model_dump(mode="json")
    assert written == _v1_snapshot(traits, attributes, permissions)
    direct = snapshot_json(traits, attributes, permissions, redacted=True, rfm_rank_previous="C")
    assert direct == written  # the JSON the hot path stores and publishes
    assert ProfileTraits.model_validate(written) == ProfileTraits.model_validate(
        orjson.loads(orjson.dumps(built.model_dump(mode="json")))
    )
    assert ProfileTraits.model_validate(written).model_dump(mode="json") == written
    assert "line_user_id" not in written["properties"]
    contact = contact_details(attributes).as_stored()
    raw = fields["properties"].get("line_user_id")
    assert contact.get("line_user_id") == (str(raw) if raw else None)


def _changed(data: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "event_id": "pc-1",
            "type": "profile.changed",
            "tenant_id": "t1",
            "source": "profile",
            "occurred_at": "2026-01-01T00:00:00Z",
            "received_at": "2026-01-01T00:00:00Z",
            "data": data,
        }
    )


def test_a_v1_record_parses_with_the_line_id_in_contact() -> None:
    event = decode_event(
        _changed(
            {
                "profile_id": "p1",
                "version": 3,
                "traits": {
                    "orders_count": 2,
                    "total_spent": "7500",
                    "properties": {"line_user_id": LINE_ID, "member_rank": "gold"},
                },
                "contact": {"email": "hanako@example.jp"},
            }
        )
    )
    assert isinstance(event, ProfileChanged)
    assert event.data.traits.orders_count == 2
    assert event.data.traits.total_spent == Decimal(7500)
    assert event.data.traits.as_stored() == {
        "orders_count": 2,
        "total_spent": "7500",
        "properties": {"member_rank": "gold"},
    }
    assert event.data.contact.line_user_id == LINE_ID
    assert event.data.as_stored()["line_user_id"] == LINE_ID


def test_unknown_fields_are_kept_and_missing_ones_stay_missing() -> None:
    data = {"profile_id": "p1", "version": 1, "traits": {"tier": "gold", "vip": 1}}
    event = decode_event(_changed(data))
    assert event.data.traits.as_stored() == {"tier": "gold", "vip": 1}
    assert event.data.contact.as_stored() == {}
    again = decode_event(encode_event(event))
    assert again == event
    assert orjson.loads(encode_event(event))["data"]["traits"] == {"tier": "gold", "vip": 1}
    assert again.schema_version == 2


def test_known_fields_are_typed() -> None:
    bad = {"profile_id": "p1", "version": 1, "traits": {"orders_count": "many"}}
    try:
        decode_event(_changed(bad))
    except ValueError as exc:
        assert "traits.orders_count" in str(exc)
    else:
        raise AssertionError("an orders_count that is not a number parsed")
    assert isinstance(ProfileSnapshot.model_fields["traits"].annotation, type)


@settings(max_examples=200, deadline=None)
@given(customers, st.booleans())
def test_the_stored_json_reads_like_the_parsed_attributes(
    fields: dict[str, Any], erased: bool
) -> None:
    """The snapshot of a profile whose attributes the batch left alone is read from
    their stored JSON, unparsed: it must say what the parsed attributes say."""
    attributes = _attributes(fields)
    if erased:
        stamp = Stamp(at=T0 + timedelta(days=1), occurred_at=T0, event_id="r1")
        attributes = redact(attributes, stamp)
    stored = StoredAttributes(orjson.loads(attributes.model_dump_json()))
    assert segmentable_attributes(stored) == segmentable_attributes(attributes)
    assert contact_details(stored).as_stored() == contact_details(attributes).as_stored()
    assert contact_details(stored) == contact_details(attributes)
    assert StoredAttributes({}).raw == {} and segmentable_attributes(
        StoredAttributes({})
    ) == segmentable_attributes(Attributes())
