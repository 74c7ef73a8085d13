"""Segment rows as the evaluators need them, and the per-tenant catalog version."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.tables import catalog_versions, segments


async def versions(session: AsyncSession, tenant_ids: Collection[str]) -> dict[str, int]:
    rows = await session.execute(
        select(catalog_versions.c.tenant_id, catalog_versions.c.version).where(
            catalog_versions.c.tenant_id.in_(list(tenant_ids))
        )
    )
    return {row.tenant_id: int(row.version) for row in rows}


async def bump(session: AsyncSession, tenant_id: str) -> None:
    """Announce a change to the tenant's segments to every replica's catalog."""
    stmt = pg_insert(catalog_versions).values(tenant_id=tenant_id, version=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[catalog_versions.c.tenant_id],
        set_={"version": catalog_versions.c.version + 1, "updated_at": func.now()},
    )
    await session.execute(stmt)


async def live_definitions(session: AsyncSession, tenant_id: str) -> dict[str, Any]:
    """Definitions (JSON) of the tenant's active dynamic segments."""
    rows = await session.execute(
        select(segments.c.segment_id, segments.c.definition).where(
            segments.c.tenant_id == tenant_id,
            segments.c.status == "active",
            segments.c.kind == "dynamic",
        )
    )
    return {row.segment_id: row.definition for row in rows}


async def tenants_with_live_segments(session: AsyncSession) -> list[str]:
    rows = await session.execute(
        select(segments.c.tenant_id)
        .where(segments.c.status == "active", segments.c.kind == "dynamic")
        .distinct()
    )
    return sorted(rows.scalars())
