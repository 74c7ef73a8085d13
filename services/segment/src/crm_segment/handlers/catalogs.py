"""Each process's in-memory catalogs, reloaded when a tenant's version moves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.domain.catalog import TenantCatalog, build_catalog
from crm_segment.domain.definition import Definition, DefinitionError, parse_definition
from crm_segment.domain.limits import DEFAULT_LIMITS, DefinitionLimits
from crm_segment.repository import catalog as repo
from crm_segment.repository import jobs as jobs_repo

log = logging.getLogger(__name__)


def live_catalog(
    version: int,
    raw: Mapping[str, Any],
    limits: DefinitionLimits,
    tenant_id: str = "",
    filling: Collection[str] = (),
) -> TenantCatalog:
    """The catalog of the definitions that parse within ``limits``; ``filling``: the
    segments unfinished jobs fill (the catalog adds their live readers), which live
    evaluation claims (:mod:`crm_segment.repository.claims`).

    A definition over the limits (saved before they existed, or before an
    operator lowered them) is left out: it is never evaluated, its members stay
    as they were, and the API shows it as suspended until it is edited.
    CPU-bound: run it in a worker thread.
    """
    admitted: dict[str, Definition] = {}
    for segment_id, data in raw.items():
        try:
            admitted[segment_id] = parse_definition(data, limits)
        except DefinitionError as exc:
            log.warning(
                "segment not evaluated: its definition is refused",
                extra={"tenant_id": tenant_id, "segment_id": segment_id, "error": str(exc)},
            )
    return build_catalog(version, admitted, filling)


class CatalogCache:
    """Catalog per tenant; call with the tenant's lock held (see repository.locks).

    Queuing and ending a job bump the catalog version in the transaction that changes
    the job, so a catalog of the current version lists exactly the segments being
    filled."""

    def __init__(self, limits: DefinitionLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
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
                filling = await jobs_repo.unfinished_segments(session, tenant)
                cached = await asyncio.to_thread(
                    live_catalog, version, raw, self.limits, tenant, filling
                )
                self._by_tenant[tenant] = cached
            found[tenant] = cached
        return found
