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
import itertools
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

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


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One event encoded for the outbox (encoded once: checked, then written)."""

    topic: str
    key: str | None
    event_id: str
    payload: bytes


def outbox_row(topic: str, event: Any, payload: bytes | None = None) -> OutboxRow:
    """``event`` encoded as the relay will publish it (``payload``: the caller's own
    :func:`~crm_common.events.encode_event` of it, when it has one)."""
    value = encode_event(event) if payload is None else payload
    return OutboxRow(topic, event.partition_key(), event.event_id, value)


async def enqueue(session: AsyncSession, schema: str, topic: str, events: Sequence[Any]) -> None:
    """Add canonical events for ``topic`` (logical name) to this transaction's outbox.

    Raises :class:`~crm_common.kafka.RecordTooLarge` for an event no topic accepts.
    """
    await enqueue_rows(session, schema, [outbox_row(topic, e) for e in events])


async def enqueue_rows(session: AsyncSession, schema: str, rows: Sequence[OutboxRow]) -> None:
    """Like :func:`enqueue`, for rows already encoded (:func:`outbox_row`): one
    statement for the whole batch, whatever its size."""
    if not rows:
        return
    for row in rows:
        _check_size(row)
    await session.execute(
        _insert_statement(schema),
        {
            "topics": [r.topic for r in rows],
            "keys": [r.key for r in rows],
            "ids": [r.event_id for r in rows],
            "payloads": [r.payload for r in rows],
        },
    )


@cache
def _insert_statement(schema: str) -> Any:
    # unnest: one statement and four parameters for any number of rows (a multi-row
    # VALUES is compiled per size, executemany is a round of messages per row).
    return text(
        f"INSERT INTO {schema}.outbox (topic, key, event_id, payload) "
        "SELECT * FROM unnest(CAST(:topics AS text[]), CAST(:keys AS text[]), "
        "CAST(:ids AS text[]), CAST(:payloads AS bytea[]))"
    )


def oversized(topic: str, event: Any) -> RecordTooLarge | None:
    """Why :func:`enqueue` would refuse ``event`` (None when it fits), for callers that
    reject one input of many instead of the whole request."""
    row = event if isinstance(event, OutboxRow) else outbox_row(topic, event)
    try:
        _check_size(row)
    except RecordTooLarge as exc:
        return exc
    return None


def _check_size(row: OutboxRow) -> None:
    size, limit = record_size(row.key, row.payload, None), _record_limit()
    if size > limit:
        raise RecordTooLarge(row.topic, size, limit)


class OutboxRelay:
    """Publish one schema's outbox to Kafka, in order, until stopped."""

    def __init__(
        self,
        db: Database,
        producer: Producer,
        schema: str,
        *,
        batch: int = 2000,
        batch_bytes: int = 16 * 1024 * 1024,
        idle_sleep: float = 0.05,
        keep_published: float = 86400.0,
    ) -> None:
        self.db = db
        self.producer = producer
        self.schema = schema
        self.batch = batch
        self.batch_bytes = batch_bytes
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
                        # Another replica is the publisher, and the database answered:
                        # an error from before (an outage) is over for this standby too.
                        self._problem, pause = None, 1.0
                        await self._sleep(1.0)
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
        async with self.db.transaction() as session:
            driver = await _driver(session)
            found = await driver.fetch(_select_sql(self.schema), self.batch, self.batch_bytes)
            rows = [_Row(*r) for r in found]
            if not rows:
                self._problem = None
                return 0
            topic, limit = self.producer.topic, self.producer.limit
            records = [(topic(r.topic), r.key, r.payload, _headers(r.headers)) for r in rows]
            fits = [record_size(key, value, hs) <= limit for _, key, value, hs in records]
            await self._dead_letter(session, list(itertools.compress(rows, (not f for f in fits))))
            await self.producer.send_many(itertools.compress(records, fits))
            published = [r.id for r in itertools.compress(rows, fits)]
            await driver.execute(_mark_sql(self.schema), published)
        self._problem = None
        telemetry.OUTBOX_PUBLISHED.labels(self.schema).inc(len(published))
        return len(rows)

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


class _Row(NamedTuple):
    id: int
    topic: str
    key: str | None
    payload: bytes
    headers: str


async def _driver(session: AsyncSession) -> Any:
    """The session's asyncpg connection (in its transaction): the relay's rows are
    read and marked without SQLAlchemy's per-row result processing."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


@cache
def _select_sql(schema: str) -> str:
    # The next rows in id order, at most $1 of them and about $2 bytes of payload
    # (the first row always, however large).
    return (
        "SELECT id, topic, key, payload, headers::text FROM ("
        "SELECT id, topic, key, payload, headers, "
        "sum(octet_length(payload)) OVER (ORDER BY id) AS upto "
        f"FROM {schema}.outbox WHERE published_at IS NULL ORDER BY id LIMIT $1"
        ") AS next WHERE upto - octet_length(payload) < $2 ORDER BY id"
    )


@cache
def _mark_sql(schema: str) -> str:
    # = ANY(array): one parameter however many rows (IN (...) is compiled per size).
    return f"UPDATE {schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])"


def _headers(raw: Any) -> list[tuple[str, bytes]] | None:
    if not raw or raw == "{}":
        return None
    if isinstance(raw, bytes | str):
        raw = orjson.loads(raw)
    return [(k, str(v).encode()) for k, v in raw.items()]
