"""The consumer runner: batches, one transaction per batch, dedup, then commit.

Per batch (records fetched from any assigned partitions):

1. decode every record; one that cannot be decoded is a poison message; one the
   decoder marks :class:`Ignored` (a type this group does not act on) is only
   committed with the batch: nothing to claim, nothing to apply;
2. in ONE database transaction: insert the batch's event ids into
   ``processed_events`` (``ON CONFLICT DO NOTHING``), call the handler with the
   messages whose ids were new, commit;
3. if the handler raised a transient error (a database outage, a deadlock, a
   :class:`~crm_common.kafka.TransientError` such as a race between consumers),
   the batch is retried with backoff until it passes; nothing transient is ever
   dead-lettered;
4. if it raised anything else, the batch is replayed one message at a time, each
   in its own transaction: a :class:`~crm_common.kafka.PoisonError` goes to the
   dead-letter topic at once, any other error after ``max_attempts``, with the
   original bytes (or, when they would not fit, where they live) and the error;
5. only after the database commit (and the dead letters' acks) are the
   offsets committed.

A crash anywhere re-delivers from the last committed offset, and step 2's
dedup makes that harmless. A rebalance waits for the batch in flight (the
listener takes the same lock), so commits never go to a partition we no longer
own; a commit that still fails is harmless for the same reason.

The loop is supervised: if it stops on an error (the dead-letter topic
unreachable, a bug), :meth:`ConsumerRunner.problem` names it (``/readyz``
answers 503 with it) and the runner rebuilds its consumer, which resumes from
the committed offsets, after a growing pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common import telemetry
from crm_common.db import Database
from crm_common.events import EventDecodeError, decode_event
from crm_common.kafka._dlq import DeadLetter
from crm_common.kafka._errors import PoisonError, TransientError
from crm_common.kafka._producer import Producer
from crm_common.plumbing import plumbing_tables
from crm_common.settings import KafkaSettings

log = logging.getLogger(__name__)


class Ignored:
    """Base of what a decoder returns for a record its consumer does not act on (an
    erasure group's view of an order): the record is committed with its batch, never
    claimed in ``processed_events`` nor handed to the handler."""

    __slots__ = ()


@dataclass(slots=True)
class Message:
    """One consumed record, decoded. ``payload`` is what ``decode`` returned."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    timestamp_ms: int
    payload: Any = None
    event_id: str = ""
    attempts: int = field(default=0)


class BatchHandler(Protocol):
    async def __call__(self, session: AsyncSession, messages: Sequence[Message]) -> None: ...


Decoder = Callable[[bytes], Any]
IdOf = Callable[[Message], str]


def _event_id_of(message: Message) -> str:
    return str(message.payload.event_id)


_RETRYABLE_SQLSTATES = {
    "40001",  # serialization failure
    "40P01",  # deadlock
    # The server is away for a while: shutting down (admin or crash), "the database
    # system is starting up" / "not yet accepting connections" while it recovers after a
    # crash restart (asyncpg raises these as plain errors, not connection errors).
    "57P01",
    "57P02",
    "57P03",
    "53300",  # too many connections
}


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | OperationalError | InterfaceError | OSError):
        return True
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if state in _RETRYABLE_SQLSTATES or str(state).startswith("08"):  # 08: connection
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@cache
def _claim_statement(schema: str) -> Any:
    # unnest: one parameter for any batch size (a multi-row VALUES is compiled per size).
    return text(
        f"INSERT INTO {schema}.processed_events (consumer, event_id) "
        "SELECT :consumer, unnest(CAST(:ids AS text[])) ON CONFLICT DO NOTHING RETURNING event_id"
    )


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._lock:  # let the batch in flight finish and commit
            pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


class ConsumerRunner:
    """Consume ``topics`` as consumer group ``group_id`` and apply batches exactly once."""

    def __init__(
        self,
        *,
        group_id: str,
        topics: Sequence[str],
        kafka: KafkaSettings,
        db: Database,
        schema: str,
        handler: BatchHandler,
        dlq_producer: Producer,
        decode: Decoder = decode_event,
        event_id: IdOf = _event_id_of,
        max_batch: int = 500,
        max_attempts: int = 3,
        retry_delay: float = 0.1,
        poll_timeout_ms: int = 200,
        on_batch_committed: Callable[[Sequence[Message]], Awaitable[None]] | None = None,
    ) -> None:
        self.group_id = group_id
        self.topics = list(topics)
        self.kafka = kafka
        self.db = db
        self.handler = handler
        self.dlq = dlq_producer
        self.decode = decode
        self.event_id = event_id
        self.max_batch = max_batch
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.poll_timeout_ms = poll_timeout_ms
        self.on_batch_committed = on_batch_committed
        self._processed = plumbing_tables(schema)[1]
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        # Made at start: a runner built but never started (an api-role process drops its
        # consumers) leaves no unclosed client behind.
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._problem: str | None = None
        self.restarts = 0

    def _new_consumer(self) -> AIOKafkaConsumer:
        fetch = self.kafka.topic_max_bytes
        return AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.kafka.client_id}-{self.group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.max_batch,
            # One whole record of the largest size a topic takes, per partition.
            fetch_max_bytes=2 * fetch,
            max_partition_fetch_bytes=fetch,
        )

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        await self._start_consumer()
        self._task = asyncio.create_task(self._supervise(), name=f"consumer:{self.group_id}")

    async def _start_consumer(self) -> None:
        if self._consumer is None:
            self._consumer = self._new_consumer()
        self._consumer.subscribe(self.topics, listener=_Listener(self._lock))
        await self._consumer.start()

    async def stop(self) -> None:
        """Finish the batch in flight, commit it, leave the group."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=30)
            except TimeoutError:
                self._task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()

    async def wait(self) -> None:
        if self._task is not None:
            await self._task

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError(f"consumer {self.group_id} is not started")
        return self._consumer

    def problem(self) -> str | None:
        """None while the loop runs; else why it stopped (it is being restarted)."""
        if self._task is not None and self._task.done() and not self._stopping.is_set():
            return "consumer loop ended"
        return self._problem

    # -- supervision ------------------------------------------------------------
    async def _supervise(self) -> None:
        pause = 1.0
        while not self._stopping.is_set():
            try:
                await self._loop()
                return
            except Exception as exc:
                self._problem = f"{type(exc).__name__}: {exc}"[:300]
                log.error(
                    "consumer loop stopped; restarting",
                    extra={"consumer": self.group_id, "error": repr(exc), "pause": pause},
                )
            await self._pause(pause)
            pause = min(pause * 2, 30.0)
            await self._restart_consumer()

    async def _restart_consumer(self) -> None:
        """A fresh consumer: it rejoins the group and resumes from the committed offsets."""
        try:
            await self.consumer.stop()
        except Exception as exc:
            log.warning("stopping the consumer failed", extra={"error": repr(exc)})
        self._consumer = self._new_consumer()
        try:
            await self._start_consumer()
            self.restarts += 1
            telemetry.LOOP_RESTARTS.labels(f"consumer:{self.group_id}").inc()
        except Exception as exc:  # the next round of the supervisor tries again
            self._problem = f"restart failed: {type(exc).__name__}: {exc}"[:300]

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def lag(self) -> int:
        """Records behind the high watermark over the assigned partitions."""
        total = 0
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                total += max(0, high - await self.consumer.position(tp))
        return total

    # -- the loop -------------------------------------------------------------
    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                batches = await self.consumer.getmany(
                    timeout_ms=self.poll_timeout_ms, max_records=self.max_batch
                )
            except KafkaError as exc:
                log.warning("poll failed", extra={"consumer": self.group_id, "error": str(exc)})
                await asyncio.sleep(1)
                continue
            if not batches:
                self._problem = None
                continue
            async with self._lock:
                await self._process(batches)
            self._problem = None

    async def _process(self, batches: dict[TopicPartition, list[Any]]) -> None:
        messages: list[Message] = []
        poison: list[tuple[Message, str]] = []
        ignored = 0
        for records in batches.values():
            for record in records:
                message = self._to_message(record)
                try:
                    message.payload = self.decode(record.value)
                    if isinstance(message.payload, Ignored):
                        ignored += 1
                        continue
                    message.event_id = self.event_id(message)
                except (EventDecodeError, ValueError) as exc:
                    poison.append((message, f"decode: {exc}"))
                    continue
                except Exception as exc:  # a custom decoder's bug must not stop the consumer
                    poison.append((message, f"decode: {type(exc).__name__}: {exc}"))
                    continue
                messages.append(message)
        with telemetry.CONSUMER_BATCH_SECONDS.labels(self.group_id).time():
            await self._apply(messages, poison)
        await self._dead_letter(poison)
        await self._commit(batches)
        telemetry.CONSUMED.labels(self.group_id).inc(len(messages) + len(poison) + ignored)
        if self.on_batch_committed is not None:
            await self.on_batch_committed(messages)

    async def _apply(self, messages: list[Message], poison: list[tuple[Message, str]]) -> None:
        if not messages:
            return
        delay = self.retry_delay
        while True:
            try:
                await self._apply_in_tx(messages)
                return
            except Exception as exc:
                if _is_transient(exc):
                    log.warning(
                        "transient failure; retrying batch",
                        extra={"consumer": self.group_id, "error": str(exc)[:500]},
                    )
                    telemetry.CONSUMER_RETRIES.labels(self.group_id).inc()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                log.warning(
                    "batch failed; retrying one by one",
                    extra={"consumer": self.group_id, "error": repr(exc)[:500]},
                )
                break
        for message in messages:
            error = await self._apply_one(message)
            if error is not None:
                poison.append((message, error))

    async def _apply_one(self, message: Message) -> str | None:
        last_error = ""
        delay = self.retry_delay
        while message.attempts < self.max_attempts:
            message.attempts += 1
            try:
                await self._apply_in_tx([message])
                return None
            except PoisonError as exc:
                return f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                if _is_transient(exc):
                    message.attempts -= 1  # an outage or a race is not the message's fault
                    telemetry.CONSUMER_RETRIES.labels(self.group_id).inc()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(self.retry_delay * message.attempts)
        return last_error

    async def _apply_in_tx(self, messages: Sequence[Message]) -> None:
        async with self.db.transaction() as session:
            fresh = await self._claim(session, messages)
            if fresh:
                await self.handler(session, fresh)

    async def _claim(self, session: AsyncSession, messages: Sequence[Message]) -> list[Message]:
        """Record the ids as processed; return the messages seen for the first time."""
        first: dict[str, Message] = {}
        for message in messages:
            first.setdefault(message.event_id, message)
        stmt = _claim_statement(str(self._processed.schema))
        params = {"consumer": self.group_id, "ids": list(first)}
        new_ids = set((await session.execute(stmt, params)).scalars())
        telemetry.DUPLICATES.labels(self.group_id).inc(len(messages) - len(new_ids))
        return [m for eid, m in first.items() if eid in new_ids]

    async def _dead_letter(self, poison: list[tuple[Message, str]]) -> None:
        if not poison:
            return
        dlq_topic = self.kafka.topic("crm.dlq.v1")
        records = []
        for message, error in poison:
            letter = DeadLetter.build(
                consumer=self.group_id,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value,
                headers=message.headers,
                error=error,
                attempts=message.attempts,
                max_bytes=self.dlq.limit,
            )
            records.append((dlq_topic, letter.key, letter.to_bytes(), None))
            log.error(
                "dead-lettered",
                extra={
                    "consumer": self.group_id,
                    "tenant_id": letter.tenant_id,
                    "topic": message.topic,
                    "partition": message.partition,
                    "offset": message.offset,
                    "error": letter.error,
                },
            )
        await self.dlq.send_many(records)
        telemetry.DEAD_LETTERED.labels(self.group_id).inc(len(poison))

    async def _commit(self, batches: dict[TopicPartition, list[Any]]) -> None:
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # Partitions moved to another member: it re-reads from the last commit
            # and processed_events drops what we already applied.
            log.warning(
                "offset commit failed", extra={"consumer": self.group_id, "error": str(exc)}
            )

    @staticmethod
    def _to_message(record: Any) -> Message:
        return Message(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=list(record.headers or []),
            timestamp_ms=record.timestamp,
        )
