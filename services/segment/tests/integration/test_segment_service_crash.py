"""SIGKILL in the middle of a stream of profile changes: memberships stay exact and
every entry is announced exactly once downstream (after dropping duplicate ids)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from segment_it import Shop, TopicLog, days_ago, until
from sqlalchemy import func, select

from crm_common.clock import OffsetFileClock
from crm_common.db import Database
from crm_segment.handlers.inspect import verify
from crm_segment.handlers.publish import entered_event_id, exited_event_id
from crm_segment.tables import memberships, outbox, profiles

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]

PROFILES = 300
VERSIONS = 10


def traits(rng: random.Random, now: datetime) -> dict[str, Any]:
    orders = rng.randint(0, 3)
    return {
        "orders_count": orders,
        "total_spent": str(rng.randrange(0, 20_001, 500)),
        "rfm_rank": rng.choice("ABCDE"),
        "last_order_at": days_ago(now, rng.randint(0, 20)) if orders else None,
    }


async def _scalar(db: Database, stmt: Any) -> Any:
    async with db.transaction() as session:
        return await session.scalar(stmt)


async def _create(shop: Shop, name: str, definition: dict[str, Any]) -> str:
    response = await shop.http.post("/v1/segments", json={"name": name, "definition": definition})
    return str((await shop.finished(response))["id"])


async def _setup_segments(shop: Shop) -> list[str]:
    ids = []
    for key in ("loyal_customers", "f2_candidates"):
        response = await shop.http.post(f"/v1/segment-templates/{key}/install")
        ids.append((await shop.finished(response))["id"])
    big = await _create(shop, "big", {"trait": "total_spent", "op": ">=", "value": 10000})
    both = await _create(shop, "loyal and big", {"all": [{"segment": ids[0]}, {"segment": big}]})
    return [*ids, big, both]


async def test_sigkill_mid_stream_keeps_memberships_exact_and_entries_unique(
    shop: Shop,
    segment_service: Any,
    clock: OffsetFileClock,
    db: Database,
    segment_events: TopicLog,
) -> None:
    segment_ids = await _setup_segments(shop)
    rng = random.Random(20261123)
    now = clock.now()
    stream = [
        shop.changed(f"c{p:03d}", traits(rng, now), now)
        for _ in range(VERSIONS)
        for p in range(PROFILES)
    ]
    half = len(stream) // 2
    tenant = shop.tenant_id
    stored = select(func.count()).where(profiles.c.tenant_id == tenant)
    await shop.publish(stream[:half])
    await until(lambda: _scalar(db, stored), what="first snapshots applied")
    segment_service.kill()
    await shop.publish(stream[half:])
    segment_service.start()

    final = select(func.count()).where(
        profiles.c.tenant_id == tenant, profiles.c.version == VERSIONS
    )

    async def all_applied() -> bool:
        return await _scalar(db, final) == PROFILES

    await until(all_applied, timeout=120, what="every final snapshot applied")
    pending = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))

    async def drained() -> bool:
        return await _scalar(db, pending) == 0

    await until(drained, timeout=60, what="outbox published")

    async with db.transaction() as session:
        for segment_id in segment_ids:
            found = await verify(session, tenant, segment_id, clock.now())
            assert (found.missing, found.extra) == ([], []), segment_id
        rows = (
            await session.execute(select(memberships).where(memberships.c.tenant_id == tenant))
        ).all()
    assert rows, "the stream must produce memberships"
    expected_in = {entered_event_id(tenant, r.segment_id, r.profile_id, r.entered_at) for r in rows}
    expected_out = {
        exited_event_id(tenant, r.segment_id, r.profile_id, r.entered_at)
        for r in rows
        if r.exited_at is not None
    }

    def ids(kind: str) -> set[str]:
        return {e.event_id for e in segment_events.of(tenant, kind)}

    async def all_arrived() -> bool:
        return ids("segment.entered") >= expected_in and ids("segment.exited") >= expected_out

    await until(all_arrived, timeout=60, what="every membership change on crm.segments.v1")
    assert ids("segment.entered") == expected_in
    assert ids("segment.exited") == expected_out
    distinct_entries: dict[str, Any] = {}
    for e in segment_events.of(tenant, "segment.entered"):
        distinct_entries[e.event_id] = (e.data.segment_id, e.data.profile_id)
    assert Counter(distinct_entries.values()) == Counter((r.segment_id, r.profile_id) for r in rows)
