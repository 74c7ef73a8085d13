"""Message templates: per tenant, per channel, every save a new version."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, and_, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.tables import templates

t = templates


async def latest(session: AsyncSession, tenant_id: str, template_id: str) -> RowMapping | None:
    query = (
        select(t)
        .where(t.c.tenant_id == tenant_id, t.c.template_id == template_id)
        .order_by(t.c.version.desc())
        .limit(1)
    )
    row = (await session.execute(query)).mappings().first()
    return None if row is None or row["deleted"] else row


async def by_versions(
    session: AsyncSession, keys: set[tuple[str, str, int]]
) -> dict[tuple[str, str, int], RowMapping]:
    if not keys:
        return {}
    query = select(t).where(tuple_(t.c.tenant_id, t.c.template_id, t.c.version).in_(list(keys)))
    rows = (await session.execute(query)).mappings().all()
    return {(r["tenant_id"], r["template_id"], r["version"]): r for r in rows}


async def save_version(
    session: AsyncSession,
    tenant_id: str,
    template_id: str,
    *,
    name: str,
    channel: str,
    parts: dict[str, str],
    deleted: bool = False,
) -> RowMapping:
    """Append the next version (the table's primary key makes concurrent saves collide)."""
    current = await session.scalar(
        select(func.max(t.c.version)).where(
            t.c.tenant_id == tenant_id, t.c.template_id == template_id
        )
    )
    stmt = (
        t.insert()
        .values(
            tenant_id=tenant_id,
            template_id=template_id,
            version=(current or 0) + 1,
            name=name,
            channel=channel,
            parts=parts,
            deleted=deleted,
        )
        .returning(t)
    )
    row: RowMapping = (await session.execute(stmt)).mappings().one()
    return row


async def list_latest(session: AsyncSession, tenant_id: str) -> Sequence[RowMapping]:
    newest = (
        select(t.c.template_id, func.max(t.c.version).label("version"))
        .where(t.c.tenant_id == tenant_id)
        .group_by(t.c.template_id)
        .subquery()
    )
    query = (
        select(t)
        .join(
            newest,
            and_(t.c.template_id == newest.c.template_id, t.c.version == newest.c.version),
        )
        .where(t.c.tenant_id == tenant_id)
        .order_by(t.c.template_id)
    )
    rows = (await session.execute(query)).mappings().all()
    return [r for r in rows if not r["deleted"]]
