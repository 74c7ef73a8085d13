"""Bounces and complaints on the messages table (the message's state is left alone)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.tables import messages

m = messages


async def record_bounce(session: AsyncSession, message_id: str, bounce: str, now: datetime) -> None:
    """Keep the first bounce time; a hard bounce replaces a soft one, never the reverse."""
    hard_known = m.c.bounce.like("hard%")
    stmt = (
        m.update()
        .where(m.c.message_id == message_id)
        .values(
            bounce=case((hard_known, m.c.bounce), else_=bounce),
            bounced_at=func.coalesce(m.c.bounced_at, now),
            updated_at=func.now(),
        )
    )
    await session.execute(stmt)


async def record_complaint(session: AsyncSession, message_id: str, now: datetime) -> None:
    stmt = (
        m.update()
        .where(m.c.message_id == message_id)
        .values(complained_at=func.coalesce(m.c.complained_at, now), updated_at=func.now())
    )
    await session.execute(stmt)
