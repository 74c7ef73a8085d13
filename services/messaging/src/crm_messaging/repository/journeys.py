"""SQL of journeys and their immutable versions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.tables_journeys import journey_versions, journeys

j, v = journeys, journey_versions

_COLUMNS = (
    j.c.tenant_id,
    j.c.journey_id,
    j.c.name,
    j.c.status,
    j.c.version,
    j.c.created_at,
    j.c.updated_at,
    v.c.definition,
)
_JOINED = j.join(
    v,
    and_(
        v.c.tenant_id == j.c.tenant_id, v.c.journey_id == j.c.journey_id, v.c.version == j.c.version
    ),
)


async def get(
    session: AsyncSession, tenant_id: str, journey_id: str, *, lock: bool = False
) -> RowMapping | None:
    """The journey with its current definition."""
    query = select(*_COLUMNS).select_from(_JOINED)
    query = query.where(j.c.tenant_id == tenant_id, j.c.journey_id == journey_id)
    if lock:
        query = query.with_for_update(of=j)
    return (await session.execute(query)).mappings().first()


async def list_all(session: AsyncSession, tenant_id: str) -> Sequence[RowMapping]:
    query = (
        select(*_COLUMNS)
        .select_from(_JOINED)
        .where(j.c.tenant_id == tenant_id)
        .order_by(j.c.created_at, j.c.journey_id)
    )
    return (await session.execute(query)).mappings().all()


async def live_by_trigger(
    session: AsyncSession, tenant_id: str, kind: str, ref: str
) -> Sequence[RowMapping]:
    """Live journeys a fact of this kind (``event``/``segment_entered``) may start."""
    query = (
        select(*_COLUMNS)
        .select_from(_JOINED)
        .where(
            j.c.tenant_id == tenant_id,
            j.c.trigger_kind == kind,
            j.c.trigger_ref == ref,
            j.c.status == "live",
        )
    )
    return (await session.execute(query)).mappings().all()


async def live_of_kind(session: AsyncSession, kind: str) -> Sequence[RowMapping]:
    """Live journeys of every tenant with a trigger kind (the date-trait sweep)."""
    query = (
        select(*_COLUMNS).select_from(_JOINED).where(j.c.trigger_kind == kind, j.c.status == "live")
    )
    return (await session.execute(query)).mappings().all()


async def insert_journey(
    session: AsyncSession,
    tenant_id: str,
    journey_id: str,
    *,
    name: str,
    trigger: tuple[str, str],
    definition: dict[str, Any],
    now: datetime,
) -> bool:
    """A draft at version 1; False when the id is taken."""
    stmt = (
        pg_insert(j)
        .values(
            tenant_id=tenant_id,
            journey_id=journey_id,
            name=name,
            status="draft",
            version=1,
            trigger_kind=trigger[0],
            trigger_ref=trigger[1],
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
        .returning(j.c.journey_id)
    )
    if (await session.execute(stmt)).first() is None:
        return False
    await _insert_version(session, tenant_id, journey_id, 1, definition, now)
    return True


async def _insert_version(
    session: AsyncSession,
    tenant_id: str,
    journey_id: str,
    version: int,
    definition: dict[str, Any],
    now: datetime,
) -> None:
    await session.execute(
        insert(v).values(
            tenant_id=tenant_id,
            journey_id=journey_id,
            version=version,
            definition=definition,
            created_at=now,
        )
    )


async def add_version(
    session: AsyncSession,
    current: RowMapping,
    *,
    name: str,
    trigger: tuple[str, str],
    definition: dict[str, Any],
    now: datetime,
) -> None:
    """A new current version; runs already going keep the version they pinned."""
    tenant_id, journey_id = current["tenant_id"], current["journey_id"]
    version = int(current["version"]) + 1
    await _insert_version(session, tenant_id, journey_id, version, definition, now)
    await session.execute(
        update(j)
        .where(j.c.tenant_id == tenant_id, j.c.journey_id == journey_id)
        .values(
            version=version,
            name=name,
            trigger_kind=trigger[0],
            trigger_ref=trigger[1],
            updated_at=now,
        )
    )


async def set_status(
    session: AsyncSession, tenant_id: str, journey_id: str, status: str, now: datetime
) -> None:
    await session.execute(
        update(j)
        .where(j.c.tenant_id == tenant_id, j.c.journey_id == journey_id)
        .values(status=status, updated_at=now)
    )


async def definitions(
    session: AsyncSession, keys: Sequence[tuple[str, str, int]]
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Pinned definitions by (tenant, journey, version)."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    rows = await session.execute(
        select(v.c.tenant_id, v.c.journey_id, v.c.version, v.c.definition).where(
            tuple_(v.c.tenant_id, v.c.journey_id, v.c.version).in_(wanted)
        )
    )
    return {(t, jid, ver): d for t, jid, ver, d in rows}
