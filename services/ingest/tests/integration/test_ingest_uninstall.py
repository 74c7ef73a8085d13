"""app/uninstalled revokes what the shop's install granted: the shop domain is
disconnected (announced as tenant.configured) and data webhooks signed with its old
secret are refused, while the merchant's data, API keys and Shopify's later privacy
webhooks (shop/redact 48 hours on) still work; a new secret is a reinstall."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from ingest_it import ADMIN, create_tenant, fixture_bytes, post_webhook, read_topic, unique

pytestmark = pytest.mark.infra


def _shop_body(tenant: dict[str, Any]) -> bytes:
    return orjson.dumps({"id": 548380009, "myshopify_domain": tenant["shop"], "name": "Tea"})


def _status(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    return response.status_code, body.get("status") or body["error"]["message"]


async def _configs(infra: Any, tenant_id: str, versions: int) -> list[Any]:
    records = await read_topic(
        infra,
        "crm.tenants.v1",
        lambda rs: len(rs) >= versions,
        keep=lambda e: e.tenant_id == tenant_id,
    )
    return [e.data for e in records]


async def test_uninstall_disconnects_the_shop_and_keeps_what_the_merchant_owns(
    ingest, infra
) -> None:
    tenant = create_tenant(ingest.url)
    tid, base = tenant["tenant_id"], f"{ingest.url}/admin/tenants/{tenant['tenant_id']}"
    order, shop = fixture_bytes("order.json"), _shop_body(tenant)
    before = post_webhook(ingest.url, tenant, "orders/create", order, unique("wh"))

    uninstalled = post_webhook(ingest.url, tenant, "app/uninstalled", shop, unique("wh"))
    after = post_webhook(ingest.url, tenant, "orders/create", order, unique("wh"))
    again = post_webhook(ingest.url, tenant, "app/uninstalled", shop, unique("wh"))
    redact = post_webhook(ingest.url, tenant, "shop/redact", shop, unique("wh"))
    customer_redact = post_webhook(
        ingest.url,
        tenant,
        "customers/redact",
        orjson.dumps({"customer": {"id": 1, "email": "a@example.jp"}, "orders_to_redact": []}),
        unique("wh"),
    )
    described = httpx.get(base, headers=ADMIN).json()
    api_key = httpx.get(
        f"{ingest.url}/v1/imports/imp_none",
        headers={"Authorization": f"Bearer {tenant['api_key']}"},
    )

    assert _status(before) == (200, "accepted")
    assert _status(uninstalled) == (200, "accepted")
    assert _status(after) == (401, "shop disconnected: the app was uninstalled")
    assert _status(again) == (200, "accepted")  # a redelivery changes nothing more
    assert _status(redact) == (200, "accepted")
    assert _status(customer_redact) == (200, "accepted")
    assert described["shop_domains"] == []
    assert [d["shop_domain"] for d in described["disconnected_shop_domains"]] == [tenant["shop"]]
    assert [
        (s["revoked_at"] is not None, s["revoked_reason"]) for s in described["webhook_secrets"]
    ] == [(True, "app_uninstalled")]
    assert (described["status"], described["version"]) == ("active", 2)
    assert api_key.status_code == 404  # the operator's API key still authenticates
    configs = await _configs(infra, tid, 2)
    assert [(c.version, c.shop_domains, c.status) for c in configs] == [
        (1, [tenant["shop"]], "active"),
        (2, [], "active"),
    ]

    # The merchant reinstalls: the operator adds the new secret, the shop is back.
    new_secret = unique("reinstalled")
    added = httpx.post(f"{base}/webhook-secrets", json={"secret": new_secret}, headers=ADMIN)
    assert added.status_code == 201, added.text
    old = post_webhook(ingest.url, tenant, "orders/create", order, unique("wh"))
    fresh = post_webhook(
        ingest.url, {**tenant, "secret": new_secret}, "orders/create", order, unique("wh")
    )
    assert _status(old)[0] == 401
    assert _status(fresh) == (200, "accepted")
    configs = await _configs(infra, tid, 3)
    assert (configs[-1].version, configs[-1].shop_domains) == (3, [tenant["shop"]])
