"""Records a consumer does not act on (its decoder returns an ``Ignored``, as the
erasure groups do for every order) are committed with their batch, never claimed in
processed_events nor handed to the handler: a group that reads the whole event
stream for one kind of request writes nothing for the rest."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from ledger import Ledger, payment
from sqlalchemy import text

from crm_common.db import Database
from crm_common.erasure import Skipped
from crm_common.events import decode_event, encode_event
from crm_common.kafka import ConsumerRunner, Producer, ensure_topics

pytestmark = pytest.mark.infra


def _decode(raw: bytes) -> Any:
    event = decode_event(raw)
    if int(event.data.properties["amount"]) % 2:  # odd amounts: not this group's business
        return Skipped(event.event_id, event.type)
    return event


async def test_ignored_records_are_committed_but_never_claimed_or_handled(infra) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"ignored-{run}"
    kafka = infra.kafka_settings(partitions=3)
    await ensure_topics(kafka, [topic])
    db = Database(infra.pg_url())
    ledger = Ledger(f"ledger_i_{run}")
    await ledger.create(db)
    producer = Producer(kafka)
    await producer.start()
    events = [payment(f"t-{run}", i, i) for i in range(200)]
    await producer.send_many(
        (kafka.topic(topic), e.partition_key(), encode_event(e), None) for e in events
    )
    runner = ConsumerRunner(
        group_id=f"ig-{run}",
        topics=[kafka.topic(topic)],
        kafka=kafka,
        db=db,
        schema=ledger.schema,
        handler=ledger.apply,
        dlq_producer=producer,
        decode=_decode,
        max_batch=30,
    )
    await runner.start()
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while (await ledger.state(db))[0] < 100 or await runner.lag() > 0:
            assert asyncio.get_running_loop().time() < deadline, "not consumed in time"
            await asyncio.sleep(0.1)
        committed = 0
        for tp in runner.consumer.assignment():
            committed += await runner.consumer.committed(tp) or 0
    finally:
        await runner.stop()
        await producer.stop()

    even = sum(range(0, 200, 2))
    assert await ledger.state(db) == (100, even, 100, even)
    assert committed == 200  # every record's offset, the ignored ones included
    async with db.engine.connect() as conn:
        claimed = (
            await conn.execute(text(f"SELECT event_id FROM {ledger.schema}.processed_events"))
        ).scalars()
        assert sorted(claimed) == sorted(f"pay-{i}" for i in range(0, 200, 2))
    await db.close()
