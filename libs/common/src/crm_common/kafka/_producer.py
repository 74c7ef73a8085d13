"""The shared producer: idempotent, acks=all, compressed, size-checked, self-healing.

Sizes: a record larger than ``KafkaSettings.max_message_bytes`` is refused on the
client (:class:`RecordTooLarge`, before it takes a sequence number), and every
topic accepts that size (:func:`crm_common.kafka.ensure_topics`), so the broker
never rejects a record mid-sequence. Should it still happen (a topic created by
hand with a smaller limit), the idempotent producer's sequence has a gap and
every later send to that partition fails with ``OutOfOrderSequenceNumber``:
such errors recreate the underlying client (a new producer id, fresh sequences)
and the send is retried once on it. Consumers dedupe by event id, so a retry
that duplicates a record already written is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    DuplicateSequenceNumber,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
)
from aiokafka.partitioner import DefaultPartitioner, murmur2

from crm_common import telemetry
from crm_common.events import encode_event
from crm_common.kafka._errors import PoisonError
from crm_common.settings import KafkaSettings

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]
Record = tuple[str, str | None, bytes, Headers | None]

# The producer's state (id, epoch, sequences) is broken: only a new client helps.
_FATAL = (
    OutOfOrderSequenceNumber,
    DuplicateSequenceNumber,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
    ProducerClosed,
)
_RECORD_OVERHEAD = 512  # record header, timestamp and length fields, generously
_PARTITIONER = DefaultPartitioner()
# The client's own hash (a pure-Python murmur2, 8 us a key), remembered: one
# customer's records share their key.
_murmur2 = lru_cache(maxsize=65_536)(murmur2)


class RecordTooLarge(PoisonError):
    """A record over the size every topic accepts; it can never be published."""

    def __init__(self, topic: str, size: int, limit: int) -> None:
        super().__init__(
            f"record of {size} bytes for {topic} exceeds the {limit}-byte limit"
            " (KAFKA_MAX_MESSAGE_BYTES)"
        )
        self.topic = topic
        self.size = size
        self.limit = limit


def record_size(key: str | None, value: bytes, headers: Headers | None) -> int:
    """Bytes a record takes before compression (what the limit is checked against)."""
    size = len(value) + (len(key.encode()) if key else 0) + _RECORD_OVERHEAD
    return size + sum(len(k) + len(v) for k, v in headers or ())


class Producer:
    """Idempotent (``enable_idempotence``, ``acks=all``), keyed, zstd-compressed producer.

    ``send`` returns once the broker has acknowledged the record on every
    in-sync replica; ``send_many`` pipelines a batch and waits for all acks,
    preserving per-partition order.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        client_id: str | None = None,
        linger_ms: int = 5,
        **options: Any,
    ) -> None:
        self.settings = settings
        self.limit = settings.max_message_bytes
        self._client_id = client_id or settings.client_id
        self._linger_ms = linger_ms
        self._options = options
        self._producer = self._new_client()
        self._generation = 0
        self._reset_lock = asyncio.Lock()
        self.resets = 0

    def _new_client(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers,
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=self._linger_ms,
            compression_type=self.settings.compression,
            max_batch_size=1024 * 1024,
            max_request_size=self.limit,
            request_timeout_ms=30000,
            **self._options,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    def check_size(
        self, topic: str, key: str | None, value: bytes, headers: Headers | None
    ) -> None:
        """Raise :class:`RecordTooLarge` for a record no topic would accept."""
        size = record_size(key, value, headers)
        if size > self.limit:
            raise RecordTooLarge(topic, size, self.limit)

    async def send(
        self, topic: str, value: bytes, *, key: str | None = None, headers: Headers | None = None
    ) -> Any:
        """Send to a physical topic name and wait for the acknowledgement."""
        self.check_size(topic, key, value, headers)
        for attempt in (1, 2):
            generation = self._generation
            try:
                return await self._producer.send_and_wait(
                    topic, value, key=_bytes(key), headers=list(headers) if headers else None
                )
            except _FATAL as exc:
                await self._reset(generation, exc)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def send_many(self, records: Iterable[Record]) -> None:
        """Send ``(topic, key, value, headers)`` records in order; wait for every ack."""
        batch = list(records)
        for topic, key, value, headers in batch:
            self.check_size(topic, key, value, headers)
        for attempt in (1, 2):
            generation = self._generation
            try:
                await self._send_all(batch)
                return
            except _FATAL as exc:
                await self._reset(generation, exc)
                if attempt == 2:
                    raise

    async def _send_all(self, batch: list[Record]) -> None:
        """Records go to their partitions (the key's, as :meth:`send` would choose it)
        as whole record batches, in order per partition: a third of the CPU of one
        ``send`` per record."""
        futures = []
        for (topic, partition), records in (await self._by_partition(batch)).items():
            builder = self._producer.create_batch()
            for key, value, headers in records:
                if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    futures.append(
                        await self._producer.send_batch(builder, topic, partition=partition)
                    )
                    builder = self._producer.create_batch()  # an empty batch takes any record
                    builder.append(key=key, value=value, timestamp=None, headers=headers)
            futures.append(await self._producer.send_batch(builder, topic, partition=partition))
        if futures:
            results = await asyncio.gather(*futures, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def _by_partition(
        self, batch: list[Record]
    ) -> dict[tuple[str, int], list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]]:
        groups: dict[
            tuple[str, int], list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]
        ] = {}
        partitions: dict[str, tuple[list[int], list[int]]] = {}
        for topic, key, value, headers in batch:
            if topic not in partitions:
                every = list(await self._producer.partitions_for(topic))
                available = self._producer.client.cluster.available_partitions_for_topic(topic)
                partitions[topic] = every, list(available or every)
            key_bytes = _bytes(key)
            partition = _partition(key_bytes, *partitions[topic])
            groups.setdefault((topic, partition), []).append(
                (key_bytes, value, list(headers) if headers else [])
            )
        return groups

    async def _reset(self, generation: int, exc: BaseException) -> None:
        """Replace the client once per failure, however many senders saw it."""
        async with self._reset_lock:
            if generation != self._generation:
                return  # another sender already replaced it
            log.warning("producer state broken; recreating it", extra={"error": repr(exc)})
            old = self._producer
            self._producer = self._new_client()
            self._generation += 1
            self.resets += 1
            telemetry.PRODUCER_RESETS.labels(self._client_id).inc()
            try:
                await old.stop()
            except Exception as stop_exc:  # the old client is dropped either way
                log.warning("stopping the old producer failed", extra={"error": repr(stop_exc)})
            await self._producer.start()

    async def send_event(self, logical_topic: str, event: Any) -> Any:
        """Encode a canonical event and send it keyed by its partition key."""
        return await self.send(
            self.topic(logical_topic), encode_event(event), key=event.partition_key()
        )

    async def check(self) -> None:
        """A metadata round trip to the cluster (readiness)."""
        await self._producer.client.fetch_all_metadata()

    @property
    def client(self) -> AIOKafkaProducer:
        return self._producer


def _partition(key: bytes | None, every: list[int], available: list[int]) -> int:
    """The partition the client's default partitioner picks for ``key``."""
    if key is None:
        return int(_PARTITIONER(key, every, available))
    return every[(int(_murmur2(key)) & 0x7FFFFFFF) % len(every)]


def _bytes(key: str | None) -> bytes | None:
    return key.encode() if key is not None else None
