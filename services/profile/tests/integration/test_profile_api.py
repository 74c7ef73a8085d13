"""The REST API of the running service, with exact values."""

from __future__ import annotations

import json

import httpx
import pytest
from profile_events import customer, ident, new_tenant, placed, refunded
from profile_it import live_profiles, produce, until
from sqlalchemy import select

from crm_common.events import TenantConfig, TenantConfigured, utcnow
from crm_common.internal_auth import dev_key, mint
from crm_common.tenancy import hash_api_key, new_api_key
from crm_profile.tables import processed_events

pytestmark = pytest.mark.infra


async def _tenant_via_topic(producer, tenant: str) -> str:
    key = new_api_key()
    now = utcnow()
    config = TenantConfig(
        tenant_id=tenant, name="Tea shop", api_key_hashes=[hash_api_key(key)], version=1
    )
    event = TenantConfigured(
        event_id=f"cfg-{tenant}",
        tenant_id=tenant,
        source="ingest",
        occurred_at=now,
        received_at=now,
        data=config,
    )
    await produce(producer, "crm.tenants.v1", [event])
    return key


@pytest.fixture(scope="module")
def world() -> dict:
    return {}


async def test_setup_two_customers(world, profile_service, profile_db, producer) -> None:
    tenant = new_tenant()
    key = await _tenant_via_topic(producer, tenant)
    taro = ident(email="taro@example.com", phone="090-1234-5678", customer="555")
    hana = ident(email="hana@example.com")
    await produce(
        producer,
        "crm.events.v1",
        [
            customer(
                tenant,
                "cu-taro",
                0,
                taro,
                first_name="太郎",
                last_name="山田",
                tags=["vip"],
                address={"postal_code": "1000001", "prefecture": "tokyo"},
                properties={"plan": "gold"},
            ),
            placed(tenant, "t-1", 3000, 1, taro),
            placed(tenant, "t-2", 5000, 11, taro),
            refunded(tenant, "t-2", "rf-1", 500, 12),
            placed(tenant, "h-1", 2000, 3, hana),
        ],
    )

    async def ready() -> list:
        rows = await live_profiles(profile_db, tenant)
        # every event applied, the refund included: orders counts and net spend both final
        state = sorted((r.traits.get("orders_count"), r.traits.get("total_spent")) for r in rows)
        return rows if state == [(1, "2000"), (2, "7500")] else []

    rows = await until(ready)
    world.update(tenant=tenant, key=key, svc=profile_service)
    world["taro"] = next(r.profile_id for r in rows if r.traits["orders_count"] == 2)
    world["hana"] = next(r.profile_id for r in rows if r.traits["orders_count"] == 1)

    async def authenticated() -> bool:
        return (await _client(world).get(f"/v1/profiles/{world['taro']}")).status_code == 200

    await until(authenticated)  # the tenant arrived through crm.tenants.v1


def _client(world: dict, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=world["svc"].url, headers=headers or {"Authorization": f"Bearer {world['key']}"}
    )


async def test_get_profile_exact(world) -> None:
    body = (await _client(world).get(f"/v1/profiles/{world['taro']}")).json()
    assert body["profile_id"] == world["taro"]
    assert body["resolved_from_alias"] is False
    assert body["attributes"]["first_name"] == "太郎"
    assert body["attributes"]["address_prefecture"] == "東京都"
    assert body["attributes"]["address_postal_code"] == "100-0001"
    assert body["identifiers"] == [
        {"kind": "email", "value": "taro@example.com"},
        {"kind": "external_id", "value": "shopify:555"},
        {"kind": "phone", "value": "+819012345678"},
    ]
    traits = body["traits"]
    assert traits["orders_count"] == 2
    assert traits["total_spent"] == "7500"
    assert traits["average_order_value"] == "3750"
    assert traits["f_stage"] == "F2"
    assert traits["first_order_at"] == "2026-01-06T03:00:00Z"
    assert traits["last_order_at"] == "2026-01-16T03:00:00Z"
    assert traits["prefecture"] == "東京都"
    assert traits["tags"] == ["vip"]
    assert traits["properties"] == {"plan": "gold"}
    assert traits["consent_email"] == "never"


async def test_lookups_are_normalized(world) -> None:
    client = _client(world)
    for params in (
        {"email": " TARO@Example.COM "},
        {"phone": "+81 90-1234-5678"},
        {"external_id": "Shopify:555"},
    ):
        body = (await client.get("/v1/profiles", params=params)).json()
        assert [p["profile_id"] for p in body["items"]] == [world["taro"]], params
    missing = await client.get("/v1/profiles", params={"email": "nobody@example.com"})
    assert missing.json() == {"items": []}
    bad = await client.get("/v1/profiles", params={"email": "not-an-email"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["path"] == "query.email"


async def test_search_filters_and_cursor(world) -> None:
    client = _client(world)

    async def ids(**params) -> list[str]:
        return [
            p["profile_id"]
            for p in (await client.get("/v1/profiles/search", params=params)).json()["items"]
        ]

    assert await ids(orders_count_min=2) == [world["taro"]]
    assert await ids(orders_count_max=1) == [world["hana"]]
    assert await ids(f_stage="F1") == [world["hana"]]
    assert await ids(total_spent_min="7500") == [world["taro"]]
    assert await ids(total_spent_min="7501") == []
    assert await ids(tag="vip") == [world["taro"]]
    assert await ids(prefecture="東京都") == [world["taro"]]
    assert await ids(last_order_after="2026-01-10T00:00:00Z") == [world["taro"]]
    assert await ids(last_order_before="2026-01-10T00:00:00Z") == [world["hana"]]
    first = (await client.get("/v1/profiles/search", params={"limit": 1})).json()
    second = (
        await client.get("/v1/profiles/search", params={"limit": 1, "cursor": first["next_cursor"]})
    ).json()
    assert second["next_cursor"] is None
    assert sorted([first["items"][0]["profile_id"], second["items"][0]["profile_id"]]) == sorted(
        [world["taro"], world["hana"]]
    )


async def test_timeline_newest_first_in_pages(world) -> None:
    client = _client(world)
    path = f"/v1/profiles/{world['taro']}/timeline"
    page1 = (await client.get(path, params={"limit": 2})).json()
    page2 = (await client.get(path, params={"limit": 2, "cursor": page1["next_cursor"]})).json()
    tenant = world["tenant"]
    assert [e["event_id"] for e in page1["items"]] == [f"{tenant}:t-2-rf-1", f"{tenant}:t-2-placed"]
    assert [e["event_id"] for e in page2["items"]] == [f"{tenant}:t-1-placed", f"{tenant}:cu-taro"]
    assert page2["next_cursor"] is None
    assert page1["items"][0]["summary"] == {
        "order_id": "t-2",
        "refund_id": "rf-1",
        "amount": "500",
        "currency": "JPY",
    }


async def test_orders_with_net_totals(world) -> None:
    body = (await _client(world).get(f"/v1/profiles/{world['taro']}/orders")).json()
    assert [(o["order_id"], o["net_total"], o["refunded_amount"]) for o in body["items"]] == [
        ("t-2", "4500", "500"),
        ("t-1", "3000", "0"),
    ]


async def test_patch_records_an_event_and_applies_it(world, profile_db) -> None:
    client = _client(world)
    before = (await client.get(f"/v1/profiles/{world['hana']}")).json()
    response = await client.patch(
        f"/v1/profiles/{world['hana']}",
        json={"last_name": "佐藤", "consents": [{"channel": "sms", "state": "subscribed"}]},
        headers={"Idempotency-Key": "k-1"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["attributes"]["last_name"] == "佐藤"
    assert body["consents"]["sms"]["state"] == "subscribed"
    assert body["consents"]["sms"]["source"] == "api"
    assert body["traits"]["consent_sms"] == "subscribed"
    assert body["version"] == before["version"] + 1
    again = await client.patch(
        f"/v1/profiles/{world['hana']}",
        json={"last_name": "佐藤", "consents": [{"channel": "sms", "state": "subscribed"}]},
        headers={"Idempotency-Key": "k-1"},
    )
    assert again.json()["version"] == body["version"]
    timeline = (await client.get(f"/v1/profiles/{world['hana']}/timeline")).json()
    api_events = [e for e in timeline["items"] if e["source"] == "api"]
    assert len(api_events) == 1
    assert api_events[0]["summary"]["fields"] == ["last_name", "updated_at"]
    p = processed_events
    async with profile_db.transaction() as session:
        claimed = await session.scalar(
            select(p.c.consumer).where(p.c.event_id == api_events[0]["event_id"])
        )
    assert claimed is not None and claimed.endswith("profile")
    invalid = await client.patch(f"/v1/profiles/{world['hana']}", json={"email": "nope"})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["details"][0]["path"] == "body.email"


async def test_errors_auth_and_service_token(world) -> None:
    anonymous = httpx.AsyncClient(base_url=world["svc"].url)
    unauthorized = await anonymous.get(f"/v1/profiles/{world['taro']}")
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "unauthorized"
    missing = await _client(world).get("/v1/profiles/no-such-id")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    # The old shared token naming a tenant acts as no one (issue 12); the console's token
    # for profile, naming the tenant, reads.
    shared = _client(world, **{"X-Api-Key": "dev-service-token", "X-Tenant-Id": world["tenant"]})
    assert (await shared.get(f"/v1/profiles/{world['taro']}")).status_code == 401
    token = mint(dev_key("profile"), audience="profile", tenant_id=world["tenant"], role="viewer")
    console = _client(world, Authorization=f"Bearer {token}")
    read = await console.get(f"/v1/profiles/{world['taro']}")
    assert read.json()["profile_id"] == world["taro"]
    erased = await console.delete(f"/v1/profiles/{world['taro']}")
    assert erased.status_code == 403  # erasure needs the console's admin role


async def test_rfm_settings_and_export(world) -> None:
    client = _client(world)
    assert (await client.get("/v1/settings/rfm")).json()["recency_days"] == [30, 60, 90, 180]
    wanted = {
        "recency_days": [10, 20, 30, 40],
        "frequency_orders": [1, 2, 4, 8],
        "monetary": ["1000", "2000", "3000", "4000"],
        "currency": "JPY",
    }
    assert (await client.put("/v1/settings/rfm", json=wanted)).json() == wanted
    assert (await client.get("/v1/settings/rfm")).json() == wanted
    bad = await client.put("/v1/settings/rfm", json={**wanted, "recency_days": [5, 4, 3, 2]})
    assert bad.status_code == 422
    export = (await client.get(f"/v1/profiles/{world['taro']}/export")).json()
    assert export["attributes"]["email"] == "taro@example.com"
    assert [o["order_id"] for o in export["orders"]] == ["t-2", "t-1"]
    assert len(export["timeline"]) == 4


async def test_bulk_export_streams_every_profile_as_ndjson(world) -> None:
    client = _client(world)
    response = await client.get("/v1/profiles/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["profile_id"] for line in lines] == sorted([world["taro"], world["hana"]])
    taro = next(line for line in lines if line["profile_id"] == world["taro"])
    assert taro["identifiers"] == [
        {"kind": "email", "value": "taro@example.com"},
        {"kind": "external_id", "value": "shopify:555"},
        {"kind": "phone", "value": "+819012345678"},
    ]
    assert (taro["traits"]["orders_count"], taro["traits"]["total_spent"]) == (2, "7500")
    assert (taro["deleted"], taro["redacted"], taro["version"] >= 1) == (False, False, True)
    # Each line's cursor resumes after it; limit cuts the stream.
    rest = await client.get("/v1/profiles/export", params={"cursor": lines[0]["cursor"]})
    assert [json.loads(line)["profile_id"] for line in rest.text.splitlines()] == [
        lines[1]["profile_id"]
    ]
    first = await client.get("/v1/profiles/export", params={"limit": 1})
    assert [json.loads(line) for line in first.text.splitlines()] == lines[:1]
    bad = await client.get("/v1/profiles/export", params={"cursor": "AA"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["path"] == "query.cursor"


async def test_bulk_export_needs_the_consoles_admin_role(world) -> None:
    def console(role: str) -> httpx.AsyncClient:
        token = mint(dev_key("profile"), audience="profile", tenant_id=world["tenant"], role=role)
        return _client(world, Authorization=f"Bearer {token}")

    assert (await console("viewer").get("/v1/profiles/export")).status_code == 403
    assert (await console("marketer").get("/v1/profiles/export")).status_code == 403
    admin = await console("admin").get("/v1/profiles/export")
    assert admin.status_code == 200
    assert len(admin.text.splitlines()) == 2
    stranger = httpx.AsyncClient(base_url=world["svc"].url)
    assert (await stranger.get("/v1/profiles/export")).status_code == 401
