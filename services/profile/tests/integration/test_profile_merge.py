"""Identity end to end through the running service: attach across identifiers,
and a real merge of two existing records (``profile.merged``, alias resolution)."""

from __future__ import annotations

import httpx
import pytest
from profile_events import checkout, customer, ident, new_tenant, placed
from profile_it import TopicReader, live_profiles, make_tenant, produce, until

pytestmark = pytest.mark.infra


async def _get(svc, key: str, path: str, **params) -> httpx.Response:
    async with httpx.AsyncClient(base_url=svc.url, headers={"X-Api-Key": key}) as client:
        return await client.get(path, params=params)


async def test_checkout_then_customer_then_order_by_phone_make_one_record(
    profile_service, profile_db, producer
) -> None:
    tenant = new_tenant()
    key = await make_tenant(profile_db, tenant)
    email, phone = "Mika.Sato@Example.JP", "090-8765-4321"
    await produce(
        producer,
        "crm.events.v1",
        [
            checkout(tenant, "ck-9", 0, ident(email=email, checkout="ck-9")),
            customer(tenant, "cu-9", 1, ident(email=email, phone=phone), first_name="美香"),
            placed(tenant, "o-9", 8800, 2, ident(phone=phone)),
        ],
    )

    async def one_order() -> list:
        rows = await live_profiles(profile_db, tenant)
        done = len(rows) == 1 and rows[0].traits.get("orders_count") == 1
        return rows if done and rows[0].traits["has_email"] else []

    rows = await until(one_order)
    assert len(rows) == 1
    by_phone = await _get(profile_service, key, "/v1/profiles", phone="+81 90 8765 4321")
    by_email = await _get(profile_service, key, "/v1/profiles", email=" mika.sato@example.jp ")
    [found] = by_phone.json()["items"]
    assert by_email.json()["items"] == [found]
    assert found["profile_id"] == rows[0].profile_id
    assert found["attributes"]["first_name"] == "美香"
    assert found["traits"]["orders_count"] == 1
    assert found["traits"]["total_spent"] == "8800"
    assert {(i["kind"], i["value"]) for i in found["identifiers"]} == {
        ("email", "mika.sato@example.jp"),
        ("phone", "+819087654321"),
        ("checkout_token", "ck-9"),
    }


async def test_two_records_merge_into_the_older_and_the_alias_resolves(
    lane, profile_service, profile_db, producer
) -> None:
    tenant = new_tenant()
    key = await make_tenant(profile_db, tenant)
    email, phone = "ken@example.com", "080-2222-3333"
    await produce(
        producer,
        "crm.events.v1",
        [
            placed(tenant, "o-old", 5000, 0, ident(email=email)),
            placed(tenant, "o-new", 7000, 9, ident(phone=phone)),
        ],
    )

    async def two_records() -> list:
        rows = await live_profiles(profile_db, tenant)
        return rows if len(rows) == 2 and all(r.version >= 1 for r in rows) else []

    rows = await until(two_records)
    older = min(rows, key=lambda r: r.created_at).profile_id
    newer = max(rows, key=lambda r: r.created_at).profile_id
    await produce(
        producer, "crm.events.v1", [customer(tenant, "cu-ken", 10, ident(email=email, phone=phone))]
    )
    async with TopicReader(lane, "crm.profiles.v1", tenant) as reader:

        async def merged() -> list:
            return [b for _, b in await reader.poll() if b["type"] == "profile.merged"]

        [event] = await until(merged)
        assert event["data"]["survivor_id"] == older
        assert event["data"]["merged_id"] == newer

        async def final_change() -> list:
            records = await reader.poll()
            return [
                (k, b)
                for k, b in records
                if b["type"] == "profile.changed" and b["data"]["traits"]["orders_count"] == 2
            ]

        [(record_key, changed)] = await until(final_change)
    assert record_key == f"{tenant}:{older}"
    assert changed["data"]["profile_id"] == older
    assert changed["data"]["traits"]["total_spent"] == "12000"
    alias = (await _get(profile_service, key, f"/v1/profiles/{newer}")).json()
    assert alias["profile_id"] == older
    assert alias["requested_id"] == newer
    assert alias["resolved_from_alias"] is True
    assert alias["aliases"] == [newer]
    assert alias["version"] == changed["data"]["version"]
    assert alias["traits"]["orders_count"] == 2
    orders = (await _get(profile_service, key, f"/v1/profiles/{newer}/orders")).json()
    assert [o["order_id"] for o in orders["items"]] == ["o-new", "o-old"]
    timeline = (await _get(profile_service, key, f"/v1/profiles/{older}/timeline")).json()
    assert [e["event_id"] for e in timeline["items"]] == [
        f"{tenant}:{e}" for e in ("cu-ken", "o-new-placed", "o-old-placed")
    ]
