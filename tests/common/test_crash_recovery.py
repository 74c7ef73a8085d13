"""SIGKILL in the middle of a stream: exact state afterwards, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from ledger import Ledger, payment
from sqlalchemy import text

from crm_common.db import Database
from crm_common.events import encode_event
from crm_common.kafka import ConsumerRunner, Producer, ensure_topics
from crm_common.outbox import enqueue

pytestmark = [pytest.mark.infra, pytest.mark.slow]

LEDGER = Path(__file__).resolve().parents[1] / "support" / "ledger.py"


def _spawn(env: dict[str, str], mode: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(LEDGER), mode],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _until(predicate, timeout: float = 120.0, every: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(every)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


async def test_consumer_killed_mid_stream_applies_every_event_exactly_once(
    infra, subprocess_env
) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"crash-consumer-{run}"
    kafka = infra.kafka_settings()
    await ensure_topics(kafka, [topic])
    db = Database(infra.pg_url())
    ledger = Ledger(f"ledger_c_{run}")
    await ledger.create(db)
    events = [payment(f"t-{run}", i, i % 1000 + 1) for i in range(10_000)]
    producer = Producer(kafka)
    await producer.start()
    await producer.send_many(
        (kafka.topic(topic), e.partition_key(), encode_event(e), None) for e in events
    )
    env = {
        **subprocess_env,
        "LEDGER_SCHEMA": ledger.schema,
        "LEDGER_GROUP": f"crash-{run}",
        "LEDGER_TOPIC": topic,
        "LEDGER_BATCH": "200",
    }

    killed_at = []
    for threshold in (2_500, 6_000):
        proc = _spawn(env, "consume")

        async def past(threshold: int = threshold) -> bool:
            return (await ledger.state(db))[0] >= threshold

        await _until(past)
        _kill(proc)
        killed_at.append((await ledger.state(db))[0])
    # Redeliver a slice on top, as a producer retry or replay would.
    await producer.send_many(
        (kafka.topic(topic), e.partition_key(), encode_event(e), None) for e in events[:500]
    )
    proc = _spawn(env, "consume")

    async def complete() -> bool:
        return (await ledger.state(db))[0] == 10_000

    await _until(complete)
    await asyncio.sleep(1.0)  # anything applied twice would show up now
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    expected = sum(i % 1000 + 1 for i in range(10_000))
    assert all(k < 10_000 for k in killed_at), killed_at
    assert await ledger.state(db) == (10_000, expected, 10_000, expected)
    await producer.stop()
    await db.close()


async def test_relay_killed_mid_publish_loses_nothing_and_duplicates_are_absorbed(
    infra, subprocess_env
) -> None:
    run = uuid.uuid4().hex[:8]
    logical = f"crash-relay-{run}"
    kafka = infra.kafka_settings()
    await ensure_topics(kafka, [logical])
    db = Database(infra.pg_url())
    source = Ledger(f"ledger_src_{run}")
    await source.create(db)
    total = 20_000
    events = [payment(f"t-{run}", i, i % 100 + 1) for i in range(total)]
    for start in range(0, total, 5_000):
        async with db.transaction() as session:
            await enqueue(session, source.schema, logical, events[start : start + 5_000])
    env = {**subprocess_env, "LEDGER_SCHEMA": source.schema, "LEDGER_BATCH": "50"}

    async def published() -> int:
        async with db.engine.connect() as conn:
            sql = f'SELECT count(*) FROM "{source.schema}".outbox WHERE published_at IS NOT NULL'
            return int(await conn.scalar(text(sql)))

    proc = _spawn(env, "relay")

    async def midway() -> bool:
        return await published() >= 3_000

    await _until(midway, every=0.01)
    _kill(proc)
    at_kill = await published()
    assert at_kill < total, "the relay finished before it could be killed"
    proc = _spawn(env, "relay")

    async def all_published() -> bool:
        return await published() == total

    await _until(all_published)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)

    # Downstream: a deduplicating consumer sees every row exactly once.
    sink = Ledger(f"ledger_sink_{run}")
    await sink.create(db)
    producer = Producer(kafka)
    await producer.start()
    runner = ConsumerRunner(
        group_id=f"sink-{run}",
        topics=[kafka.topic(logical)],
        kafka=kafka,
        db=db,
        schema=sink.schema,
        handler=sink.apply,
        dlq_producer=producer,
    )
    await runner.start()

    async def sunk() -> bool:
        return (await sink.state(db))[0] == total

    await _until(sunk)
    await asyncio.sleep(0.5)
    await runner.stop()
    expected = sum(i % 100 + 1 for i in range(total))
    assert await sink.state(db) == (total, expected, total, expected)
    # Order per key survives the crash: first appearances are in outbox order.
    seen = await _first_appearances(infra, kafka.topic(logical))
    assert len(seen) == total
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, index in seen:
        by_key[key].append(index)
    assert all(v == sorted(v) for v in by_key.values())
    await producer.stop()
    await db.close()


async def _first_appearances(infra, topic: str) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    import orjson

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: dict[str, tuple[str, int]] = {}
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=2000, max_records=5000)
            if not batches:
                break
            for records in batches.values():
                for r in records:
                    eid = orjson.loads(r.value)["event_id"]
                    seen.setdefault(eid, (r.key.decode(), int(eid.split("-")[1])))
    finally:
        await consumer.stop()
    return list(seen.values())
