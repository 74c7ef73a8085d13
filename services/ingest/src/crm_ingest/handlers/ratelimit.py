"""Per-tenant rate limit of the generic API, shared by every replica.

A fixed one-second window per tenant in PostgreSQL: ``INSERT ... ON CONFLICT DO
UPDATE SET hits = hits + 1 RETURNING hits`` in its own short transaction, so the
row lock is held for one statement, not for the request. A window can let through
up to twice the limit across its edge, which is fine for protecting the service.
"""

from __future__ import annotations

import math
import time

from crm_common.db import Database
from crm_ingest import metrics
from crm_ingest.repository import events as repo
from crm_ingest.repository import tenants as tenants_repo

_KEEP_WINDOWS = 120


class RateLimited(Exception):
    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(f"rate limit of {limit} requests/s exceeded")
        self.retry_after = retry_after
        self.limit = limit


async def check(db: Database, tenant_id: str, default_limit: int) -> None:
    """Count this request; raise :class:`RateLimited` when over the tenant's limit."""
    now = time.time()
    window = int(now)
    async with db.transaction() as session:
        own = await tenants_repo.rate_limit_of(session, tenant_id)
        hits = await repo.hit_rate_window(session, tenant_id, window)
    limit = default_limit if own is None else own
    if hits > limit:
        metrics.REJECTED.labels("api", "rate_limited").inc()
        raise RateLimited(max(1, math.ceil(window + 1 - now)), limit)


async def prune(db: Database) -> int:
    async with db.transaction() as session:
        return await repo.prune_rate_windows(session, int(time.time()) - _KEEP_WINDOWS)
