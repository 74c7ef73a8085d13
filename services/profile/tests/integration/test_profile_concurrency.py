"""Concurrent transactions receiving events of the same new person create one record.

Each round runs the events of one person in separate transactions at the same
time (as consumers of different partitions would): the identifiers' unique key
and the row locks must leave exactly one live profile owning every identifier.
"""

from __future__ import annotations

import asyncio

import pytest
from profile_events import customer, ident, new_tenant, placed
from profile_it import apply, identifiers_by_profile, live_profiles

pytestmark = pytest.mark.infra


async def test_racing_transactions_never_create_two_records(profile_db) -> None:
    tenant = new_tenant()
    people = 15
    for n in range(people):
        email, phone = f"race{n}@example.com", f"090-5555-{n:04d}"
        await asyncio.gather(
            apply(profile_db, tenant, [placed(tenant, f"o{n}-a", 1000, 1, ident(email=email))]),
            apply(profile_db, tenant, [placed(tenant, f"o{n}-b", 2000, 2, ident(phone=phone))]),
            apply(
                profile_db,
                tenant,
                [customer(tenant, f"c{n}", 3, ident(email=email, phone=phone))],
            ),
            apply(profile_db, tenant, [placed(tenant, f"o{n}-c", 4000, 4, ident(email=email))]),
        )
    live = await live_profiles(profile_db, tenant)
    owners = await identifiers_by_profile(profile_db, tenant)
    assert len(live) == people
    assert {row.profile_id for row in live} == set(owners)
    for row in live:
        assert len(owners[row.profile_id]) == 2  # its email and its phone
        assert row.traits["orders_count"] == 3
        assert row.traits["total_spent"] == "7000"
