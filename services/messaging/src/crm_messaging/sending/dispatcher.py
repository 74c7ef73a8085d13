"""The dispatcher loop: several can run (in one process or many) on one database.

Each round: resolve crashed attempts (:mod:`.recovery`), claim due messages
with ``FOR UPDATE SKIP LOCKED`` and decide them in one transaction
(:mod:`.prepare`), commit, then send the remote ones concurrently (rate limited
per provider) and record each outcome in its own short transaction.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from crm_common.db import Database
from crm_common.events.customers import Channel
from crm_messaging.background import BackgroundWorker
from crm_messaging.clock import Clock
from crm_messaging.config import MessagingService
from crm_messaging.domain.backoff import (
    GiveUp,
    OutcomeClass,
    ProviderOutcome,
    RetryAt,
    RetryPolicy,
    next_retry,
)
from crm_messaging.sending import repository as repo
from crm_messaging.sending import transitions as tr
from crm_messaging.sending.channels.base import ChannelAdapter, Outgoing, SendContext, SendResult
from crm_messaging.sending.channels.ratelimit import RateLimiter
from crm_messaging.sending.groupcommit import GroupCommit
from crm_messaging.sending.prepare import Preparer
from crm_messaging.sending.recovery import recover
from crm_messaging.sending.render_pool import RenderPool, render_limits
from crm_messaging.sending.repository import Completion

log = logging.getLogger(__name__)


class Dispatcher(BackgroundWorker):
    """Its own loop (claims while sends are in flight); start/stop from the base."""

    name = "dispatcher"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: MessagingService,
        adapters: Mapping[Channel, ChannelAdapter],
        limiter: RateLimiter,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.adapters = adapters
        self.limiter = limiter
        self.render_pool = RenderPool(render_limits(settings, settings.render_workers))
        self.preparer = Preparer(settings, adapters, self.render_pool)
        self.retry = RetryPolicy(
            base=timedelta(seconds=settings.retry_base_seconds),
            cap=timedelta(seconds=settings.retry_cap_seconds),
            max_attempts=settings.retry_max_attempts,
        )
        super().__init__()
        self._slots = asyncio.Semaphore(settings.dispatch_concurrency)
        self._sent = GroupCommit(self._commit_sent)
        self._data_started = GroupCommit(self._commit_data_started)

    async def start(self) -> None:
        await self.render_pool.start()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        await self.render_pool.close()

    async def _loop(self) -> None:
        """Claim while there is room, send in the background: claiming never waits for
        the slowest send of the previous batch. At most two batches' worth in flight."""
        inflight: set[asyncio.Task[None]] = set()
        room = 2 * self.settings.dispatch_concurrency
        while not self._stopping.is_set():
            handled = 0
            if len(inflight) < room:
                try:
                    handled, outs = await self._claim(min(self.settings.dispatch_batch, room))
                except Exception as exc:  # the database or a bug: log, back off, go on
                    log.warning("dispatch round failed", extra={"error": repr(exc)})
                    outs = []
                for out in outs:
                    task = asyncio.create_task(self._send_logged(out))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
            if handled == 0 or len(inflight) >= room:
                await self._pause(inflight)
        if inflight:
            await asyncio.wait(inflight, timeout=25)

    async def _pause(self, inflight: set[asyncio.Task[None]]) -> None:
        waits: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self._stopping.wait()),
            *inflight,
        ]
        await asyncio.wait(
            waits,
            timeout=self.settings.dispatch_idle_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        waits[0].cancel()

    async def run_once(self) -> int:
        """One round, sends awaited; returns how many messages it handled (0: none due)."""
        handled, outs = await self._claim(self.settings.dispatch_batch)
        await asyncio.gather(*(self._send_logged(out) for out in outs))
        return handled

    async def _claim(self, limit: int) -> tuple[int, list[Outgoing]]:
        """Recover crashed attempts and decide due messages; the remote sends to make."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            stale = await repo.claim_stale(session, limit)
            again = await recover(session, stale, now, self.settings)
        async with self.db.transaction() as session:
            rows = await repo.claim_due(session, now, limit)
            remote = await self.preparer.prepare(session, rows, now) if rows else []
        return len(stale) + len(rows), [*again, *remote]

    async def _send_logged(self, out: Outgoing) -> None:
        try:
            await self._send(out)
        except Exception as exc:
            # The attempt stays ``sending``; its lease expires and recovery takes it.
            log.warning("recording a send outcome failed", extra={"error": repr(exc)})

    async def _send(self, out: Outgoing) -> None:
        async with self._slots:
            adapter = self.adapters[Channel(out.message["channel"])]
            await self.limiter.acquire(adapter.provider)
            ctx = SendContext(now=self.clock.now(), before_data=lambda: self._mark_data(out))
            try:
                result = await adapter.send(out, ctx)
            except Exception as exc:  # an adapter bug must not kill the round
                log.exception("adapter failed", extra={"message_id": out.message_id})
                error = f"adapter:{type(exc).__name__}"
                result = SendResult(OutcomeClass.TRANSIENT, ProviderOutcome(), error=error)
            await self._finish(out, result)

    async def _mark_data(self, out: Outgoing) -> None:
        await self._data_started.submit((out.message_id, out.attempt_token))

    async def _commit_data_started(self, attempts: list[tuple[str, str]]) -> None:
        async with self.db.engine.begin() as conn:
            await repo.mark_data_started(conn, attempts)

    async def _commit_sent(self, done: list[Completion]) -> None:
        async with self.db.transaction() as session:
            rows = await repo.complete_attempts(session, done)
            await tr.announce_sent_many(session, rows, {d.message_id: d.at for d in done})

    async def _finish(self, out: Outgoing, result: SendResult) -> None:
        now = self.clock.now()
        row, token = out.message, out.attempt_token
        if result.kind is OutcomeClass.SUCCESS:
            pid = result.provider_message_id
            await self._sent.submit(Completion(out.message_id, token, pid, now))
            return
        async with self.db.transaction() as session:
            if result.kind is OutcomeClass.PERMANENT:
                await tr.give_up(session, row, token, now, f"permanent:{result.error}")
                return
            attempt = row["attempts"] + 1
            decision = next_retry(result.outcome, attempt, self.retry, now, random.random)
            if isinstance(decision, RetryAt):
                await tr.retry_later(session, row, token, decision.at, result.error)
            elif isinstance(decision, GiveUp):
                await tr.give_up(session, row, token, now, f"{decision.reason}:{result.error}")
