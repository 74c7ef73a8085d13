"""The consumer runner against the real broker and database."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from ledger import Ledger, payment

from crm_common.db import Database
from crm_common.events import encode_event
from crm_common.kafka import ConsumerRunner, Producer, dead_letter_from_bytes, ensure_topics

pytestmark = pytest.mark.infra


async def _until(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.1)


async def _read_dlq(infra, since: dict) -> list:  # type: ignore[no-untyped-def]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        consumer.subscribe([infra.topic("crm.dlq.v1")])
        letters = []
        batches = await consumer.getmany(timeout_ms=3000)
        for records in batches.values():
            letters += [dead_letter_from_bytes(r.value) for r in records]
        return letters
    finally:
        await consumer.stop()


async def test_one_bad_message_goes_to_dlq_and_the_rest_are_applied(infra) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"runner-{run}"
    kafka = infra.kafka_settings(partitions=3)
    await ensure_topics(kafka, [topic])
    db = Database(infra.pg_url())
    ledger = Ledger(f"ledger_{run}")
    await ledger.create(db)
    producer = Producer(kafka)
    await producer.start()
    tenant = f"tenant-{run}"
    events = [payment(tenant, i, -5 if i == 17 else i) for i in range(50)]
    records = [(kafka.topic(topic), e.partition_key(), encode_event(e), None) for e in events]
    records.append((kafka.topic(topic), "junk", b"{not json", None))
    records += records[:10]  # redelivered duplicates
    await producer.send_many(records)

    group = f"g-{run}"
    runner = ConsumerRunner(
        group_id=group,
        topics=[kafka.topic(topic)],
        kafka=kafka,
        db=db,
        schema=ledger.schema,
        handler=ledger.apply,
        dlq_producer=producer,
        max_batch=20,
        retry_delay=0.01,
    )
    await runner.start()
    expected_sum = sum(range(50)) - 17

    async def applied() -> bool:
        return (await ledger.state(db))[0] == 49

    await _until(applied)
    await asyncio.sleep(0.5)  # let any (wrong) extra application show up
    await runner.stop()
    assert await ledger.state(db) == (49, expected_sum, 49, expected_sum)

    letters = [x for x in await _read_dlq(infra, {}) if x.consumer == group]
    reasons = sorted(x.error.split(":")[0] for x in letters)
    assert reasons == ["ValueError", "decode"]
    bad = next(x for x in letters if x.error.startswith("ValueError"))
    assert orjson.loads(bad.value)["event_id"] == "pay-17"
    assert bad.topic == kafka.topic(topic) and bad.attempts == 3
    assert "negative amount" in bad.error
    junk = next(x for x in letters if x.error.startswith("decode"))
    assert junk.value == b"{not json" and junk.key == "junk"
    await producer.stop()
    await db.close()


async def test_a_member_joining_mid_stream_changes_nothing_in_the_result(infra) -> None:
    """Rebalance safety: partitions move while batches are in flight; totals stay exact."""
    run = uuid.uuid4().hex[:8]
    topic = f"rebalance-{run}"
    kafka = infra.kafka_settings(partitions=6)
    await ensure_topics(kafka, [topic])
    db = Database(infra.pg_url())
    ledger = Ledger(f"ledger_r_{run}")
    await ledger.create(db)
    producer = Producer(kafka)
    await producer.start()
    events = [payment(f"t-{run}", i, i % 50 + 1) for i in range(6_000)]
    await producer.send_many(
        (kafka.topic(topic), e.partition_key(), encode_event(e), None) for e in events
    )

    def member() -> ConsumerRunner:
        return ConsumerRunner(
            group_id=f"rb-{run}",
            topics=[kafka.topic(topic)],
            kafka=kafka,
            db=db,
            schema=ledger.schema,
            handler=ledger.apply,
            dlq_producer=producer,
            max_batch=100,
        )

    first, second = member(), member()
    await first.start()

    async def started() -> bool:
        return (await ledger.state(db))[0] >= 1_000

    await _until(started)
    await second.start()  # triggers a rebalance while `first` is mid-stream

    async def done() -> bool:
        return (await ledger.state(db))[0] == 6_000

    await _until(done)
    assert second.consumer.assignment(), "the second member never got partitions"
    await asyncio.sleep(0.5)
    await first.stop()
    await second.stop()
    expected = sum(i % 50 + 1 for i in range(6_000))
    assert await ledger.state(db) == (6_000, expected, 6_000, expected)
    await producer.stop()
    await db.close()


async def test_old_processed_ids_are_pruned_and_recent_ones_kept(infra) -> None:
    from sqlalchemy import text

    from crm_common.plumbing import prune_processed_events

    db = Database(infra.pg_url())
    schema = f"ledger_p_{uuid.uuid4().hex[:8]}"
    await Ledger(schema).create(db)
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO {schema}.processed_events (consumer, event_id, processed_at) VALUES "
                "('g', 'old', now() - interval '20 days'), ('g', 'new', now() - interval '1 day')"
            )
        )
    assert await prune_processed_events(db.engine, schema, 14) == 1
    async with db.engine.connect() as conn:
        left = (
            await conn.execute(text(f"SELECT event_id FROM {schema}.processed_events"))
        ).scalars()
        assert list(left) == ["new"]
    await db.close()
