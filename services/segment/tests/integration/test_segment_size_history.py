"""``GET /v1/segments/{id}/size-history``: recorded by the sweeper, carried over days
without a row, today live; and the migration's backfill from membership history."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from segment_it import Shop, until
from sqlalchemy import delete, func, select

from crm_common.clock import OffsetFileClock
from crm_common.db import Database
from crm_segment.repository import history
from crm_segment.tables import profiles, segment_size_history

pytestmark = [pytest.mark.infra, pytest.mark.timeout(180)]

TOKYO = ZoneInfo("Asia/Tokyo")
BIG = {"trait": "total_spent", "op": ">=", "value": 5000}


def _to_local_noon(clock: OffsetFileClock) -> None:
    """Move the shared clock forward to the next noon in Tokyo: no midnight during the test."""
    local = clock.now().astimezone(TOKYO)
    noon = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), TOKYO)
    clock.advance(noon + timedelta(hours=12) - local)


async def _rows(db: Database, shop: Shop, segment_id: str) -> dict[date, int]:
    h = segment_size_history.c
    async with db.transaction() as session:
        rows = await session.execute(
            select(h.day, h.size).where(h.tenant_id == shop.tenant_id, h.segment_id == segment_id)
        )
        return {r.day: r.size for r in rows}


async def _stored(db: Database, shop: Shop, count: int) -> None:
    stored = select(func.count()).where(profiles.c.tenant_id == shop.tenant_id)

    async def done() -> bool:
        async with db.transaction() as session:
            return await session.scalar(stored) == count

    await until(done, what="snapshots stored")


async def _recorded(db: Database, shop: Shop, segment_id: str, day: date, size: int) -> None:
    async def done() -> bool:
        return (await _rows(db, shop, segment_id)).get(day) == size

    await until(done, what=f"size {size} recorded for {day}")


async def test_sweeper_records_carries_forward_and_backfills(
    shop: Shop, db: Database, clock: OffsetFileClock
) -> None:
    _to_local_noon(clock)
    now = clock.now()
    await shop.publish(
        [shop.changed(p, {"total_spent": s}, now) for p, s in (("a", "9000"), ("b", "6000"))]
        + [shop.changed("c", {"total_spent": "100"}, now)]
    )
    await _stored(db, shop, 3)
    created = await shop.finished(
        await shop.http.post("/v1/segments", json={"name": "big", "definition": BIG})
    )
    sid = created["id"]
    assert created["size"] == 2
    day0 = clock.now().astimezone(TOKYO).date()
    await _recorded(db, shop, sid, day0, 2)

    clock.advance(timedelta(days=2))
    await shop.publish([shop.changed("c", {"total_spent": "7000"}, clock.now())])
    day2 = day0 + timedelta(days=2)
    await _recorded(db, shop, sid, day2, 3)
    assert await _rows(db, shop, sid) == {day0: 2, day2: 3}

    response = await shop.http.get(f"/v1/segments/{sid}/size-history", params={"days": 5})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "items": [
            {"date": day0.isoformat(), "size": 2},
            {"date": (day0 + timedelta(days=1)).isoformat(), "size": 2},  # carried
            {"date": day2.isoformat(), "size": 3},  # today: the live count
        ]
    }
    short = await shop.http.get(f"/v1/segments/{sid}/size-history", params={"days": 2})
    assert short.json()["items"] == [
        {"date": (day0 + timedelta(days=1)).isoformat(), "size": 2},  # carried in from day0
        {"date": day2.isoformat(), "size": 3},
    ]

    # the migration's backfill rebuilds past days from the membership history
    h = segment_size_history.c
    async with db.transaction() as session:
        await session.execute(delete(segment_size_history).where(h.tenant_id == shop.tenant_id))
        await history.backfill(session, clock.now(), 31, shop.tenant_id)
    assert await _rows(db, shop, sid) == {day0: 2, day0 + timedelta(days=1): 2}


async def test_size_history_errors(shop: Shop) -> None:
    missing = await shop.http.get("/v1/segments/seg_nope/size-history")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    created = await shop.http.post("/v1/segments", json={"name": "x", "definition": BIG})
    bad = await shop.http.get(f"/v1/segments/{created.json()['id']}/size-history?days=0")
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["path"] == "query.days"
