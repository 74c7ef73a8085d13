"""SIGKILL of the profile service in the middle of 20,000 events: afterwards
every person has exactly one record and exact order totals."""

from __future__ import annotations

from collections import defaultdict

import pytest
from profile_events import customer, ident, new_tenant, placed, refunded
from profile_it import identifiers_by_profile, live_profiles, load_run_service, produce, until
from sqlalchemy import func, select

from crm_common.normalize import normalize_phone
from crm_profile.tables import processed_events

pytestmark = [pytest.mark.infra, pytest.mark.slow]

PEOPLE, ORDERS = 2_000, 8  # per person: 1 customer + 8 orders + 1 refund = 10 events


def phone_of(n: int) -> str:
    return f"090-7{n // 1000:03d}-{n % 1000:04d}"


def stream(tenant: str) -> tuple[list, dict[int, int]]:
    events, spent = [], defaultdict(int)
    for n in range(PEOPLE):
        email, phone, cid = f"p{n}@example.com", phone_of(n), f"c{n}"
        events.append(customer(tenant, f"cu-{n}", 0, ident(email=email, phone=phone, customer=cid)))
        ways = (ident(email=email), ident(phone=phone), ident(customer=cid))
        for k in range(ORDERS):
            total = 1000 + 100 * ((n + k) % 7)
            events.append(placed(tenant, f"o-{n}-{k}", total, 1 + k, ways[k % 3]))
            spent[n] += total
        events.append(refunded(tenant, f"o-{n}-0", f"r-{n}", 300, 30))
        spent[n] -= 300
    return events, spent


async def test_killed_mid_stream_ends_with_exact_totals(lane, profile_db, producer) -> None:
    tenant = new_tenant()
    events, spent = stream(tenant)
    assert len(events) == 20_000
    group = lane.topic("profile")

    async def applied() -> int:
        p = processed_events
        async with profile_db.transaction() as session:
            stmt = select(func.count()).where(p.c.consumer == group)
            return int(await session.scalar(stmt) or 0)

    base = await applied()
    await produce(producer, "crm.events.v1", events)
    with load_run_service()("profile", lane) as svc:
        for threshold in (4_000, 11_000):

            async def past(threshold: int = threshold) -> bool:
                return await applied() - base >= threshold

            await until(past, timeout=300)
            svc.kill()
            svc.start()
        await produce(producer, "crm.events.v1", events[:500])  # redelivered duplicates

        async def done() -> bool:
            return await applied() - base >= 20_000

        await until(done, timeout=300)

        async def settled() -> list:
            rows = await live_profiles(profile_db, tenant)
            total = sum(r.traits.get("orders_count", 0) for r in rows)
            return rows if len(rows) == PEOPLE and total == PEOPLE * ORDERS else []

        rows = await until(settled, timeout=120)
    owners = await identifiers_by_profile(profile_db, tenant)
    by_email = {value: pid for pid, ids in owners.items() for kind, value in ids if kind == "email"}
    for n in range(PEOPLE):
        assert owners[by_email[f"p{n}@example.com"]] == {
            ("email", f"p{n}@example.com"),
            ("phone", normalize_phone(phone_of(n))),
            ("external_id", f"shopify:c{n}"),
        }
    totals = {r.profile_id: (r.traits["orders_count"], r.traits["total_spent"]) for r in rows}
    assert sorted(totals.values()) == sorted((ORDERS, str(spent[n])) for n in range(PEOPLE))
    for n in range(PEOPLE):
        assert totals[by_email[f"p{n}@example.com"]] == (ORDERS, str(spent[n]))
