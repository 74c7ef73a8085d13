"""SQL of erasure: a person's stored events, the erasure tombstones, a tenant's rows."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.tables import erased_profiles, events, metadata, outbox, tenants

e, t = events, erased_profiles


async def erased_through(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str]
) -> dict[str, datetime]:
    """The erasure moment of each erased profile among ``profile_ids``."""
    if not profile_ids:
        return {}
    rows = await session.execute(
        select(t.c.profile_id, t.c.erased_through).where(
            t.c.tenant_id == tenant_id, t.c.profile_id.in_(sorted(profile_ids))
        )
    )
    return {row.profile_id: row.erased_through for row in rows}


async def record(session: AsyncSession, tenant_id: str, profile_id: str, through: datetime) -> None:
    """Remember the erasure (the latest moment wins: erasures only ever widen)."""
    stmt = pg_insert(t).values(tenant_id=tenant_id, profile_id=profile_id, erased_through=through)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "profile_id"],
            set_={
                "erased_through": func.greatest(t.c.erased_through, stmt.excluded.erased_through)
            },
        )
    )


async def events_through(
    session: AsyncSession, tenant_id: str, profile_id: str, through: datetime
) -> Sequence[Any]:
    """``(event_id, type, properties)`` of the profile's events up to ``through``."""
    rows = await session.execute(
        select(e.c.event_id, e.c.type, e.c.properties).where(
            e.c.tenant_id == tenant_id, e.c.profile_id == profile_id, e.c.occurred_at <= through
        )
    )
    return rows.all()


async def set_properties(
    session: AsyncSession, tenant_id: str, changed: Sequence[tuple[str, dict[str, Any]]]
) -> None:
    """Overwrite the properties of the events ``(event_id, properties)``."""
    if not changed:
        return
    stmt = (
        update(e)
        .where(e.c.tenant_id == tenant_id, e.c.event_id == bindparam("b_event_id"))
        .values(properties=bindparam("b_properties"))
    )
    await session.execute(
        stmt, [{"b_event_id": eid, "b_properties": props} for eid, props in changed]
    )


async def erase_tenant(session: AsyncSession, tenant_id: str) -> None:
    """Delete every row of the tenant in the schema, its outbox rows included.

    ``tenants`` stays: it is the tenant's configuration as published on the
    compacted crm.tenants.v1 (API key hashes, no personal data), owned by ingest.
    """
    for table in reversed(metadata.sorted_tables):
        if table is not tenants and "tenant_id" in table.c:
            await session.execute(delete(table).where(table.c.tenant_id == tenant_id))
    prefix = f"{tenant_id}:"
    await session.execute(delete(outbox).where(func.left(outbox.c.key, len(prefix)) == prefix))
