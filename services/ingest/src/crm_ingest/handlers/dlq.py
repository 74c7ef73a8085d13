"""Dead letters: list them, and replay the original bytes to their original topic.

The DLQ topic is read from the beginning with an unassigned consumer (no group);
each letter is replayed at most once (``dlq_replays`` in the same transaction as the
send). A replayed record that fails again becomes a new letter, replayable later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer

from crm_common.db import Database
from crm_common.kafka import DeadLetter, Producer, dead_letter_from_bytes
from crm_common.settings import KafkaSettings
from crm_ingest.config import DLQ_TOPIC
from crm_ingest.repository import dlq as repo
from crm_ingest.topics import assign_from_start, behind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Letter:
    partition: int
    offset: int
    letter: DeadLetter

    @property
    def key(self) -> tuple[int, int]:
        return (self.partition, self.offset)


async def read_letters(
    kafka: KafkaSettings, *, consumer: str | None = None, since: datetime | None = None
) -> list[Letter]:
    """Every dead letter on the topic (oldest first), optionally filtered."""
    topic = kafka.topic(DLQ_TOPIC)
    reader = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await reader.start()
    try:
        letters = await _drain(reader, kafka.bootstrap_servers, topic)
    finally:
        await reader.stop()
    return [
        x
        for x in letters
        if (consumer is None or x.letter.consumer == consumer)
        and (since is None or x.letter.failed_at >= since)
    ]


async def _drain(reader: AIOKafkaConsumer, bootstrap: str, topic: str) -> list[Letter]:
    partitions = await assign_from_start(reader, bootstrap, topic)
    if not partitions:
        return []
    ends = await reader.end_offsets(partitions)
    letters: list[Letter] = []
    while await behind(reader, partitions, ends):
        batches = await reader.getmany(timeout_ms=1000, max_records=1000)
        for tp, records in batches.items():
            letters += [
                Letter(tp.partition, r.offset, dead_letter_from_bytes(r.value))
                for r in records
                if r.offset < ends[tp]
            ]
    letters.sort(key=lambda x: (x.letter.failed_at, x.partition, x.offset))
    return letters


async def summary(db: Database, kafka: KafkaSettings, limit: int) -> dict[str, Any]:
    """Count and the most recent letters with their reasons (for the console)."""
    letters = await read_letters(kafka)
    recent = list(reversed(letters[-limit:])) if limit > 0 else []
    async with db.transaction() as session:
        done = await repo.replayed(session, [x.key for x in recent])
    return {
        "count": len(letters),
        "letters": [
            {
                "dlq_partition": x.partition,
                "dlq_offset": x.offset,
                "consumer": x.letter.consumer,
                "topic": x.letter.topic,
                "partition": x.letter.partition,
                "offset": x.letter.offset,
                "error": x.letter.error,
                "attempts": x.letter.attempts,
                "failed_at": x.letter.failed_at,
                "replayed": x.key in done,
            }
            for x in recent
        ],
    }


async def replay(
    db: Database,
    producer: Producer,
    kafka: KafkaSettings,
    *,
    consumer: str | None = None,
    since: datetime | None = None,
) -> int:
    """Re-publish the original bytes of letters not replayed yet; how many were sent."""
    letters = await read_letters(kafka, consumer=consumer, since=since)
    async with db.transaction() as session:
        fresh = await repo.claim_replays(session, [x.key for x in letters])
        todo = [x for x in letters if x.key in fresh]
        await producer.send_many(_record(x) for x in todo)
    log.info("replayed dead letters", extra={"count": len(todo), "consumer": consumer})
    return len(todo)


def _record(x: Letter) -> tuple[str, str | None, bytes, list[tuple[str, bytes]]]:
    headers = [
        *x.letter.original_headers(),
        ("crm-replay-of", f"{x.partition}:{x.offset}".encode()),
    ]
    return (x.letter.topic, x.letter.key, x.letter.value, headers)
