"""Per-tenant RFM thresholds and the tenant's currency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_profile.tables import rfm_settings, tenants


async def stored_thresholds(session: AsyncSession, tenant_id: str) -> dict[str, Any] | None:
    r = rfm_settings
    return await session.scalar(select(r.c.thresholds).where(r.c.tenant_id == tenant_id))


async def tenant_currency(session: AsyncSession, tenant_id: str) -> str | None:
    t = tenants
    return await session.scalar(select(t.c.currency).where(t.c.tenant_id == tenant_id))


async def save_thresholds(
    session: AsyncSession, tenant_id: str, thresholds: dict[str, Any]
) -> None:
    r = rfm_settings
    stmt = pg_insert(r).values(tenant_id=tenant_id, thresholds=thresholds)
    stmt = stmt.on_conflict_do_update(
        index_elements=[r.c.tenant_id],
        set_={"thresholds": stmt.excluded.thresholds, "updated_at": func.now()},
    )
    await session.execute(stmt)
