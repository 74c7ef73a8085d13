"""Shop domain -> tenant and active webhook secrets, cached for a few seconds.

The webhook endpoint is the hot path; a lookup per request would put a database
round trip in front of every answer. Admin changes made in this process clear the
cache at once; changes made by another replica are seen within the TTL.
"""

from __future__ import annotations

import time

from crm_common.db import Database
from crm_ingest.repository import tenants as repo
from crm_ingest.repository.tenants import ShopTenant

_MAX_ENTRIES = 10_000


class ShopCache:
    def __init__(self, db: Database, ttl_seconds: float) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[float, ShopTenant | None]] = {}

    async def get(self, shop_domain: str) -> ShopTenant | None:
        """The shop's tenant (None: unknown shop; negative answers are cached too)."""
        now = time.monotonic()
        hit = self._entries.get(shop_domain)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._db.transaction() as session:
            found = await repo.shop_tenant(session, shop_domain)
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[shop_domain] = (now + self._ttl, found)
        return found

    def invalidate(self) -> None:
        self._entries.clear()
