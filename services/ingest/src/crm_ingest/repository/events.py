"""Accepted facts (every door: webhooks, the generic API, CSV imports) and per-tenant
rate windows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_ingest.domain.facts import first_news
from crm_ingest.tables import accepted_events, rate_windows


async def claim_accepted(
    session: AsyncSession, tenant_id: str, event_ids: Sequence[str]
) -> set[str]:
    """Record canonical ids as accepted; return those seen for the first time.
    Sorted: concurrent transactions claiming overlapping ids lock them in one order."""
    if not event_ids:
        return set()
    stmt = (
        pg_insert(accepted_events)
        .values([{"tenant_id": tenant_id, "event_id": e} for e in sorted(set(event_ids))])
        .on_conflict_do_nothing()
        .returning(accepted_events.c.event_id)
    )
    return set((await session.execute(stmt)).scalars())


async def claim_news(session: AsyncSession, groups: Sequence[Sequence[Any]]) -> list[Any]:
    """Of each fact's tellings (:func:`~crm_ingest.domain.facts.tellings`), the first
    not accepted before, in order; every telling is claimed in this transaction, so a
    fact told again by any later delivery is not published twice."""
    by_tenant: dict[str, list[str]] = {}
    for group in groups:
        for event in group:
            by_tenant.setdefault(event.tenant_id, []).append(event.event_id)
    fresh: set[str] = set()
    for tenant_id in sorted(by_tenant):
        fresh |= await claim_accepted(session, tenant_id, by_tenant[tenant_id])
    return first_news(groups, fresh)


async def hit_rate_window(session: AsyncSession, tenant_id: str, window_start: int) -> int:
    """Count one request in the tenant's window; the count including this one."""
    insert = pg_insert(rate_windows).values(tenant_id=tenant_id, window_start=window_start, hits=1)
    stmt = insert.on_conflict_do_update(
        index_elements=[rate_windows.c.tenant_id, rate_windows.c.window_start],
        set_={"hits": rate_windows.c.hits + 1},
    ).returning(rate_windows.c.hits)
    return int((await session.execute(stmt)).scalar_one())


async def prune_rate_windows(session: AsyncSession, before: int) -> int:
    result = await session.execute(delete(rate_windows).where(rate_windows.c.window_start < before))
    return int(getattr(result, "rowcount", 0) or 0)
