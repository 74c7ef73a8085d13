"""The journey worker: claims due runs (``FOR UPDATE SKIP LOCKED``) and advances them,
one transaction per batch; sweeps date-trait triggers (birthdays) once per round.

A batch is advanced as a whole (facts read in three queries, messages, states and
history written together) under one savepoint; if anything in it fails, the batch
is rolled back to that savepoint and advanced again run by run, each under its own
savepoint, so one broken run ends (and says so) without holding up the others.

Several workers (in one process or many) share the runs table safely. A crash
before the commit leaves the runs due and untouched; the next round repeats the
batch, and enqueueing a step's message again is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database
from crm_messaging.background import PollingWorker
from crm_messaging.clock import Clock
from crm_messaging.domain.clock import wall, zone
from crm_messaging.domain.journeys import DateTraitTrigger, JourneyDefinition, SendStep
from crm_messaging.handlers.journeys_entry import Trigger, enter, load_facts, load_facts_many
from crm_messaging.handlers.journeys_runs import advance, advance_many, fail_run
from crm_messaging.metrics_journeys import WORKER_LAG
from crm_messaging.repository import journey_facts as facts_repo
from crm_messaging.repository import journey_runs as runs_repo
from crm_messaging.repository import journeys as journeys_repo

log = logging.getLogger(__name__)
Pinned = tuple[RowMapping, JourneyDefinition]


class JourneyWorker(PollingWorker):
    name = "journey-worker"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        batch: int = 500,
        idle_seconds: float = 0.5,
        sweep_seconds: float = 60.0,
    ) -> None:
        super().__init__()
        self.db = db
        self.clock = clock
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.sweep_seconds = sweep_seconds
        self._last_sweep: float | None = None

    async def round(self) -> int:
        await self._maybe_sweep()
        return await self.run_once()

    async def run_once(self) -> int:
        """One batch of due runs at the clock's now; how many were advanced."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            oldest = await runs_repo.oldest_due(session, now)
            WORKER_LAG.set(lag_seconds(oldest, now))
            runs = await runs_repo.claim_due(session, now, self.batch)
            keys = [(r["tenant_id"], r["journey_id"], r["version"]) for r in runs]
            definitions = await journeys_repo.definitions(session, keys)
            parsed = {key: _parsed(key, d) for key, d in definitions.items()}
            pinned = []
            for run, key in zip(runs, keys, strict=True):
                defn = parsed.get(key)
                if defn is None:  # its definition is gone or unreadable: end it, say why
                    await fail_run(session, run, now, "error:definition")
                else:
                    pinned.append((run, defn))
            if pinned and not await self._advance_batch(session, pinned, now):
                for run, defn in pinned:
                    await self._advance_one(session, run, defn, now)
        return len(runs)

    async def _advance_batch(
        self, session: AsyncSession, pinned: list[Pinned], now: datetime
    ) -> bool:
        """The whole batch at once; False (rolled back) when something in it failed."""
        try:
            async with session.begin_nested():
                people = [(run["tenant_id"], run["profile_id"]) for run, _ in pinned]
                choosing = {
                    key
                    for key, (_, defn) in zip(people, pinned, strict=True)
                    if _has_alternatives(defn)
                }
                facts = await load_facts_many(session, people, reachable_for=choosing)
                pairs = zip(pinned, people, strict=True)
                items = [(run, defn, facts[key]) for (run, defn), key in pairs]
                await advance_many(session, items, now)
        except Exception:
            log.warning("journey batch failed; advancing its runs one by one", exc_info=True)
            return False
        return True

    async def _advance_one(
        self, session: AsyncSession, run: RowMapping, defn: JourneyDefinition, now: datetime
    ) -> None:
        # A savepoint per run: one broken run ends (and says so) instead of failing the
        # batch on every round.
        try:
            async with session.begin_nested():
                facts = await load_facts(session, run["tenant_id"], run["profile_id"])
                await advance(session, run, defn, facts, now)
        except Exception:
            log.exception("journey run failed", extra={"run_id": run["run_id"]})
            await fail_run(session, run, now)

    async def drain(self, limit: int = 1000) -> int:
        """Rounds until nothing is due (tests); runs advanced in total."""
        total = 0
        for _ in range(limit):
            done = await self.run_once()
            if not done:
                break
            total += done
        return total

    async def _maybe_sweep(self) -> None:
        loop = asyncio.get_running_loop()
        if self._last_sweep is not None and loop.time() - self._last_sweep < self.sweep_seconds:
            return
        self._last_sweep = loop.time()
        await self.sweep_dates()

    async def sweep_dates(self) -> int:
        """Start runs of live date-trait journeys whose day it is (journey timezone)."""
        now = self.clock.now()
        started = 0
        async with self.db.transaction() as session:
            for journey in await journeys_repo.live_of_kind(session, "date_trait"):
                defn = JourneyDefinition.model_validate(journey["definition"])
                trigger = defn.trigger
                assert isinstance(trigger, DateTraitTrigger)
                day = wall(now, zone(defn.timezone)).date() - timedelta(days=trigger.offset_days)
                pattern = day.strftime("%m-%d") if trigger.yearly else day.isoformat()
                people = await facts_repo.date_trait_matches(
                    session, journey["tenant_id"], trigger.trait, pattern
                )
                for profile_id in people:
                    fact = Trigger("date_trait", f"{trigger.trait}:{day.isoformat()}")
                    started += bool(await enter(session, journey, profile_id, fact, now))
        return started


def _parsed(key: tuple[str, str, int], definition: Any) -> JourneyDefinition | None:
    try:
        return JourneyDefinition.model_validate(definition)
    except ValueError:
        log.exception("unreadable journey definition", extra={"journey": key[1], "version": key[2]})
        return None


def _has_alternatives(defn: JourneyDefinition) -> bool:
    """A send step that may fall back to another channel (it reads reachable channels)."""
    return any(isinstance(step, SendStep) and step.alternatives for step in defn.steps)


def lag_seconds(oldest: datetime | None, now: datetime) -> float:
    return (now - oldest).total_seconds() if oldest else 0.0
