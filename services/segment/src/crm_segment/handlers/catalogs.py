"""Each process's in-memory catalogs, reloaded when a tenant's version moves."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.domain.catalog import TenantCatalog, build_catalog
from crm_segment.domain.definition import parse_definition
from crm_segment.repository import catalog as repo


class CatalogCache:
    """Catalog per tenant; call with the tenant's lock held (see repository.locks)."""

    def __init__(self) -> None:
        self._by_tenant: dict[str, TenantCatalog] = {}

    async def get(self, session: AsyncSession, tenant_id: str) -> TenantCatalog:
        return (await self.get_many(session, [tenant_id]))[tenant_id]

    async def get_many(
        self, session: AsyncSession, tenant_ids: Collection[str]
    ) -> dict[str, TenantCatalog]:
        current = await repo.versions(session, tenant_ids)
        found: dict[str, TenantCatalog] = {}
        for tenant in tenant_ids:
            version = current.get(tenant, 0)
            cached = self._by_tenant.get(tenant)
            if cached is None or cached.version != version:
                raw = await repo.live_definitions(session, tenant)
                cached = build_catalog(version, {k: parse_definition(v) for k, v in raw.items()})
                self._by_tenant[tenant] = cached
            found[tenant] = cached
        return found
