"""profile.merged moves memberships to the survivor without spurious exit/enter pairs."""

from __future__ import annotations

from typing import Any

import pytest
from segment_it import Shop, TopicLog, until
from sqlalchemy import func, select

from crm_common.clock import OffsetFileClock
from crm_common.db import Database
from crm_common.events import decode_event
from crm_segment.tables import events, memberships, outbox, profiles

pytestmark = [pytest.mark.infra, pytest.mark.timeout(180)]


async def _scalar(db: Database, stmt: Any) -> Any:
    async with db.transaction() as session:
        return await session.scalar(stmt)


async def _create(shop: Shop, name: str, definition: dict[str, Any]) -> str:
    response = await shop.http.post("/v1/segments", json={"name": name, "definition": definition})
    return str((await shop.finished(response))["id"])


async def test_merge_moves_memberships_and_events_without_exits_or_new_entries(
    shop: Shop, clock: OffsetFileClock, db: Database, segment_events: TopicLog
) -> None:
    tenant = shop.tenant_id
    loyal = await _create(shop, "loyal", {"rfm": "rank", "op": "in", "value": ["A", "B"]})
    vip = await _create(shop, "vip", {"trait": "tags", "op": "contains", "value": "vip"})
    buyers = await _create(
        shop,
        "tea buyers",
        {"event": "order.placed", "where": [{"field": "category", "op": "=", "value": "tea"}]},
    )
    now = clock.now()
    order = {"total": "3000", "lines": [{"product_id": "p1", "category": "tea", "quantity": 1}]}
    await shop.publish(
        [
            shop.changed("alias", {"rfm_rank": "A", "tags": ["vip"]}, now),
            shop.changed("survivor", {"rfm_rank": "B", "tags": []}, now),
            shop.activity("alias", "order-1", "order.placed", now, order),
        ]
    )

    async def before() -> bool:
        return sorted(await shop.segment_ids("alias")) == sorted([loyal, vip, buyers])

    await until(before, what="alias in loyal, vip and tea buyers")
    assert await shop.segment_ids("survivor") == [loyal]

    await shop.publish(
        [
            shop.merged("survivor", "alias", now),
            shop.changed("survivor", {"rfm_rank": "A", "tags": ["vip"]}, now),
        ]
    )
    version = select(profiles.c.version).where(
        profiles.c.tenant_id == tenant, profiles.c.profile_id == "survivor"
    )

    async def merged() -> bool:
        return await _scalar(db, version) == 2

    await until(merged, what="the survivor's merged snapshot applied")
    pending = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))

    async def drained() -> bool:
        return await _scalar(db, pending) == 0

    await until(drained, what="outbox published")
    assert sorted(await shop.segment_ids("survivor")) == sorted([loyal, vip, buyers])
    assert sorted(await shop.segment_ids("alias")) == sorted(
        [loyal, vip, buyers]
    )  # answers for the survivor
    moved = select(func.count()).where(
        events.c.tenant_id == tenant, events.c.profile_id == "survivor"
    )
    assert await _scalar(db, moved) == 1
    open_rows = select(func.count()).where(
        memberships.c.tenant_id == tenant, memberships.c.exited_at.is_(None)
    )
    assert await _scalar(db, open_rows) == 3

    async with db.transaction() as session:
        payloads = await session.scalars(
            select(outbox.c.payload).where(outbox.c.key.like(f"{tenant}:%")).order_by(outbox.c.id)
        )
        announced = [decode_event(p) for p in payloads]
    expected = [(loyal, "alias"), (vip, "alias"), (buyers, "alias"), (loyal, "survivor")]
    assert sorted((e.type, e.data.segment_id, e.data.profile_id) for e in announced) == sorted(
        ("segment.entered", s, p) for s, p in expected
    )

    async def arrived() -> bool:
        return len(segment_events.of(tenant)) >= len(expected)

    await until(arrived, what="entries on crm.segments.v1")
    assert sorted(segment_events.pairs(tenant, "segment.entered")) == sorted(expected)
    assert segment_events.pairs(tenant, "segment.exited") == []
