"""The segment REST API against the running service: errors with paths, preview equals
the filled members, pages and CSV, templates, history, archive."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from segment_it import Shop, until
from sqlalchemy import func, select

from crm_common.clock import OffsetFileClock
from crm_common.db import Database
from crm_segment.tables import profiles

pytestmark = [pytest.mark.infra, pytest.mark.timeout(180)]

BIG = {"trait": "total_spent", "op": ">=", "value": 5000}


async def _seed(shop: Shop, db: Database, clock: OffsetFileClock, count: int) -> None:
    now = clock.now()
    await shop.publish(
        [
            shop.changed(
                f"m{i:03d}", {"total_spent": str(i * 500), "rfm_rank": "ABCDE"[i % 5]}, now
            )
            for i in range(count)
        ]
    )
    stored = select(func.count()).where(profiles.c.tenant_id == shop.tenant_id)

    async def all_stored() -> bool:
        async with db.transaction() as session:
            return await session.scalar(stored) == count

    await until(all_stored, what="seeded snapshots")


async def _create(shop: Shop, definition: dict[str, Any], name: str = "s") -> Any:
    return await shop.http.post("/v1/segments", json={"name": name, "definition": definition})


async def test_invalid_definitions_answer_422_with_the_path_of_the_node(shop: Shop) -> None:
    bad_op = {"all": [{"trait": "a", "op": "exists"}, {"trait": "total_spent", "op": "~"}]}
    response = await _create(shop, bad_op)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    assert [d["path"] for d in error["details"]] == ["all[1].op"]

    unknown = await _create(shop, {"any": [BIG, {"not": {"segment": "seg_nope"}}]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"] == [
        {"path": "any[1].not.segment", "message": "unknown or archived segment 'seg_nope'"}
    ]

    first = (await shop.finished(await _create(shop, BIG, "first")))["id"]
    second_body = {"all": [BIG, {"segment": first}]}
    second = (await shop.finished(await _create(shop, second_body, "second")))["id"]
    cycle = await shop.http.patch(
        f"/v1/segments/{first}", json={"definition": {"any": [BIG, {"segment": second}]}}
    )
    assert cycle.status_code == 422
    [detail] = cycle.json()["error"]["details"]
    assert detail["path"] == "any[1].segment"
    assert detail["message"] == f"segment references form a cycle: {first} -> {second} -> {first}"

    in_use = await shop.http.delete(f"/v1/segments/{first}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "segment_in_use"


async def test_preview_count_equals_the_members_after_the_fill_and_csv_exports_them(
    shop: Shop, db: Database, clock: OffsetFileClock
) -> None:
    await _seed(shop, db, clock, 40)
    preview = await shop.http.post(
        "/v1/segments/preview", json={"definition": BIG, "sample_size": 3}
    )
    assert preview.status_code == 200
    body = preview.json()
    assert body["count"] == 30  # total_spent 5000 .. 19500
    assert [s["profile_id"] for s in body["sample"]] == ["m010", "m011", "m012"]
    assert body["sample"][0]["traits"]["total_spent"] == "5000"

    created = await _create(shop, BIG, "big spenders")
    assert created.status_code == 202
    assert created.headers["location"] == f"/v1/segment-jobs/{created.json()['job']['id']}"
    assert created.json()["job"]["state"] == "queued"
    segment = await shop.finished(created)
    assert segment["size"] == 30
    job = segment["job"]
    assert (job["state"], job["reason"], job["entered"], job["exited"]) == (
        "done",
        "created",
        30,
        0,
    )
    assert job["progress"] == {"done": 40, "total": 40, "percent": 100.0}
    assert job["error"] is None

    members: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = (await shop.http.get(f"/v1/segments/{segment['id']}/members", params=params)).json()
        members += [m["profile_id"] for m in page["members"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert members == [f"m{i:03d}" for i in range(10, 40)]

    exported = await shop.http.get(
        f"/v1/segments/{segment['id']}/members", params={"format": "csv"}
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["profile_id", "entered_at"]
    assert [r[0] for r in rows[1:]] == members

    history = (await shop.http.get(f"/v1/segments/{segment['id']}/history?days=3")).json()
    assert [d["size"] for d in history["days"]] == [0, 0, 30]
    assert history["timezone"] == "Asia/Tokyo"

    verified = (await shop.http.get(f"/v1/segments/{segment['id']}/verify")).json()
    assert (verified["exact"], verified["missing"], verified["extra"]) == (True, [], [])

    narrowed = await shop.finished(
        await shop.http.patch(
            f"/v1/segments/{segment['id']}",
            json={"definition": {"trait": "total_spent", "op": ">=", "value": 15000}},
        )
    )
    assert (narrowed["job"]["reason"], narrowed["job"]["entered"]) == ("edited", 0)
    assert narrowed["job"]["exited"] == 20
    assert narrowed["definition_version"] == 2
    renamed = await shop.http.patch(f"/v1/segments/{segment['id']}", json={"name": "big"})
    assert renamed.status_code == 200 and renamed.json()["size"] == 10
    assert await shop.segment_ids("m035") == [segment["id"]]
    assert await shop.segment_ids("m020") == []


async def test_templates_install_once_per_tenant_and_archive_freezes(shop: Shop) -> None:
    listed = (await shop.http.get("/v1/segment-templates")).json()["templates"]
    assert len(listed) == 30
    assert listed[1]["key"] == "dormant_customers" and listed[1]["name_ja"] == "休眠顧客"
    installed = await shop.http.post("/v1/segment-templates/loyal_customers/install")
    segment = await shop.finished(installed)
    assert (segment["name"], segment["template_key"]) == ("優良顧客", "loyal_customers")
    again = await shop.http.post("/v1/segment-templates/loyal_customers/install")
    assert again.status_code == 409
    assert (await shop.http.post("/v1/segment-templates/nope/install")).status_code == 404

    assert (await shop.http.delete(f"/v1/segments/{segment['id']}")).status_code == 204
    archived = (await shop.http.get(f"/v1/segments/{segment['id']}")).json()
    assert (archived["status"], archived["size"]) == ("archived", 0)
    edit = await shop.http.patch(f"/v1/segments/{segment['id']}", json={"definition": BIG})
    assert edit.status_code == 409


async def test_requests_without_a_known_key_are_refused(segment_service: Any) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=segment_service.url) as client:
        missing = await client.get("/v1/segments")
        wrong = await client.get("/v1/segments", headers={"authorization": "Bearer crm_nope"})
    assert (missing.status_code, wrong.status_code) == (401, 401)


async def test_a_snapshot_segment_is_frozen_at_creation(
    shop: Shop, db: Database, clock: OffsetFileClock
) -> None:
    await _seed(shop, db, clock, 12)
    frozen = await shop.http.post(
        "/v1/segments", json={"name": "固定", "definition": BIG, "kind": "snapshot"}
    )
    snapshot = await shop.finished(frozen)
    assert (snapshot["size"], snapshot["filled_at"] is not None) == (2, True)
    assert snapshot["job"]["kind"] == "snapshot"
    live = await shop.finished(await _create(shop, BIG, "live"))

    await shop.publish([shop.changed("m000", {"total_spent": "99000"}, clock.now())])

    async def joined_live() -> bool:
        return await shop.segment_ids("m000") == [live["id"]]

    await until(joined_live, what="m000 in the live segment")
    after = (await shop.http.get(f"/v1/segments/{snapshot['id']}")).json()
    assert after["size"] == 2
    refused = await shop.http.patch(f"/v1/segments/{snapshot['id']}", json={"definition": BIG})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "snapshot_frozen"
    past = await shop.http.post(
        "/v1/segments",
        json={
            "name": "x",
            "definition": BIG,
            "kind": "snapshot",
            "snapshot_at": "2020-01-01T00:00:00Z",
        },
    )
    assert past.status_code == 422
    assert past.json()["error"]["details"][0]["path"] == "snapshot_at"
