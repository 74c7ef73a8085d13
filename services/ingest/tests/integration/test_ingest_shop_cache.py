"""Two ingest replicas: a change made through one (a new shop, a revoked secret) reaches
the other's shop cache through crm.tenants.v1, long before the cache's own expiry (set to
5 minutes here)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from ingest_it import (
    ADMIN,
    ADMIN_TOKEN,
    create_tenant,
    fixture_bytes,
    post_webhook,
    run_service,
    unique,
)

pytestmark = pytest.mark.infra

LONG_CACHE = {
    "INGEST_ADMIN_TOKEN": ADMIN_TOKEN,
    "INGEST_TENANT_CACHE_SECONDS": "300",
    "INGEST_TENANT_CACHE_MAX_SECONDS": "300",
}


async def _answers(url: str, tenant: dict[str, Any], status: int, timeout: float = 30) -> float:
    """Seconds until a signed cart webhook is answered ``status``."""
    body, started = fixture_bytes("cart.json"), time.monotonic()
    while True:
        got = post_webhook(url, tenant, "carts/update", body, unique("wh")).status_code
        if got == status:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"still {got}, not {status}, after {timeout} s")
        await asyncio.sleep(0.2)


async def test_changes_through_another_replica_reach_this_ones_cache(infra, tmp_path) -> None:
    spool = {"INGEST_IMPORT_SPOOL_DIR": str(tmp_path / "spool")}
    with (
        run_service("ingest", infra, {**LONG_CACHE, **spool}) as other,
        run_service("ingest", infra, {**LONG_CACHE, **spool, "INGEST_ROLE": "api"}) as front,
    ):
        shop, secret = f"{unique('late')}.myshopify.com", unique("secret")
        stranger = {"shop": shop, "secret": secret}
        assert await _answers(front.url, stranger, 401) < 1  # cached: unknown shop

        tenant = create_tenant(other.url, shop=shop, secret=secret)
        assert await _answers(front.url, tenant, 200) < 30

        base = f"{other.url}/admin/tenants/{tenant['tenant_id']}"
        old_id = httpx.get(base, headers=ADMIN).json()["webhook_secrets"][0]["secret_id"]
        rotated = unique("rotated")
        added = httpx.post(f"{base}/webhook-secrets", json={"secret": rotated}, headers=ADMIN)
        assert added.status_code == 201, added.text
        assert httpx.delete(f"{base}/webhook-secrets/{old_id}", headers=ADMIN).status_code == 204
        assert await _answers(front.url, tenant, 401) < 30
        assert await _answers(front.url, {**tenant, "secret": rotated}, 200) < 30
