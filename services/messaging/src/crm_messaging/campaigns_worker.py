"""The campaign worker: any number of replicas share the work through the database.

Each round claims ONE campaign with work now (``FOR UPDATE SKIP LOCKED``) and
advances it in its own transaction, so a slow or failing campaign never holds
the others back and replicas never advance the same campaign at once.
"""

from __future__ import annotations

from datetime import timedelta

from crm_common.db import Database
from crm_messaging.background import PollingWorker
from crm_messaging.clock import Clock
from crm_messaging.handlers.campaigns_send import Pace, advance
from crm_messaging.repository import campaigns as repo


class CampaignWorker(PollingWorker):
    name = "campaign-worker"

    def __init__(self, db: Database, clock: Clock, max_batch: int, tick_seconds: float) -> None:
        super().__init__()
        self.db = db
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.idle_seconds = tick_seconds
        self.pace = Pace(max_batch=max_batch, tick=timedelta(seconds=tick_seconds))

    async def round(self) -> int:
        return await self.run_once()

    async def run_once(self) -> int:
        """Advance one campaign that has work now; 0 when none has."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            due = await repo.claim_due(session, now, limit=1)
            for campaign in due:
                await advance(session, campaign, now, self.pace)
        return len(due)

    async def run_until_idle(self, limit: int = 10_000) -> int:
        """Rounds until no campaign has work now (tests, and the CLI)."""
        rounds = 0
        while rounds < limit and await self.run_once():
            rounds += 1
        return rounds
