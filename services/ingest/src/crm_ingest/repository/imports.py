"""CSV imports: the import row (status, progress, lease), rejected rows, fingerprints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_ingest.tables import import_fingerprints, import_rejections, imports

ACTIVE = ("queued", "processing")


async def create_import(session: AsyncSession, **values: Any) -> None:
    await session.execute(imports.insert().values(status="queued", **values))


async def get_import(session: AsyncSession, tenant_id: str, import_id: str) -> Any | None:
    i = imports
    stmt = select(i).where(i.c.tenant_id == tenant_id, i.c.import_id == import_id)
    return (await session.execute(stmt)).first()


async def rejections(session: AsyncSession, import_id: str, offset: int, limit: int) -> list[Any]:
    r = import_rejections
    stmt = (
        select(r.c.line, r.c.reason)
        .where(r.c.import_id == import_id)
        .order_by(r.c.line)
        .offset(offset)
        .limit(limit)
    )
    return list((await session.execute(stmt)).all())


async def claim(
    session: AsyncSession, import_id: str, owner: str, stale_seconds: float | None
) -> Any | None:
    """Take the lease on an import: a queued one (``stale_seconds`` None), or one whose
    holder stopped committing progress ``stale_seconds`` ago (a crashed replica)."""
    i = imports
    cond = [i.c.import_id == import_id, i.c.status.in_(ACTIVE)]
    if stale_seconds is None:
        cond.append(i.c.status == "queued")
    else:
        cond.append(i.c.updated_at < func.now() - _seconds(stale_seconds))
    stmt = (
        update(i)
        .where(*cond)
        .values(status="processing", owner=owner, updated_at=func.now())
        .returning(i)
    )
    return (await session.execute(stmt)).first()


async def stale_imports(session: AsyncSession, stale_seconds: float) -> list[str]:
    i = imports
    stmt = select(i.c.import_id).where(
        i.c.status.in_(ACTIVE), i.c.updated_at < func.now() - _seconds(stale_seconds)
    )
    return list((await session.execute(stmt)).scalars())


async def queued_imports(session: AsyncSession, limit: int = 20) -> list[str]:
    """Imports accepted by an API-only process and not yet claimed by any worker."""
    i = imports
    stmt = select(i.c.import_id).where(i.c.status == "queued").order_by(i.c.created_at).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def statuses(session: AsyncSession, import_ids: Sequence[str]) -> dict[str, str]:
    """The status of each of ``import_ids`` that exists."""
    i = imports
    stmt = select(i.c.import_id, i.c.status).where(i.c.import_id.in_(list(import_ids)))
    return {row.import_id: row.status for row in await session.execute(stmt)}


_NEW_FINGERPRINTS = text(
    f"INSERT INTO {import_fingerprints.fullname} (import_id, fingerprint) "
    "SELECT :import_id, unnest(CAST(:prints AS text[])) "
    "ON CONFLICT DO NOTHING RETURNING fingerprint"
)


async def new_fingerprints(
    session: AsyncSession, import_id: str, prints: Sequence[str]
) -> set[str]:
    """Record row fingerprints; return the ones this import had not seen (one
    statement per piece, whatever its size)."""
    if not prints:
        return set()
    params = {"import_id": import_id, "prints": list(prints)}
    return set((await session.execute(_NEW_FINGERPRINTS, params)).scalars())


async def add_rejections(
    session: AsyncSession, import_id: str, rows: Sequence[tuple[int, str]]
) -> None:
    if rows:
        stmt = pg_insert(import_rejections).values(
            [{"import_id": import_id, "line": line, "reason": reason} for line, reason in rows]
        )
        await session.execute(stmt.on_conflict_do_nothing())


async def advance(session: AsyncSession, import_id: str, owner: str, **deltas: int) -> bool:
    """Add ``deltas`` to the counters while still holding the lease; False if lost."""
    i = imports
    values: dict[str, Any] = {k: i.c[k] + v for k, v in deltas.items()}
    stmt = (
        update(i)
        .where(i.c.import_id == import_id, i.c.owner == owner, i.c.status == "processing")
        .values(updated_at=func.now(), **values)
        .returning(i.c.import_id)
    )
    return (await session.execute(stmt)).first() is not None


async def finish(
    session: AsyncSession,
    import_id: str,
    owner: str | None,
    status: str,
    error: str | None = None,
    **values: Any,
) -> bool:
    """End the import (``owner`` None: whoever holds it); False if ``owner`` lost it."""
    i = imports
    cond = [i.c.import_id == import_id]
    if owner is not None:
        cond.append(i.c.owner == owner)
    ended = await session.execute(
        update(i)
        .where(*cond)
        .values(status=status, error=error, finished_at=func.now(), updated_at=func.now(), **values)
        .returning(i.c.import_id)
    )
    if ended.first() is None:
        return False
    await session.execute(
        delete(import_fingerprints).where(import_fingerprints.c.import_id == import_id)
    )
    return True


def _seconds(seconds: float) -> Any:
    return text(f"interval '{float(seconds)} seconds'")
