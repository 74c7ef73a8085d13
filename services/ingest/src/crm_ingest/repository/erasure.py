"""SQL of erasure in the ingest schema: outbox rows, accepted ids, imports of a tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_ingest.tables import (
    accepted_events,
    import_fingerprints,
    import_rejections,
    imports,
    outbox,
    rate_windows,
)


def _of_tenant(tenant_id: str) -> ColumnElement[bool]:
    """Outbox rows of the tenant: every key is ``tenant:identity``."""
    prefix = f"{tenant_id}:"
    return func.left(outbox.c.key, len(prefix)) == prefix


async def unpublished_until(session: AsyncSession, tenant_id: str, until: datetime) -> int:
    """How many of the tenant's outbox rows written up to ``until`` wait for the relay."""
    o = outbox
    count = await session.scalar(
        select(func.count())
        .select_from(o)
        .where(_of_tenant(tenant_id), o.c.published_at.is_(None), o.c.created_at <= until)
    )
    return int(count or 0)


async def delete_published(session: AsyncSession, tenant_id: str) -> int:
    """Delete the tenant's published outbox rows (dead-lettered ones too); how many."""
    o = outbox
    result = await session.execute(
        delete(o).where(_of_tenant(tenant_id), o.c.published_at.is_not(None))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_imports(session: AsyncSession, tenant_id: str) -> list[str]:
    """Delete the tenant's imports with their rejections and fingerprints; their spool paths.

    A worker still running one of them loses its lease at its next commit (the row is
    gone), which rolls that piece back.
    """
    i = imports
    rows = await session.execute(
        delete(i).where(i.c.tenant_id == tenant_id).returning(i.c.import_id, i.c.spool_path)
    )
    found = rows.all()
    ids = [row.import_id for row in found]
    if ids:
        for table in (import_rejections, import_fingerprints):
            await session.execute(delete(table).where(table.c.import_id.in_(ids)))
    return [row.spool_path for row in found]


async def delete_tenant_rows(session: AsyncSession, tenant_id: str) -> None:
    """The tenant's outbox rows (published or not), accepted ids and rate windows."""
    await session.execute(delete(outbox).where(_of_tenant(tenant_id)))
    for table in (accepted_events, rate_windows):
        await session.execute(delete(table).where(table.c.tenant_id == tenant_id))
