"""Replaying a dead letter whose original was too large to carry in it.

A letter leaves out a value that would not fit the DLQ topic and names where the
original lives; replay reads it back from there, byte for byte with its headers,
and a letter whose original cannot be read (an oversized outbox row) is not
replayed and stays listed.
"""

from __future__ import annotations

from typing import Any

import pytest
from topic_reader import read_topic

from crm_common.db import Database
from crm_common.kafka import DeadLetter, Producer
from crm_ingest.config import DLQ_TOPIC
from crm_ingest.handlers import dlq

pytestmark = pytest.mark.infra
MiB = 1024 * 1024


async def test_an_omitted_original_is_read_back_and_replayed(lane: Any) -> None:
    kafka = lane.kafka_settings()
    events = kafka.topic("crm.events.v1")
    producer = Producer(kafka)
    db = Database(lane.pg_url(), pool_size=2)
    await producer.start()
    try:
        value = bytes(range(256)) * (7 * MiB // 256)  # a 7 MiB event a consumer refused
        await producer.send(events, value, key="t1:big", headers=[("crm-trace", b"abc")])
        (original,) = await read_topic(lane.bootstrap, events)
        common = {"key": b"t1:big", "value": value, "error": "boom", "attempts": 3}
        letter = DeadLetter.build(
            consumer="profile",
            topic=events,
            partition=original.partition,
            offset=original.offset,
            headers=[("crm-trace", b"abc")],
            max_bytes=kafka.max_message_bytes,
            **common,
        )
        outbox_row = DeadLetter.build(
            consumer="outbox:profile",
            topic=events,
            partition=-1,
            offset=77,
            headers=[],
            max_bytes=kafka.max_message_bytes,
            **common,
        )
        assert letter.value_omitted and outbox_row.value_omitted
        for one in (letter, outbox_row):
            await producer.send(kafka.topic(DLQ_TOPIC), one.to_bytes(), key=one.consumer)

        assert await dlq.replay(db, producer, kafka) == 1
        assert await dlq.replay(db, producer, kafka) == 0  # once; the outbox row stays

        records = await read_topic(lane.bootstrap, events)
        assert len(records) == 2
        replayed = records[1]
        assert replayed.value == value
        headers = dict(replayed.headers)
        assert headers["crm-trace"] == b"abc"
        (mine,) = [x for x in await dlq.read_letters(kafka) if x.letter.consumer == "profile"]
        assert headers["crm-replay-of"] == f"{mine.partition}:{mine.offset}".encode()
        listed = await dlq.summary(db, kafka, limit=10)
        by_consumer = {x["consumer"]: x["replayed"] for x in listed["letters"]}
        assert by_consumer == {"profile": True, "outbox:profile": False}
    finally:
        await producer.stop()
        await db.close()
