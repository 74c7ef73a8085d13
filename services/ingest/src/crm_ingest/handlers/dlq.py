"""Dead letters: list them, and replay the original bytes to their original topic.

The DLQ topic is read from the beginning with an unassigned consumer (no group);
each letter is replayed at most once (``dlq_replays`` in the same transaction as the
send). A replayed record that fails again becomes a new letter, replayable later.

A letter whose original was too large to carry (``value_omitted``) is replayed from
the original record, read back at its topic, partition and offset and checked
against the letter's SHA-256. One whose original cannot be read (an outbox row no
topic accepts, or a record past the topic's retention) is not replayed, stays
listed, and is counted and logged with the reason.

Letters belong to a tenant (:attr:`DeadLetter.tenant`: recorded on the letter, or
named by its key for letters older than the field); listing and replay can be limited
to one tenant's, which is what a tenant's console sees. Letters naming no tenant are
only an operator's. Error texts go out redacted (older letters were written before
the redaction).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from crm_common.db import Database
from crm_common.kafka import DeadLetter, Producer, dead_letter_from_bytes
from crm_common.logging import scrub
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
    kafka: KafkaSettings,
    *,
    consumer: str | None = None,
    since: datetime | None = None,
    tenant_id: str | None = None,
) -> list[Letter]:
    """Every dead letter on the topic (oldest first), optionally filtered (``tenant_id``
    None: every tenant's, and those naming none)."""
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
        and (tenant_id is None or x.letter.tenant == tenant_id)
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


async def summary(
    db: Database, kafka: KafkaSettings, limit: int, *, tenant_id: str | None = None
) -> dict[str, Any]:
    """Count and the most recent letters with their reasons (for the console): one
    tenant's, or with ``tenant_id`` None every letter."""
    letters = await read_letters(kafka, tenant_id=tenant_id)
    recent = list(reversed(letters[-limit:])) if limit > 0 else []
    async with db.transaction() as session:
        done = await repo.replayed(session, kafka.topic(DLQ_TOPIC), [x.key for x in recent])
    return {
        "count": len(letters),
        "letters": [
            {
                "dlq_partition": x.partition,
                "dlq_offset": x.offset,
                "consumer": x.letter.consumer,
                "tenant_id": x.letter.tenant,
                "topic": x.letter.topic,
                "partition": x.letter.partition,
                "offset": x.letter.offset,
                "error": scrub(x.letter.error),
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
    tenant_id: str | None = None,
    who: str = "",
) -> int:
    """Re-publish the original bytes of letters not replayed yet (one tenant's, or with
    ``tenant_id`` None all of them); how many were sent. ``who`` goes to the log."""
    letters = await read_letters(kafka, consumer=consumer, since=since, tenant_id=tenant_id)
    async with db.transaction() as session:
        done = await repo.replayed(session, kafka.topic(DLQ_TOPIC), [x.key for x in letters])
    pending = [x for x in letters if x.key not in done]
    originals = await _originals(kafka, [x for x in pending if x.letter.value_omitted])
    ready = [x for x in pending if not x.letter.value_omitted or x.key in originals]
    async with db.transaction() as session:
        fresh = await repo.claim_replays(session, kafka.topic(DLQ_TOPIC), [x.key for x in ready])
        todo = [x for x in ready if x.key in fresh]
        await producer.send_many(_record(x, originals.get(x.key)) for x in todo)
    log.info(
        "replayed dead letters",
        extra={
            "count": len(todo),
            "unreadable": len(pending) - len(ready),
            "consumer": consumer,
            "tenant_id": tenant_id,
            "by": who,
        },
    )
    return len(todo)


Original = tuple[bytes, list[tuple[str, bytes]]]


async def _originals(
    kafka: KafkaSettings, letters: list[Letter]
) -> dict[tuple[int, int], Original]:
    """The original records of letters that left them out, by letter key."""
    on_topics = []
    for x in letters:
        if x.letter.partition >= 0:
            on_topics.append(x)
        else:
            log.warning(
                "dead letter not replayable: its outbox row is larger than any topic accepts",
                extra={"consumer": x.letter.consumer, "row": x.letter.offset},
            )
    if not on_topics:
        return {}
    reader = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=kafka.topic_max_bytes,
        fetch_max_bytes=kafka.topic_max_bytes,
    )
    await reader.start()
    try:
        found = {}
        for x in on_topics:
            original = await _read_original(reader, x.letter)
            if original is not None:
                found[x.key] = original
        return found
    finally:
        await reader.stop()


async def _read_original(reader: AIOKafkaConsumer, letter: DeadLetter) -> Original | None:
    tp = TopicPartition(letter.topic, letter.partition)
    reader.assign([tp])
    reader.seek(tp, letter.offset)
    batch = await reader.getmany(tp, timeout_ms=5000, max_records=1)
    for record in batch.get(tp, []):
        value = record.value if record.offset == letter.offset else None
        if value is not None and hashlib.sha256(value).hexdigest() == letter.value_sha256:
            return value, [(k, bytes(v)) for k, v in record.headers]
    log.warning(
        "dead letter not replayable: its original record is gone from the topic",
        extra={"topic": letter.topic, "partition": letter.partition, "offset": letter.offset},
    )
    return None


def _record(
    x: Letter, original: Original | None
) -> tuple[str, str | None, bytes, list[tuple[str, bytes]]]:
    value, headers = (
        original if original is not None else (x.letter.value, x.letter.original_headers())
    )
    replay_of = ("crm-replay-of", f"{x.partition}:{x.offset}".encode())
    return (x.letter.topic, x.letter.key, value, [*headers, replay_of])
