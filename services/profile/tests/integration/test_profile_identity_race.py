"""Two profile processes, one consumer group, overlapping identities: one record a person.

Ingest keys a record by its best identifier, so one person's events spread over
partitions: the email-only customer record and the email + phone one share the
email's partition, the order placed under the phone lands on the phone's, the
checkout on its token's. Two processes of one consumer group (and several
partitions each) then apply a person's events in concurrent transactions, in
any order. The promise: no dead letter (a race is transient, never poison),
exactly one live record per person owning its email, phone and checkout token,
and exact order totals.

The module has its own topics (the ``lane``), so no other test's records are in them.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from profile_events import NOW, checkout, customer, ident, new_tenant, placed, updated
from profile_it import identifiers_by_profile, live_profiles, load_run_service, produce, until
from sqlalchemy import text
from topic_reader import read_topic

from crm_common.migrations import upgrade
from crm_profile.handlers.process import apply_events

pytestmark = [pytest.mark.infra, pytest.mark.slow]

PEOPLE = 700


def _person(tenant: str, n: int, rng: random.Random) -> tuple[list[Any], int, int]:
    email, phone, token = f"race{n}@example.com", f"080-{n // 10000:04d}-{n % 10000:04d}", f"t{n}"
    a, b = rng.randrange(1, 50) * 100, rng.randrange(1, 50) * 100
    events = [
        customer(tenant, f"c{n}-a", 1, ident(email=email)),  # email only
        customer(tenant, f"c{n}-b", 2, ident(email=email, phone=phone)),  # links the two
        checkout(tenant, token, 2.5, ident(checkout=token)),  # anonymous cart
        placed(tenant, f"o{n}", a, 3, ident(phone=phone, checkout=token)),  # under the phone
        updated(tenant, f"o{n}", a, 3, 1, ident(email=email)),  # the same order, by email
        placed(tenant, f"p{n}", b, 4, ident(email=email)),
    ]
    return events, 2, a + b


async def test_two_processes_overlapping_identities(lane, profile_db, producer) -> None:
    tenant = new_tenant()
    rng = random.Random(20261202)
    events: list[Any] = []
    expected: dict[int, tuple[int, int]] = {}
    for n in range(PEOPLE):
        mine, count, total = _person(tenant, n, rng)
        events += mine
        expected[n] = (count, total)
    rng.shuffle(events)
    env = {"PROFILE_MAX_BATCH": "40", "PROFILE_REFRESH": "false"}
    run = load_run_service()
    with run("profile", lane, env) as first, run("profile", lane, env) as second:
        for start in range(0, len(events), 500):
            await produce(producer, "crm.events.v1", events[start : start + 500])

        async def settled() -> tuple[int, int] | None:
            rows = await live_profiles(profile_db, tenant)
            done = sum(r.traits.get("orders_count", 0) for r in rows)
            state = (len(rows), done)
            seen.append(state)
            return state if state == (PEOPLE, 2 * PEOPLE) else None

        seen: list[tuple[int, int]] = []
        try:
            await until(settled, timeout=240, every=0.5)
        except AssertionError:
            raise AssertionError(f"not settled: (live, orders) was {seen[-1]}") from None
        logs = first.tail(2000) + second.tail(2000)
    letters = await read_topic(lane.bootstrap, lane.topic("crm.dlq.v1"))
    assert letters == [], [r.value[:300] for r in letters[:3]]
    assert "dead-lettered" not in logs
    owners = await identifiers_by_profile(profile_db, tenant)
    rows = await live_profiles(profile_db, tenant)
    assert len(rows) == PEOPLE
    by_email: dict[int, Any] = {}
    for row in rows:
        ids = owners[row.profile_id]
        email = next(v for k, v in ids if k == "email")
        n = int(email.removeprefix("race").partition("@")[0])
        assert {k for k, _ in ids} == {"email", "phone", "checkout_token"}, ids
        by_email[n] = row
    for n, (count, total) in expected.items():
        traits = by_email[n].traits
        assert (traits["orders_count"], traits["total_spent"]) == (count, str(total)), n


async def _waiting_on_a_lock(db: Any) -> bool:
    async with db.transaction() as session:
        query = (
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
            " and datname = current_database() and query ilike '%identifiers%'"
        )
        return bool((await session.execute(text(query))).scalar_one())


async def test_an_order_update_folds_a_checkout_created_while_it_attached(
    infra, profile_db
) -> None:
    """The interleaving the two-process test hits by chance, made deterministic: the
    order's holder attaches the order's checkout token while another transaction is
    creating the token's anonymous record. The attach waits on the token's unique
    key, finds it taken once that commits, and must fold that record in (it used to
    give up silently and leave the checkout's record apart forever)."""
    await asyncio.to_thread(upgrade, "crm_profile", infra.pg_url())
    tenant = new_tenant()
    email, phone, token = "holder@example.com", "080-5555-0001", "t-holder"
    async with profile_db.transaction() as session:
        await apply_events(
            session, tenant, [placed(tenant, "o1", 3000, 1, ident(email=email))], NOW
        )

    creating = profile_db.transaction()
    session = await creating.__aenter__()
    try:
        await apply_events(
            session, tenant, [checkout(tenant, token, 2, ident(checkout=token))], NOW
        )

        async def attach() -> None:
            async with profile_db.transaction() as other:
                update = updated(tenant, "o1", 3000, 1, 2, ident(phone=phone, checkout=token))
                await apply_events(other, tenant, [update], NOW)

        attaching = asyncio.create_task(attach())
        await until(lambda: _waiting_on_a_lock(profile_db), timeout=30, every=0.05)
        assert not attaching.done()
    finally:
        await creating.__aexit__(None, None, None)  # commit the checkout's record
    await asyncio.wait_for(attaching, timeout=30)

    rows = await live_profiles(profile_db, tenant)
    owners = await identifiers_by_profile(profile_db, tenant)
    assert len(rows) == 1, owners
    assert {k for k, _ in owners[rows[0].profile_id]} == {"email", "phone", "checkout_token"}
