"""/v1/tenant: a tenant's admin in the console manages the tenant's own API keys,
webhook secrets and shop domains with the console's token; nobody else may."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from ingest_it import ADMIN, create_tenant, fixture_bytes, post_webhook, unique

from crm_common.internal_auth import Role, dev_key, mint

pytestmark = pytest.mark.infra


def _console(tenant_id: str, role: Role = "admin") -> dict[str, str]:
    token = mint(dev_key("ingest"), audience="ingest", tenant_id=tenant_id, role=role)
    return {"Authorization": f"Bearer {token}"}


def _key_works(url: str, api_key: str) -> int:
    """200/404 when the key authenticates (no such import), 401 when it does not."""
    headers = {"Authorization": f"Bearer {api_key}"}
    return httpx.get(f"{url}/v1/imports/imp_none", headers=headers, timeout=10).status_code


def _webhook(url: str, tenant: dict[str, Any], secret: str) -> int:
    body = fixture_bytes("customer.json")
    signed = {**tenant, "secret": secret}
    return post_webhook(url, signed, "customers/update", body, unique("wh")).status_code


def test_an_admin_creates_and_revokes_api_keys_shown_once(ingest) -> None:
    tenant = create_tenant(ingest.url)
    base, own = f"{ingest.url}/v1/tenant", _console(tenant["tenant_id"])

    created = httpx.post(f"{base}/api-keys", headers=own)
    key = created.json()
    works = _key_works(ingest.url, key["api_key"])
    described = httpx.get(base, headers=own).json()
    revoked = httpx.delete(f"{base}/api-keys/{key['key_id']}", headers=own)
    again = httpx.delete(f"{base}/api-keys/{key['key_id']}", headers=own)

    assert created.status_code == 201 and key["api_key"].startswith("crm_")
    assert works == 404
    assert key["api_key"] not in str(described)
    assert [k["key_id"] for k in described["api_keys"]] == [tenant["api_key_id"], key["key_id"]]
    assert revoked.status_code == 204 and again.status_code == 404
    assert _key_works(ingest.url, key["api_key"]) == 401
    assert _key_works(ingest.url, tenant["api_key"]) == 404  # the first key is untouched


def test_rotating_a_webhook_secret_is_add_then_revoke(ingest) -> None:
    tenant = create_tenant(ingest.url)
    base, own = f"{ingest.url}/v1/tenant", _console(tenant["tenant_id"])
    old_id = httpx.get(base, headers=own).json()["webhook_secrets"][0]["secret_id"]
    new_secret = unique("rotated-secret")

    added = httpx.post(f"{base}/webhook-secrets", json={"secret": new_secret}, headers=own)
    both = (
        _webhook(ingest.url, tenant, tenant["secret"]),
        _webhook(ingest.url, tenant, new_secret),
    )
    revoked = httpx.delete(f"{base}/webhook-secrets/{old_id}", headers=own)
    after = (
        _webhook(ingest.url, tenant, tenant["secret"]),
        _webhook(ingest.url, tenant, new_secret),
    )
    described = httpx.get(base, headers=own).json()

    assert added.status_code == 201 and revoked.status_code == 204
    assert both == (200, 200)
    assert after == (401, 200)
    assert new_secret not in str(described) and tenant["secret"] not in str(described)
    states = {s["secret_id"]: s["revoked_at"] is not None for s in described["webhook_secrets"]}
    assert states == {old_id: True, added.json()["secret_id"]: False}


def test_connect_your_shop_lists_topics_and_adds_a_domain(ingest) -> None:
    tenant, other = create_tenant(ingest.url), create_tenant(ingest.url)
    base, own = f"{ingest.url}/v1/tenant", _console(tenant["tenant_id"])
    domain = f"{unique('second')}.myshopify.com"

    added = httpx.post(f"{base}/shop-domains", json={"shop_domain": domain.upper()}, headers=own)
    repeated = httpx.post(f"{base}/shop-domains", json={"shop_domain": domain}, headers=own)
    taken = httpx.post(f"{base}/shop-domains", json={"shop_domain": other["shop"]}, headers=own)
    described = httpx.get(base, headers=own).json()

    assert (added.status_code, added.json()) == (201, {"shop_domain": domain, "added": True})
    assert repeated.json()["added"] is False
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "conflict")
    assert described["shop_domains"] == sorted([tenant["shop"], domain])
    assert described["webhook_path"] == "/webhooks/shopify"
    assert {"orders/create", "checkouts/create", "app/uninstalled"} <= set(described["topics"])


def test_only_the_tenants_console_admin_may(ingest) -> None:
    tenant, other = create_tenant(ingest.url), create_tenant(ingest.url)
    base = f"{ingest.url}/v1/tenant"
    api_key = {"Authorization": f"Bearer {tenant['api_key']}"}
    others_key = f"{base}/api-keys/{other['api_key_id']}"

    answers = {
        "marketer": httpx.post(
            f"{base}/api-keys", headers=_console(tenant["tenant_id"], "marketer")
        ),
        "viewer": httpx.get(base, headers=_console(tenant["tenant_id"], "viewer")),
        "api key": httpx.post(f"{base}/api-keys", headers=api_key),
        "admin token": httpx.post(f"{base}/api-keys", headers=ADMIN),
        "nobody": httpx.post(f"{base}/api-keys"),
        "another tenant's key": httpx.delete(others_key, headers=_console(tenant["tenant_id"])),
    }

    assert {who: a.status_code for who, a in answers.items()} == {
        "marketer": 403,
        "viewer": 403,
        "api key": 401,
        "admin token": 401,
        "nobody": 401,
        "another tenant's key": 404,
    }
    assert _key_works(ingest.url, other["api_key"]) == 404
    keys = httpx.get(f"{ingest.url}/admin/tenants/{tenant['tenant_id']}", headers=ADMIN).json()
    assert len(keys["api_keys"]) == 1  # nothing was issued by the refused calls
