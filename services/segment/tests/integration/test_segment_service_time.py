"""Time passing alone moves memberships: the 休眠 (dormant) template, running service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from segment_it import Shop, TopicLog, days_ago, until
from sqlalchemy import select

from crm_common.clock import OffsetFileClock
from crm_common.db import Database
from crm_segment.tables import profiles

pytestmark = [pytest.mark.infra, pytest.mark.timeout(240)]


async def stored_version(db: Database, tenant_id: str, profile_id: str) -> int | None:
    async with db.transaction() as session:
        return await session.scalar(
            select(profiles.c.version).where(
                profiles.c.tenant_id == tenant_id, profiles.c.profile_id == profile_id
            )
        )


async def test_a_dormant_customer_enters_when_day_90_passes_and_leaves_on_a_new_order(
    shop: Shop, clock: OffsetFileClock, db: Database, segment_events: TopicLog
) -> None:
    now = clock.now()
    traits: dict[str, Any] = {
        "orders_count": 3,
        "total_spent": "6000",
        "last_order_at": days_ago(now, 80),
    }
    # One customer known before the segment exists (the SQL fill schedules it),
    # one after (the per-change evaluation schedules it).
    await shop.publish(
        [shop.changed("p-early", {**traits, "last_order_at": days_ago(now, 85)}, now)]
    )

    async def early_stored() -> int | None:
        return await stored_version(db, shop.tenant_id, "p-early")

    await until(early_stored, what="first snapshot stored")
    installed = await shop.finished(
        await shop.http.post("/v1/segment-templates/dormant_customers/install")
    )
    dormant = installed["id"]
    assert installed["size"] == 0
    await shop.publish([shop.changed("p-dormant", traits, now)])

    async def stored() -> int | None:
        return await stored_version(db, shop.tenant_id, "p-dormant")

    await until(stored, what="snapshot stored")
    assert await shop.segment_ids("p-dormant") == []

    clock.advance(timedelta(days=11))  # day 91 since the last order

    expected = [(dormant, "p-dormant"), (dormant, "p-early")]

    async def entered() -> bool:
        return sorted(segment_events.pairs(shop.tenant_id, "segment.entered")) == expected

    await until(entered, timeout=30, what="segment.entered on crm.segments.v1")
    assert await shop.segment_ids("p-dormant") == [dormant]
    assert [e.data.reason for e in segment_events.of(shop.tenant_id, "segment.entered")] == [
        "time",
        "time",
    ]

    order_now = clock.now()
    fresh = {**traits, "orders_count": 4, "total_spent": "9000"}
    fresh["last_order_at"] = order_now.isoformat()
    await shop.publish([shop.changed("p-dormant", fresh, order_now)])

    async def exited() -> bool:
        return (dormant, "p-dormant") in segment_events.pairs(shop.tenant_id, "segment.exited")

    await until(exited, timeout=30, what="segment.exited on crm.segments.v1")
    assert await shop.segment_ids("p-dormant") == []
    [left] = segment_events.of(shop.tenant_id, "segment.exited")
    assert left.data.reason == "profile.changed"
    assert segment_events.keys[segment_events.events.index(left)] == f"{shop.tenant_id}:p-dormant"
