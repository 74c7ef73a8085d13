"""``GET /v1/segments/{id}/members.csv``: every member with snapshot traits, UTF-8 with
a BOM (Excel in Japan), CRLF lines, a dated file name."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from segment_it import Shop, until
from sqlalchemy import func, select

from crm_common.clock import OffsetFileClock
from crm_common.db import Database
from crm_segment.tables import profiles

pytestmark = [pytest.mark.infra, pytest.mark.timeout(180)]

TOKYO = ZoneInfo("Asia/Tokyo")


async def test_members_csv_export(shop: Shop, db: Database, clock: OffsetFileClock) -> None:
    now = clock.now()
    traits = {
        "p1": {"total_spent": "12000", "rfm_rank": "A", "f_stage": "F3+", "orders_count": 4,
               "last_order_at": "2026-11-01T03:00:00Z", "prefecture": "東京都"},
        "p2": {"total_spent": "8000", "rfm_rank": "C", "f_stage": "F1", "orders_count": 1},
        "p3": {"total_spent": "100", "rfm_rank": "E", "f_stage": "F1", "orders_count": 1},
    }  # fmt: skip
    await shop.publish([shop.changed(p, t, now) for p, t in traits.items()])
    stored = select(func.count()).where(profiles.c.tenant_id == shop.tenant_id)

    async def all_stored() -> bool:
        async with db.transaction() as session:
            return await session.scalar(stored) == 3

    await until(all_stored, what="snapshots stored")
    definition = {"trait": "total_spent", "op": ">=", "value": 5000}
    created = await shop.http.post("/v1/segments", json={"name": "big", "definition": definition})
    sid = (await shop.finished(created))["id"]
    page = (await shop.http.get(f"/v1/segments/{sid}/members")).json()
    entered = {
        m["profile_id"]: datetime.fromisoformat(m["entered_at"]).astimezone(TOKYO).isoformat()
        for m in page["members"]
    }

    response = await shop.http.get(f"/v1/segments/{sid}/members.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    day = clock.now().astimezone(TOKYO).strftime("%Y%m%d")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{sid}-members-{day}.csv"'
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["profile_id", "entered_at", "rfm_rank", "f_stage", "orders_count", "total_spent",
         "last_order_at", "prefecture"],
        ["p1", entered["p1"], "A", "F3+", "4", "12000", "2026-11-01T03:00:00Z", "東京都"],
        ["p2", entered["p2"], "C", "F1", "1", "8000", "", ""],
    ]  # fmt: skip

    missing = await shop.http.get("/v1/segments/seg_nope/members.csv")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
