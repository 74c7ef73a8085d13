"""Which dead letters were already replayed (so a replay run re-publishes each once)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_ingest.tables import dlq_replays


async def claim_replays(
    session: AsyncSession, topic: str, letters: Sequence[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Mark ``(dlq partition, dlq offset)`` pairs of DLQ ``topic`` replayed; return the
    ones not marked yet."""
    if not letters:
        return set()
    already = await replayed(session, topic, letters)
    rows = [
        {"dlq_topic": topic, "dlq_partition": p, "dlq_offset": o}
        for p, o in letters
        if (p, o) not in already
    ]
    if not rows:
        return set()
    stmt = (
        pg_insert(dlq_replays)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["dlq_topic", "dlq_partition", "dlq_offset"])
        .returning(dlq_replays.c.dlq_partition, dlq_replays.c.dlq_offset)
    )
    return {(int(p), int(o)) for p, o in (await session.execute(stmt)).all()}


async def replayed(
    session: AsyncSession, topic: str, letters: Sequence[tuple[int, int]]
) -> set[tuple[int, int]]:
    """The letters of DLQ ``topic`` already replayed (rows from before topics were
    recorded, topic '', count as the installation's one DLQ topic)."""
    if not letters:
        return set()
    r = dlq_replays
    stmt = select(r.c.dlq_partition, r.c.dlq_offset).where(
        r.c.dlq_topic.in_([topic, ""]),
        tuple_(r.c.dlq_partition, r.c.dlq_offset).in_(list(letters)),
    )
    return {(int(p), int(o)) for p, o in (await session.execute(stmt)).all()}
