"""Arrival order and redelivery do not matter: any permutation of a set of
events, with random duplicates and random batch boundaries, gives the same
records (identifiers, attributes, consents, orders and traits)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from profile_events import (
    cancelled,
    checkout,
    consent,
    customer,
    ident,
    new_tenant,
    placed,
    refunded,
    updated,
)
from profile_it import apply, identifiers_by_profile, live_profiles, orders_by_profile

from crm_profile.domain import Attributes, Permissions

pytestmark = pytest.mark.infra

EMAIL_A, PHONE_A, PHONE_B = "hanako@example.jp", "080-1111-2222", "070-3333-4444"
ORDER_DEPENDENT = {"rfm_rank_previous"}  # the rank before the latest change: history, by design


def events_of(t: str) -> list[Any]:
    a_email, a_phone = ident(email=EMAIL_A), ident(phone=PHONE_A)
    a_full = ident(email=EMAIL_A, phone=PHONE_A, customer="901")
    b = ident(phone=PHONE_B)
    return [
        checkout(t, "ck-a", 0, ident(email=EMAIL_A, checkout="ck-a")),
        customer(
            t,
            "cust-a-1",
            1,
            a_full,
            first_name="花子",
            tags=["vip"],
            address={"postal_code": "1000001", "prefecture": "東京"},
        ),
        customer(t, "cust-a-2", 4, ident(customer="901"), last_name="山田", tags=["vip", "tea"]),
        placed(t, "o-1", 6000, 2, a_email),
        updated(t, "o-1", 5500, 2, 0.5, a_email),
        placed(t, "o-2", 3000, 10, a_phone),
        refunded(t, "o-2", "r-1", 1000, 12),
        placed(t, "o-3", 9000, 20, ident(customer="901")),
        cancelled(t, "o-3", 9000, 20, 1, ident(customer="901")),
        consent(t, "cons-a-1", 3, a_email, "email", "subscribed"),
        consent(t, "cons-a-2", 15, a_phone, "email", "unsubscribed"),
        placed(t, "o-b", 12000, 5, b),
        customer(t, "cust-b", 6, b, first_name="次郎", gender="男性"),
    ]


async def records(db: Any, tenant: str) -> list[Any]:
    """Every live record without its (random) profile id."""
    idents = await identifiers_by_profile(db, tenant)
    orders = await orders_by_profile(db, tenant)
    out = []
    for row in await live_profiles(db, tenant):
        traits = {k: v for k, v in row.traits.items() if k not in ORDER_DEPENDENT}
        out.append(
            (
                sorted(idents.get(row.profile_id, set())),
                sorted(orders.get(row.profile_id, set())),
                row.created_at,
                traits,
                Attributes.model_validate(row.attributes).model_dump(mode="json"),
                Permissions.model_validate(row.permissions).model_dump(mode="json"),
            )
        )
    # Event ids (kept in the stamps) carry the tenant id: compare without it.
    return sorted(orjson.loads(orjson.dumps(r).decode().replace(tenant, "T")) for r in out)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """A permutation of the 13 events with duplicates, and batch boundaries."""
    order = draw(st.permutations(list(range(13))))
    dupes = draw(st.lists(st.integers(0, 12), max_size=5))
    stream = list(order)
    for index in dupes:
        stream.insert(draw(st.integers(0, len(stream))), index)
    cuts = draw(st.lists(st.integers(1, len(stream) - 1), max_size=4, unique=True))
    return stream, sorted(cuts)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries())
async def test_any_order_with_duplicates_gives_identical_records(profile_db, delivery) -> None:
    stream, cuts = delivery
    reference, shuffled = new_tenant(), new_tenant()
    await apply(profile_db, reference, events_of(reference))
    events = events_of(shuffled)
    bounds = [0, *cuts, len(stream)]
    for start, end in pairwise(bounds):
        await apply(profile_db, shuffled, [events[i] for i in stream[start:end]])
    expected = await records(profile_db, reference)
    assert await records(profile_db, shuffled) == expected
    assert len(expected) == 2
    person_a = next(r for r in expected if ["email", EMAIL_A] in r[0])
    assert person_a[1] == ["o-1", "o-2", "o-3"]
    assert person_a[3]["orders_count"] == 2
    assert person_a[3]["total_spent"] == "7500"
    assert person_a[3]["consent_email"] == "unsubscribed"
    assert person_a[3]["tags"] == ["tea", "vip"]
    assert person_a[3]["prefecture"] == "東京都"
