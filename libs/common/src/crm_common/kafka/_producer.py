from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from crm_common.events import encode_event
from crm_common.settings import KafkaSettings

Headers = Sequence[tuple[str, bytes]]


class Producer:
    """Idempotent (``enable_idempotence``, ``acks=all``), keyed producer.

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
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=client_id or settings.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=linger_ms,
            max_batch_size=1024 * 1024,
            max_request_size=4 * 1024 * 1024,
            request_timeout_ms=30000,
            **options,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    async def send(
        self, topic: str, value: bytes, *, key: str | None = None, headers: Headers | None = None
    ) -> Any:
        """Send to a physical topic name and wait for the acknowledgement."""
        return await self._producer.send_and_wait(
            topic,
            value,
            key=key.encode() if key is not None else None,
            headers=list(headers) if headers else None,
        )

    async def send_many(
        self, records: Iterable[tuple[str, str | None, bytes, Headers | None]]
    ) -> None:
        """Send ``(topic, key, value, headers)`` records in order; wait for every ack."""
        futures = []
        for topic, key, value, headers in records:
            futures.append(
                await self._producer.send(
                    topic,
                    value,
                    key=key.encode() if key is not None else None,
                    headers=list(headers) if headers else None,
                )
            )
        if futures:
            await asyncio.gather(*futures)

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
