"""Per-tenant reader/writer lock between evaluators and bulk fills.

Evaluators (the consumer, the sweeper) hold the tenant's lock shared for their
transaction and read the segment catalog only after taking it; a fill or any
change to a tenant's segments holds it exclusively. So a fill never races an
evaluation of a profile it is also computing in SQL, and an evaluator never
works from a catalog older than the last committed change.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_KEY = "hashtextextended('segment-tenant:' || :tenant, 0)"


async def share_tenants(session: AsyncSession, tenant_ids: Iterable[str]) -> None:
    """Take the shared lock of each tenant, in sorted order (no lock-order cycles)."""
    for tenant in sorted(set(tenant_ids)):
        await session.execute(
            text(f"SELECT pg_advisory_xact_lock_shared({_KEY})"), {"tenant": tenant}
        )


async def own_tenant(session: AsyncSession, tenant_id: str) -> None:
    """Take the tenant's lock exclusively until the transaction ends."""
    await session.execute(text(f"SELECT pg_advisory_xact_lock({_KEY})"), {"tenant": tenant_id})
