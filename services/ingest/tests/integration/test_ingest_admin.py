"""The admin API: token guard, tenants, secrets, keys, and tenant.configured events."""

from __future__ import annotations

import httpx
import pytest
from ingest_it import ADMIN, create_tenant, read_topic, unique

from crm_common.events import decode_event
from crm_common.tenancy import hash_api_key

pytestmark = pytest.mark.infra


def test_admin_endpoints_need_the_admin_token(ingest) -> None:
    body = {"name": "x", "shop_domains": [], "webhook_secrets": []}
    missing = httpx.post(f"{ingest.url}/admin/tenants", json=body)
    wrong = httpx.post(
        f"{ingest.url}/admin/tenants", json=body, headers={"Authorization": "Bearer nope"}
    )
    listing = httpx.get(f"{ingest.url}/admin/tenants", headers={"X-Admin-Token": "nope"})

    assert (missing.status_code, missing.json()["error"]["message"]) == (
        401,
        "missing admin token (Authorization: Bearer <token>)",
    )
    assert (wrong.status_code, wrong.json()["error"]["message"]) == (401, "wrong admin token")
    assert listing.status_code == 401


async def test_tenant_lifecycle_is_announced_without_secrets(ingest, infra) -> None:
    shop, secret = f"{unique('tea')}.myshopify.com", unique("very-secret")
    tenant = create_tenant(ingest.url, shop=shop.upper(), secret=secret, name="お茶の店")
    tid = tenant["tenant_id"]
    base = f"{ingest.url}/admin/tenants/{tid}"
    second = httpx.post(f"{base}/api-keys", headers=ADMIN).json()
    httpx.delete(f"{base}/api-keys/{tenant['api_key_id']}", headers=ADMIN)

    described = httpx.get(base, headers=ADMIN).json()
    taken = httpx.post(
        f"{ingest.url}/admin/tenants",
        json={"name": "copy", "shop_domains": [shop], "webhook_secrets": []},
        headers=ADMIN,
    )
    unknown = httpx.get(f"{ingest.url}/admin/tenants/nobody", headers=ADMIN)

    assert (described["name"], described["timezone"], described["currency"]) == (
        "お茶の店",
        "Asia/Tokyo",
        "JPY",
    )
    assert (described["shop_domains"], described["version"]) == ([shop], 3)
    assert [(k["key_id"], k["revoked_at"] is None) for k in described["api_keys"]] == [
        (tenant["api_key_id"], False),
        (second["key_id"], True),
    ]
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "conflict")
    assert unknown.status_code == 404

    records = await read_topic(
        infra,
        "crm.tenants.v1",
        lambda rs: len(rs) >= 3,
        decode=lambda r: (r.key, r.value),
        keep=lambda kv: kv[0] == tid.encode(),
    )
    configs = [decode_event(value).data for _, value in records]
    assert [c.version for c in configs] == [1, 2, 3]
    assert configs[0].api_key_hashes == [hash_api_key(tenant["api_key"])]
    assert configs[1].api_key_hashes == sorted(
        [hash_api_key(tenant["api_key"]), hash_api_key(second["api_key"])]
    )
    assert configs[2].api_key_hashes == [hash_api_key(second["api_key"])]
    assert all(secret.encode() not in value for _, value in records)
    assert all(tenant["api_key"].encode() not in value for _, value in records)
