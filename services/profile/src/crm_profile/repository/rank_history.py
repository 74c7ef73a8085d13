"""Writes of ``rank_history``: one row per change of a profile's RFM rank.

Written by :func:`crm_profile.handlers.publish.finish` in the batch's
transaction, only for profiles whose rank changed (a profile whose rank never
moves costs nothing). Two changes at the same instant (a frozen test clock)
keep the last one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_profile.tables import rank_history


async def record(
    session: AsyncSession, tenant_id: str, changes: Sequence[tuple[str, str | None]], at: datetime
) -> None:
    """Record ``(profile_id, new rank or None)`` pairs as valid from ``at``."""
    if not changes:
        return
    h = rank_history
    stmt = pg_insert(h).values(
        [{"tenant_id": tenant_id, "profile_id": p, "rank": r, "valid_from": at} for p, r in changes]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[h.c.tenant_id, h.c.profile_id, h.c.valid_from],
        set_={"rank": stmt.excluded.rank},
    )
    await session.execute(stmt)


async def drop(session: AsyncSession, tenant_id: str, profile_ids: Sequence[str]) -> None:
    """Forget the history of records merged away: the survivor's history is the person's."""
    h = rank_history
    await session.execute(
        delete(h).where(h.c.tenant_id == tenant_id, h.c.profile_id.in_(list(profile_ids)))
    )
