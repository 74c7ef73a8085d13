"""Keeping time-dependent traits true while a customer does nothing.

``days_since_last_order``, RFM recency (hence the rank), churn risk and
subscription status change with time alone. Every ``refresh_seconds`` the
refresher claims profiles with orders or subscriptions whose traits were
computed more than ``refresh_max_age_seconds`` ago (``FOR UPDATE SKIP LOCKED``,
so replicas split the work), ``refresh_batch`` per transaction, oldest first,
until none is due. Each claimed profile goes through the consumer's
:func:`~crm_profile.handlers.publish.finish`: traits recomputed as of the
service clock, and only a changed snapshot bumps ``version`` and enqueues
``profile.changed`` (same shape and event id scheme as the consumer's).
Each tick also grants the day's birthday points (:mod:`crm_profile.handlers.birthday`);
points expiring and member ranks judged on a moving window are time-dependent
traits like the others (profiles with points entries are claimed too).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from crm_common.clock import Clock
from crm_common.db import Database
from crm_profile import metrics
from crm_profile.config import ProfileService
from crm_profile.handlers.batch import TenantBatch
from crm_profile.handlers.birthday import grant_birthday_points
from crm_profile.handlers.process import thresholds_of
from crm_profile.handlers.publish import finish
from crm_profile.repository import due
from crm_profile.repository import loyalty as loyalty_repo

log = logging.getLogger(__name__)


class TraitsRefresher:
    def __init__(self, db: Database, clock: Clock, settings: ProfileService) -> None:
        self.db = db
        self.clock = clock
        self.every = settings.refresh_seconds
        self.max_age = timedelta(seconds=settings.refresh_max_age_seconds)
        self.batch_size = settings.refresh_batch

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.refresh_due()
            except Exception as exc:  # retried at the next tick
                log.warning("refreshing traits failed", extra={"error": repr(exc)})
            try:
                await grant_birthday_points(self.db, self.clock.now())
            except Exception as exc:  # retried at the next tick (keys make it idempotent)
                log.warning("granting birthday points failed", extra={"error": repr(exc)})

    async def refresh_due(self) -> int:
        """Refresh every due profile; returns how many were recomputed."""
        total = 0
        while True:
            done = await self.refresh_batch()
            total += done
            if done < self.batch_size:
                return total

    async def refresh_batch(self) -> int:
        """One transaction: claim a batch of due profiles and recompute them."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            claimed = await due.claim_due(session, now - self.max_age, self.batch_size)
            for tenant_id in sorted(claimed):
                rules = await thresholds_of(session, tenant_id)
                programme = await loyalty_repo.programme_of(session, tenant_id)
                batch = TenantBatch(session, tenant_id, now, rules, programme=programme)
                await batch.lock(claimed[tenant_id])
                for profile in batch.profiles.values():
                    profile.touched = True
                events = await finish(batch)
                metrics.REFRESH_CHANGED.inc(len(events))
        count = sum(len(ids) for ids in claimed.values())
        metrics.REFRESHED.inc(count)
        return count
