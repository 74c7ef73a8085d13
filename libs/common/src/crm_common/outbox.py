"""Transactional outbox: write events with the state change, publish after commit.

``enqueue`` adds rows inside the caller's transaction. :class:`OutboxRelay`
publishes unpublished rows in id order and marks them; one relay per schema
publishes at a time (a PostgreSQL advisory lock held on its own connection,
released by the server if the process dies). A crash between publish and mark
re-publishes those rows; consumers drop the duplicates by ``event_id``.

Sizes: ``enqueue`` refuses an event too large for any topic
(:class:`~crm_common.kafka.RecordTooLarge`, a poison error: the caller's input is
dead-lettered or answered 413, and nothing is written). Should such a row exist
anyway (written before the limit, or with a lower limit configured later), the
relay dead-letters it (a letter naming the row; the row is kept, marked, and
never pruned) and goes on with the rows after it, instead of re-sending it forever.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crm_common import telemetry
from crm_common.db import Database
from crm_common.events import encode_event
from crm_common.kafka import DeadLetter, Producer
from crm_common.kafka._producer import RecordTooLarge, record_size
from crm_common.plumbing import plumbing_tables
from crm_common.settings import KafkaSettings

log = logging.getLogger(__name__)
DEAD_LETTERED = "crm-dead-lettered"  # outbox header of a row the relay could never send


@cache
def _record_limit() -> int:
    return KafkaSettings().max_message_bytes


async def enqueue(session: AsyncSession, schema: str, topic: str, events: Sequence[Any]) -> None:
    """Add canonical events for ``topic`` (logical name) to this transaction's outbox.

    Raises :class:`~crm_common.kafka.RecordTooLarge` for an event no topic accepts.
    """
    if not events:
        return
    rows = [_row(topic, e) for e in events]
    for row in rows:
        _check_size(topic, row)
    await session.execute(plumbing_tables(schema)[0].insert(), rows)


def oversized(topic: str, event: Any) -> RecordTooLarge | None:
    """Why :func:`enqueue` would refuse ``event`` (None when it fits), for callers that
    reject one input of many instead of the whole request."""
    try:
        _check_size(topic, _row(topic, event))
    except RecordTooLarge as exc:
        return exc
    return None


def _row(topic: str, event: Any) -> dict[str, Any]:
    payload = encode_event(event)
    return {
        "topic": topic,
        "key": event.partition_key(),
        "event_id": event.event_id,
        "payload": payload,
        "headers": {},
    }


def _check_size(topic: str, row: dict[str, Any]) -> None:
    size, limit = record_size(row["key"], row["payload"], None), _record_limit()
    if size > limit:
        raise RecordTooLarge(topic, size, limit)


class OutboxRelay:
    """Publish one schema's outbox to Kafka, in order, until stopped."""

    def __init__(
        self,
        db: Database,
        producer: Producer,
        schema: str,
        *,
        batch: int = 500,
        idle_sleep: float = 0.05,
        keep_published: float = 86400.0,
    ) -> None:
        self.db = db
        self.producer = producer
        self.schema = schema
        self.batch = batch
        self.idle_sleep = idle_sleep
        self.keep_published = keep_published
        self._outbox = plumbing_tables(schema)[0]
        self._lock_key = zlib.crc32(f"outbox:{schema}".encode())
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._problem: str | None = None

    def problem(self) -> str | None:
        """None while the relay publishes (or waits its turn); else its last error."""
        if self._task is not None and self._task.done() and not self._stopping.is_set():
            return "relay loop ended"
        return self._problem

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"outbox:{self.schema}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=30)

    async def run(self) -> None:
        pause = 1.0
        while not self._stopping.is_set():
            try:
                async with self.db.engine.connect() as lock_conn:
                    if not await self._try_lock(lock_conn):
                        await self._sleep(1.0)  # another replica is the publisher
                        continue
                    try:
                        await self._publish_until_stopped()
                    finally:
                        await lock_conn.execute(text("SELECT pg_advisory_unlock_all()"))
                        await lock_conn.commit()
            except Exception as exc:
                self._problem = f"{type(exc).__name__}: {exc}"[:300]
                telemetry.LOOP_RESTARTS.labels(f"relay:{self.schema}").inc()
                log.warning("outbox relay error", extra={"schema": self.schema, "error": repr(exc)})
                await self._sleep(pause)
                pause = min(pause * 2, 30.0)
            else:
                pause = 1.0

    async def _try_lock(self, conn: AsyncConnection) -> bool:
        result = await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._lock_key})
        await conn.commit()
        return bool(result.scalar())

    async def _publish_until_stopped(self) -> None:
        pruned_at = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            published = await self.publish_once()
            if loop.time() - pruned_at > 60:
                await self._prune()
                pruned_at = loop.time()
            if published == 0:
                await self._sleep(self.idle_sleep)

    async def publish_once(self) -> int:
        """Publish the next batch; return how many rows were published."""
        o = self._outbox
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(o.c.id, o.c.topic, o.c.key, o.c.payload, o.c.headers)
                    .where(o.c.published_at.is_(None))
                    .order_by(o.c.id)
                    .limit(self.batch)
                )
            ).all()
            if not rows:
                self._problem = None
                return 0
            fits = [r for r in rows if not self._too_large(r)]
            await self._dead_letter(session, [r for r in rows if self._too_large(r)])
            await self.producer.send_many(
                (self.producer.topic(r.topic), r.key, r.payload, _headers(r.headers)) for r in fits
            )
            await session.execute(
                update(o).where(o.c.id.in_([r.id for r in fits])).values(published_at=func.now())
            )
        self._problem = None
        telemetry.OUTBOX_PUBLISHED.labels(self.schema).inc(len(fits))
        return len(rows)

    def _too_large(self, row: Any) -> bool:
        return record_size(row.key, row.payload, _headers(row.headers)) > self.producer.limit

    async def _dead_letter(self, session: AsyncSession, rows: Sequence[Any]) -> None:
        """Letters naming rows that can never be published; the rows stay, marked."""
        o = self._outbox
        for row in rows:
            size = record_size(row.key, row.payload, _headers(row.headers))
            reason = (
                f"outbox row {row.id} of schema {self.schema}: {size} bytes for {row.topic}"
                f" exceed the {self.producer.limit}-byte record limit; the row is kept"
            )
            letter = DeadLetter.build(
                consumer=f"outbox:{self.schema}",
                topic=self.producer.topic(row.topic),
                partition=-1,
                offset=row.id,
                key=row.key.encode() if row.key else None,
                value=row.payload,
                headers=_headers(row.headers) or [],
                error=reason,
                attempts=1,
                max_bytes=self.producer.limit,
            )
            await self.producer.send(
                self.producer.topic("crm.dlq.v1"), letter.to_bytes(), key=letter.key
            )
            log.error("outbox row dead-lettered", extra={"schema": self.schema, "row": row.id})
            await session.execute(
                update(o)
                .where(o.c.id == row.id)
                .values(
                    published_at=func.now(),
                    headers=o.c.headers.op("||")(func.jsonb_build_object(DEAD_LETTERED, reason)),
                )
            )

    async def pending(self) -> int:
        o = self._outbox
        async with self.db.transaction() as session:
            count = await session.scalar(
                select(func.count()).select_from(o).where(o.c.published_at.is_(None))
            )
        telemetry.OUTBOX_PENDING.labels(self.schema).set(count or 0)
        return int(count or 0)

    async def _prune(self) -> None:
        o = self._outbox
        async with self.db.transaction() as session:
            await session.execute(
                delete(o).where(
                    o.c.published_at
                    < func.now() - text(f"interval '{int(self.keep_published)} seconds'"),
                    ~o.c.headers.has_key(DEAD_LETTERED),
                )
            )

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass


def _headers(raw: Any) -> list[tuple[str, bytes]] | None:
    if not raw:
        return None
    if isinstance(raw, bytes | str):
        raw = orjson.loads(raw)
    return [(k, str(v).encode()) for k, v in raw.items()]
