"""Accepted facts (every door: webhooks, the generic API, CSV imports) and per-tenant
rate windows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_ingest.domain.facts import first_news
from crm_ingest.tables import accepted_events, rate_windows

_CLAIM = text(
    f"INSERT INTO {accepted_events.fullname} (tenant_id, event_id) "
    "SELECT * FROM unnest(CAST(:tenants AS text[]), CAST(:ids AS text[])) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)
"""One statement for any number of ids and tenants (unnest), so a batch of a
thousand facts costs one round trip and no statement compilation. Through SQLAlchemy
(not the raw driver): the consumer runner tells transient database errors apart by
SQLAlchemy's exception types."""


async def _claim(session: AsyncSession, pairs: Iterable[tuple[str, str]]) -> set[str]:
    """The ids accepted for the first time (an id names its tenant: uuid5 of it).
    Sorted: concurrent transactions claiming overlapping ids lock them in one order."""
    ordered = sorted(set(pairs))
    if not ordered:
        return set()
    params = {"tenants": [t for t, _ in ordered], "ids": [e for _, e in ordered]}
    return set((await session.execute(_CLAIM, params)).scalars())


async def claim_news(session: AsyncSession, groups: Sequence[Sequence[Any]]) -> list[Any]:
    """Of each fact's tellings (:func:`~crm_ingest.domain.facts.tellings`), the first
    not accepted before, in order; every telling is claimed in this transaction, so a
    fact told again by any later delivery is not published twice."""
    fresh = await _claim(session, ((e.tenant_id, e.event_id) for group in groups for e in group))
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
