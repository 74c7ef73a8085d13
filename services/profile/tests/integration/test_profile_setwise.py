"""A batch is applied set-wise: its statements do not grow with its events.

Orders of known and new customers, customer updates, consent and checkouts (the
bench's mix) are applied to a tenant whose customers already exist; a batch of
200 events and one of 20 send the same statements to PostgreSQL (resolving,
locking, claiming, writing facts, profiles and outbox rows are one statement each
per batch), and the result is what applying the events one batch each gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from profile_events import checkout, consent, customer, ident, new_tenant, placed
from profile_it import apply, identifiers_by_profile, live_profiles
from sqlalchemy import event

from crm_common.migrations import upgrade

pytestmark = pytest.mark.infra


@contextmanager
def statements(db: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 3)[0].upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


def _mix(tenant: str, start: int, n: int, known: int) -> list[Any]:
    """``n`` events: orders of known and new customers, updates, consent, checkouts."""
    out: list[Any] = []
    for i in range(start, start + n):
        who = ident(email=f"c{i % known}@example.com", customer=f"{i % known}")
        kind = i % 5
        if kind == 0:
            out.append(placed(tenant, f"o{i}", 1000 + i, 5, who))
        elif kind == 1:
            out.append(placed(tenant, f"n{i}", 2000, 5, ident(email=f"new{i}@example.com")))
        elif kind == 2:
            out.append(customer(tenant, f"u{i}", 6, who, first_name=f"名{i}"))
        elif kind == 3:
            out.append(consent(tenant, f"k{i}", 6, who, "email", "subscribed"))
        else:
            out.append(
                checkout(
                    tenant, f"t{i}", 6, ident(email=f"c{i % known}@example.com", checkout=f"t{i}")
                )
            )
    return out


async def _known(db: Any, tenant: str, n: int) -> None:
    people = [ident(email=f"c{i}@example.com", customer=f"{i}") for i in range(n)]
    await apply(db, tenant, [customer(tenant, f"seed{i}", 1, p) for i, p in enumerate(people)])


async def test_statements_per_batch_do_not_grow_with_its_events(infra, profile_db) -> None:
    await asyncio.to_thread(upgrade, "crm_profile", infra.pg_url())
    small, large = new_tenant(), new_tenant()
    for tenant in (small, large):
        await _known(profile_db, tenant, 300)
    with statements(profile_db) as few:
        await apply(profile_db, small, _mix(small, 0, 20, 300))
    with statements(profile_db) as many:
        await apply(profile_db, large, _mix(large, 0, 200, 300))
    assert many == few, (few, many)
    assert len(many) <= 25, many
    rows = await live_profiles(profile_db, large)
    assert len(rows) == 300 + 40  # 40 new customers' first orders
    owners = await identifiers_by_profile(profile_db, large)
    tokens = {v for ids in owners.values() for k, v in ids if k == "checkout_token"}
    assert tokens == {f"t{i}" for i in range(200) if i % 5 == 4}


async def test_one_batch_equals_one_event_per_batch(infra, profile_db) -> None:
    await asyncio.to_thread(upgrade, "crm_profile", infra.pg_url())
    together, apart = new_tenant(), new_tenant()
    for tenant in (together, apart):
        await _known(profile_db, tenant, 30)
    await apply(profile_db, together, _mix(together, 0, 120, 30))
    for one in _mix(apart, 0, 120, 30):
        await apply(profile_db, apart, [one])

    def state(rows: list[Any], owners: dict[str, set[tuple[str, str]]]) -> list[Any]:
        people = []
        for row in rows:
            ids = sorted(owners[row.profile_id])
            # The rank before the last published change depends on where batches cut.
            traits = {k: v for k, v in row.traits.items() if k != "rfm_rank_previous"}
            people.append(
                (
                    ids,
                    traits,
                    row.attributes["first_name"]["value"]
                    if row.attributes.get("first_name")
                    else None,
                )
            )
        return sorted(people, key=lambda p: p[0])

    a = state(
        await live_profiles(profile_db, together),
        await identifiers_by_profile(profile_db, together),
    )
    b = state(
        await live_profiles(profile_db, apart), await identifiers_by_profile(profile_db, apart)
    )
    diffs = [
        (x[0], {k: (x[1].get(k), y[1].get(k)) for k in x[1] if x[1].get(k) != y[1].get(k)})
        for x, y in zip(a, b, strict=True)
        if x != y
    ]
    assert diffs == []
    assert len(a) == 30 + 24
