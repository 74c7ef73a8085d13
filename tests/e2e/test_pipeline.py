"""The whole flow over HTTP, as a shop would drive it, across real processes:

signed Shopify webhook -> ingest -> crm.raw.v1 -> normalizer -> crm.events.v1
-> profile (identity, traits; profile.activity + profile.changed on crm.profiles.v1)
-> segment (membership by an event condition and a trait) -> crm.segments.v1.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from e2e_journey_helpers import FIXTURES, poll, signed
from service_process import run_service

pytestmark = [pytest.mark.infra, pytest.mark.slow]

ADMIN = {"Authorization": "Bearer e2e-admin"}


def test_webhook_to_profile_to_segment(infra) -> None:  # type: ignore[no-untyped-def]
    env = {"INGEST_ADMIN_TOKEN": "e2e-admin", "SEGMENT_SWEEP_SECONDS": "1"}
    with (
        run_service("ingest", infra, env) as ingest,
        run_service("profile", infra, env) as profile,
        run_service("segment", infra, env) as segment,
    ):
        shop, secret = f"e2e-{uuid.uuid4().hex[:8]}.myshopify.com", "e2e-secret"
        created = httpx.post(
            f"{ingest.url}/admin/tenants",
            headers=ADMIN,
            json={
                "name": "E2E Shop",
                "shop_domains": [shop],
                "webhook_secrets": [secret],
                "currency": "USD",
            },
        ).json()
        key = {"Authorization": f"Bearer {created['api_key']}"}
        # The tenant reaches profile and segment through crm.tenants.v1.
        poll(lambda: httpx.get(f"{segment.url}/v1/segments", headers=key).status_code == 200)
        poll(
            lambda: (
                httpx.get(f"{profile.url}/v1/profiles?email=x@example.com", headers=key).status_code
                == 200
            )
        )
        green_ipod = {
            "all": [
                {
                    "event": "order.placed",
                    "where": [{"field": "sku", "op": "=", "value": "IPOD2008GREEN"}],
                },
                {"trait": "orders_count", "op": ">=", "value": 1},
            ]
        }
        seg = httpx.post(
            f"{segment.url}/v1/segments",
            headers=key,
            json={"name": "Bought a green iPod", "definition": green_ipod},
        ).json()

        body = (FIXTURES / "order.json").read_bytes()
        answer = httpx.post(
            f"{ingest.url}/webhooks/shopify",
            content=body,
            headers=signed(body, shop, secret, "orders/create"),
        )
        assert answer.status_code == 200

        def found() -> Any:
            items = httpx.get(
                f"{profile.url}/v1/profiles?email=bob.norman@hostmail.com", headers=key
            ).json()["items"]
            return items if items and items[0]["traits"].get("orders_count") == 1 else None

        (person,) = poll(found)
        assert person["traits"]["total_spent"] == "409.94"
        assert person["traits"]["f_stage"] == "F1"

        def member() -> Any:
            page = httpx.get(f"{segment.url}/v1/segments/{seg['id']}/members", headers=key).json()
            return [m["profile_id"] for m in page["members"]]

        assert poll(member) == [person["profile_id"]]
        mine = httpx.get(f"{segment.url}/v1/profiles/{person['profile_id']}/segments", headers=key)
        assert [s["segment_id"] for s in mine.json()["segments"]] == [seg["id"]]
