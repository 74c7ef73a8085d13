"""Erasure in segment (issue 12, item 7), against the running service.

The events segment stores are canonical events' data as profile republished them;
a ``customer.upserted`` carries the person's email, phone, name and address. After
``privacy.redact_requested`` (as profile attributes it: ``profile.activity`` of the
survivor) none of it is left for the person or a record merged into them, also for
events that arrive or are merged in later but happened before the request; events
after it, another person's, and what conditions count (order lines) stay.
``tenant.redact_requested`` on crm.events.v1 leaves no row of the tenant.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from segment_it import Shop, until
from sqlalchemy import select, text

from crm_common.clock import OffsetFileClock
from crm_common.db import Database
from crm_common.events import TenantRedactRequested
from crm_common.events.customers import TenantLifecycleData
from crm_common.kafka import Producer
from crm_segment.tables import events

pytestmark = [pytest.mark.infra, pytest.mark.timeout(180)]


def customer(n: int) -> dict[str, Any]:
    return {
        "customer_id": f"c{n}",
        "email": f"erase-{n}@example.jp",
        "phone": f"+81900000{n:04d}",
        "first_name": f"紗希{n}",
        "address": {"postal_code": "150-0041", "city": f"渋谷区{n}"},
        "tags": ["vip"],
    }


ORDER = {"order_id": "o-1", "total": "3000", "lines": [{"product_id": "p1", "quantity": 1}]}


async def _stored(db: Database, tenant: str) -> dict[str, Any]:
    e = events
    async with db.transaction() as session:
        rows = await session.execute(
            select(e.c.event_id, e.c.profile_id, e.c.properties).where(e.c.tenant_id == tenant)
        )
        return {row.event_id: (row.profile_id, row.properties) for row in rows}


async def test_erasure_scrubs_the_person_their_aliases_and_late_events_only(
    shop: Shop, clock: OffsetFileClock, db: Database
) -> None:
    tenant, now = shop.tenant_id, clock.now()
    before, after = now - timedelta(hours=1), now + timedelta(minutes=1)
    await shop.publish(
        [
            shop.changed("alias", {"orders_count": 1}, before),
            shop.changed("survivor", {"orders_count": 1}, before),
            shop.changed("other", {"orders_count": 1}, before),
            shop.activity("alias", "cu-alias", "customer.upserted", before, customer(1)),
            shop.activity("survivor", "cu-survivor", "customer.upserted", before, customer(2)),
            shop.activity("survivor", "order-s", "order.placed", before, ORDER),
            shop.activity("other", "cu-other", "customer.upserted", before, customer(3)),
            shop.merged("survivor", "alias", before),
            shop.activity("survivor", "redact", "privacy.redact_requested", now, {"orders": []}),
        ]
    )

    async def erased() -> bool:
        stored = await _stored(db, tenant)
        return "redact" in stored and "email" not in stored["cu-survivor"][1]

    await until(erased, what="the survivor's events erased")
    # Later: an event of the alias from before the request (another partition was
    # behind), a record merged in afterwards, and news after the request.
    await shop.publish(
        [
            shop.activity("alias", "cu-alias-late", "customer.upserted", before, customer(4)),
            shop.changed("late", {"orders_count": 0}, before),
            shop.activity("late", "cu-late", "customer.upserted", before, customer(5)),
            shop.activity("survivor", "cu-after", "customer.upserted", after, customer(6)),
        ]
    )

    async def late_stored() -> bool:
        return {"cu-alias-late", "cu-late", "cu-after"} <= set(await _stored(db, tenant))

    await until(late_stored, what="the later events stored")
    await shop.publish([shop.merged("survivor", "late", now)])

    async def late_merged() -> bool:
        return (await _stored(db, tenant))["cu-late"][0] == "survivor"

    await until(late_merged, what="the late record merged into the survivor")
    stored = await _stored(db, tenant)
    for event_id, n in (("cu-alias", 1), ("cu-survivor", 2), ("cu-alias-late", 4), ("cu-late", 5)):
        profile_id, properties = stored[event_id]
        assert profile_id == "survivor"
        assert properties == {"customer_id": f"c{n}", "tags": ["vip"]}, event_id
    assert stored["order-s"][1] == ORDER
    assert stored["cu-after"][1] == customer(6)
    assert stored["cu-other"] == ("other", customer(3))


async def test_a_tenant_erasure_leaves_no_row_of_the_tenant(
    shop: Shop, clock: OffsetFileClock, db: Database, producer: Producer
) -> None:
    tenant, now = shop.tenant_id, clock.now()
    created = await shop.http.post(
        "/v1/segments",
        json={"name": "vip", "definition": {"trait": "tags", "op": "contains", "value": "vip"}},
    )
    await shop.finished(created)
    await shop.publish(
        [
            shop.changed("p1", {"tags": ["vip"]}, now),
            shop.activity("p1", "cu-1", "customer.upserted", now, customer(7)),
        ]
    )

    async def left() -> dict[str, int]:
        counts = {}
        async with db.transaction() as session:
            tables = await session.execute(
                text(
                    "SELECT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'segment' AND column_name = 'tenant_id'"
                )
            )
            for (table,) in tables.all():
                n = await session.scalar(
                    text(f'SELECT count(*) FROM segment."{table}" WHERE tenant_id = :t'),
                    {"t": tenant},
                )
                if n:
                    counts[table] = n
        return counts

    async def filled() -> bool:
        return {"events", "memberships", "profiles", "segments"} <= set(await left())

    await until(filled, what="the tenant's rows written")
    request = TenantRedactRequested(
        event_id=f"shop-redact-{uuid.uuid4().hex}",
        tenant_id=tenant,
        source="shopify",
        occurred_at=now,
        received_at=now,
        data=TenantLifecycleData(shop_domain=f"{tenant}.myshopify.com", reason="shop/redact"),
    )
    await producer.send_event("crm.events.v1", request)

    async def gone() -> bool:
        return set(await left()) == {"tenants"}

    await until(gone, what="nothing of the tenant but its configuration")
    listed = await shop.http.get("/v1/segments")
    assert (listed.status_code, listed.json()["segments"]) == (200, [])
