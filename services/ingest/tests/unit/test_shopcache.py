"""The shop cache: one database read per shop however many webhooks wait for it, kept
until crm.tenants.v1 says the tenant changed (short TTL while nobody follows it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_common.events import TenantConfig
from crm_ingest import shopcache
from crm_ingest.repository.tenants import ShopTenant

SHOP, OTHER, UNKNOWN = "tea.myshopify.com", "other.myshopify.com", "new.myshopify.com"
OWNERS = {SHOP: "t_tea", OTHER: "t_other"}


class _Db:
    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield None


class _Repo:
    """Stands in for repository.tenants.shop_tenant; ``gate`` holds reads back."""

    def __init__(self) -> None:
        self.reads: list[str] = []
        self.gate: asyncio.Event | None = None
        self.secret = "s1"

    async def shop_tenant(self, _: Any, shop_domain: str) -> ShopTenant | None:
        self.reads.append(shop_domain)
        if self.gate is not None:
            await self.gate.wait()
        owner = OWNERS.get(shop_domain)
        if owner is None:
            return None
        return ShopTenant(owner, "JPY", "Asia/Tokyo", "active", (self.secret,))


@pytest.fixture
def repo(monkeypatch: pytest.MonkeyPatch) -> _Repo:
    fake = _Repo()
    monkeypatch.setattr(shopcache.repo, "shop_tenant", fake.shop_tenant)
    return fake


def _cache(ttl: float = 60.0, following: bool = True) -> shopcache.ShopCache:
    cache = shopcache.ShopCache(_Db(), ttl_seconds=ttl, max_age_seconds=60.0)  # type: ignore[arg-type]
    cache.following = following
    return cache


def _config(tenant_id: str, *domains: str) -> TenantConfig:
    return TenantConfig(tenant_id=tenant_id, name="x", shop_domains=list(domains), version=2)


async def test_concurrent_webhooks_of_a_cold_shop_read_it_once(repo: _Repo) -> None:
    repo.gate = asyncio.Event()
    cache = _cache()
    waiting = [asyncio.create_task(cache.get(SHOP)) for _ in range(64)]
    await asyncio.sleep(0.01)
    repo.gate.set()
    found = await asyncio.gather(*waiting)
    assert repo.reads == [SHOP]
    assert {t.tenant_id if t else None for t in found} == {"t_tea"}


async def test_a_tenant_change_drops_its_shops_and_unknown_shops_only(repo: _Repo) -> None:
    cache = _cache()
    for domain in (SHOP, OTHER, UNKNOWN):
        await cache.get(domain)
    repo.secret = "s2"
    cache.tenant_changed(_config("t_tea", SHOP))
    for domain in (SHOP, OTHER, UNKNOWN):
        await cache.get(domain)
    assert repo.reads == [SHOP, OTHER, UNKNOWN, SHOP, UNKNOWN]
    tea = await cache.get(SHOP)
    assert tea is not None and tea.secrets == ("s2",)


async def test_a_shop_claimed_by_a_new_tenant_is_read_again(repo: _Repo) -> None:
    cache = _cache()
    assert await cache.get(UNKNOWN) is None
    OWNERS[UNKNOWN] = "t_new"
    try:
        cache.tenant_changed(_config("t_new", UNKNOWN))
        found = await cache.get(UNKNOWN)
    finally:
        del OWNERS[UNKNOWN]
    assert found is not None and found.tenant_id == "t_new"


async def test_a_read_that_raced_a_change_is_not_kept(repo: _Repo) -> None:
    repo.gate = asyncio.Event()
    cache = _cache()
    reading = asyncio.create_task(cache.get(SHOP))
    await asyncio.sleep(0.01)
    cache.tenant_changed(_config("t_tea", SHOP))  # announced while the read was running
    repo.gate.set()
    await reading
    await cache.get(SHOP)
    assert repo.reads == [SHOP, SHOP]


async def test_entries_live_the_short_ttl_while_the_topic_is_not_followed(repo: _Repo) -> None:
    cache = _cache(ttl=0.0, following=False)
    await cache.get(SHOP)
    await cache.get(SHOP)
    assert repo.reads == [SHOP, SHOP]
    cache.following = True  # now the entry lives until a change (or 60 s)
    await cache.get(SHOP)
    await cache.get(SHOP)
    assert repo.reads == [SHOP, SHOP]


async def test_a_caller_that_goes_away_does_not_cancel_the_read_for_others(repo: _Repo) -> None:
    repo.gate = asyncio.Event()
    cache = _cache()
    leaving = asyncio.create_task(cache.get(SHOP))
    staying = asyncio.create_task(cache.get(SHOP))
    await asyncio.sleep(0.01)
    leaving.cancel()
    repo.gate.set()
    found = await staying
    assert found is not None and found.tenant_id == "t_tea"
    assert leaving.cancelled()
    assert repo.reads == [SHOP]
