"""Writes of ``rank_history``: one row per change of a profile's RFM rank.

Written by :func:`crm_profile.handlers.publish.finish` in the batch's
transaction, only for profiles whose rank changed (a profile whose rank never
moves costs nothing). Two changes at the same instant (a frozen test clock)
keep the last one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_profile.tables import rank_history


async def record(
    session: AsyncSession, tenant_id: str, changes: Sequence[tuple[str, str | None]], at: datetime
) -> None:
    """Record ``(profile_id, new rank or None)`` pairs as valid from ``at`` (one
    statement; ``unnest`` keeps it the same, and compiled once, for any count)."""
    if not changes:
        return
    await session.execute(
        text(
            'INSERT INTO "profile".rank_history (tenant_id, profile_id, rank, valid_from) '
            "SELECT :tenant_id, u.p, u.r, :at FROM unnest(CAST(:pids AS text[]), "
            "CAST(:ranks AS text[])) AS u(p, r) "
            "ON CONFLICT (tenant_id, profile_id, valid_from) DO UPDATE SET rank = EXCLUDED.rank"
        ),
        {
            "tenant_id": tenant_id,
            "at": at,
            "pids": [p for p, _ in changes],
            "ranks": [r for _, r in changes],
        },
    )


async def drop(session: AsyncSession, tenant_id: str, profile_ids: Sequence[str]) -> None:
    """Forget the history of records merged away: the survivor's history is the person's."""
    h = rank_history
    await session.execute(
        delete(h).where(h.c.tenant_id == tenant_id, h.c.profile_id.in_(list(profile_ids)))
    )
