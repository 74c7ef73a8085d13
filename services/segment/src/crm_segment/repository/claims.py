"""Claims: how a fill job and live evaluation of the same segment never overwrite
each other's decisions (:mod:`crm_segment.handlers.jobs` tells the whole protocol).

A claim is a row ``(tenant, segment, profile)`` in the UNLOGGED ``fill_claims``.
Live evaluation (consumers, sweeper) claims every profile it evaluates for every
segment being filled (the catalog lists them: ``TenantCatalog.filling``, loaded from
the unfinished jobs), *before* it reads the profile's memberships, and decides every
one of those segments for it, whatever the change (a claimed profile is left to it,
so a change to what only another segment reads must still decide the filled one);
a fill chunk
claims, in the statement that writes them, the profiles whose membership it is
about to change, and skips the ones it cannot claim. Two inserts of one key
serialize on the primary key: whichever comes second waits for the first
transaction to end, so

* if the fill claimed first, the evaluation reads memberships only after the
  chunk committed (READ COMMITTED: a new snapshot per statement) and decides
  against what the fill wrote;
* if the evaluation claimed first, the chunk's insert conflicts once it commits,
  and the chunk leaves that profile to it: the chunk's own view of the profile
  predates the evaluation's.

A committed claim is never needed again (both sides read fresh data after it);
jobs delete their segments' claims as they go and when they end. Claims are taken
in one order (segment in evaluation order, then profile id), so two writers never
wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_CLAIM = text(
    "INSERT INTO segment.fill_claims (tenant_id, segment_id, profile_id) "
    "SELECT :tenant, s.segment_id, p.profile_id "
    "FROM unnest(CAST(:segment_ids AS text[])) WITH ORDINALITY AS s(segment_id, i) "
    "CROSS JOIN unnest(CAST(:profile_ids AS text[])) AS p(profile_id) "
    'ORDER BY s.i, p.profile_id COLLATE "C" '
    "ON CONFLICT DO NOTHING"
)


async def claim(
    session: AsyncSession, tenant_id: str, segment_ids: Sequence[str], profile_ids: Sequence[str]
) -> None:
    """Claim these profiles for these segments (in evaluation order) until commit."""
    if segment_ids and profile_ids:
        params = {"tenant": tenant_id, "segment_ids": list(segment_ids)}
        await session.execute(_CLAIM, {**params, "profile_ids": sorted(set(profile_ids))})


async def release(session: AsyncSession, tenant_id: str, segment_ids: Sequence[str]) -> None:
    """Drop the committed claims on these segments (uncommitted ones are not visible)."""
    if segment_ids:
        await session.execute(
            text(
                "DELETE FROM segment.fill_claims WHERE tenant_id = :tenant"
                " AND segment_id = ANY(CAST(:segment_ids AS text[]))"
            ),
            {"tenant": tenant_id, "segment_ids": list(segment_ids)},
        )
