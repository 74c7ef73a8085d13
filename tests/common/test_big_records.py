"""Big records never wedge anything: producer, runner, dead letters and the outbox relay.

Every case runs on the real broker and database, with the project's own classes:

* a record the broker rejects (a topic made by hand with a small limit) leaves
  the shared idempotent producer working for every later send;
* a record over the limit is refused on the client, before it takes a sequence;
* an 800 KB poison record becomes a dead letter that carries it; a letter whose
  record would not fit carries where the record lives instead;
* an outbox row too large to publish is dead-lettered and the relay goes on;
* a dead-letter topic that fails makes the runner name the problem and restart
  its loop, and nothing is lost or doubled once it answers again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError
from ledger import Ledger, payment
from sqlalchemy import select
from topic_reader import read_topic

from crm_common.db import Database
from crm_common.events import encode_event
from crm_common.kafka import (
    ConsumerRunner,
    DeadLetter,
    Producer,
    RecordTooLarge,
    dead_letter_from_bytes,
    ensure_topics,
)
from crm_common.outbox import DEAD_LETTERED, OutboxRelay, enqueue
from crm_common.plumbing import plumbing_tables

pytestmark = pytest.mark.infra
MiB = 1024 * 1024


async def _until(predicate: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met before the deadline (last {value!r})")
        await asyncio.sleep(0.1)


async def _letters(infra: Any, consumer: str) -> list[DeadLetter]:
    records = await read_topic(infra.bootstrap, infra.topic("crm.dlq.v1"))
    letters = [dead_letter_from_bytes(r.value) for r in records]
    return [x for x in letters if x.consumer == consumer]


async def test_a_broker_rejection_leaves_the_producer_working(infra) -> None:
    """The reproduction: a topic with the broker's default 1 MiB limit, a 2 MB record
    pipelined between small ones. Before, every later send failed with
    OutOfOrderSequenceNumber until the process restarted."""
    topic = f"{infra.topic_prefix}small-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": str(MiB)})]
        )
    finally:
        await admin.close()
    producer = Producer(infra.kafka_settings(compression=None))
    await producer.start()
    try:
        await producer.send(topic, b"warm", key="k")
        sends = [
            producer.send(topic, b"before", key="k"),
            producer.send(topic, b"x" * (2 * MiB), key="k"),
            producer.send(topic, b"after", key="k"),
        ]
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        assert isinstance(outcomes[1], MessageSizeTooLargeError)
        for n in range(5):
            await asyncio.wait_for(producer.send(topic, f"later-{n}".encode(), key="k"), 30)
        values = [r.value for r in await read_topic(infra.bootstrap, topic)]
    finally:
        await producer.stop()
    assert values[0] == b"warm" and values[-5:] == [f"later-{n}".encode() for n in range(5)]
    assert b"x" * (2 * MiB) not in values


async def test_a_record_over_the_limit_is_refused_on_the_client(infra) -> None:
    kafka = infra.kafka_settings(max_message_bytes=2 * MiB)
    topic = kafka.topic(f"limit-{uuid.uuid4().hex[:6]}")
    await ensure_topics(kafka, [topic.removeprefix(kafka.topic_prefix)])
    producer = Producer(kafka)
    await producer.start()
    try:
        with pytest.raises(RecordTooLarge, match="exceeds the 2097152-byte limit"):
            await producer.send(topic, b"y" * (2 * MiB), key="k")
        await producer.send(topic, b"z" * (MiB + MiB // 2), key="k")  # fits: 1.5 MiB
        await producer.send(topic, b"small", key="k")
        assert producer.resets == 0
    finally:
        await producer.stop()


def test_a_letter_that_would_not_fit_names_where_its_record_lives() -> None:
    value = b"v" * (7 * MiB)
    kept = DeadLetter.build(
        consumer="c",
        topic="t",
        partition=2,
        offset=41,
        key=b"k",
        value=value,
        headers=[],
        error="boom",
        attempts=3,
        max_bytes=8 * MiB,
    )
    assert kept.value_omitted and kept.value_b64 == "" and kept.value_bytes == len(value)
    assert (kept.topic, kept.partition, kept.offset) == ("t", 2, 41)
    assert len(kept.to_bytes()) < 8 * MiB
    small = DeadLetter.build(
        consumer="c",
        topic="t",
        partition=0,
        offset=1,
        key=None,
        value=b"v" * (800 * 1024),
        headers=[],
        error="boom",
        attempts=3,
        max_bytes=8 * MiB,
    )
    assert not small.value_omitted and small.value == b"v" * (800 * 1024)


def _runner(infra: Any, kafka: Any, topic: str, ledger: Ledger, db: Database, **kw: Any) -> Any:
    return ConsumerRunner(
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        topics=[kafka.topic(topic)],
        kafka=kafka,
        db=db,
        schema=ledger.schema,
        handler=ledger.apply,
        retry_delay=0.01,
        **kw,
    )


async def test_an_800kb_poison_record_is_dead_lettered_whole_and_the_rest_applied(infra) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"poison-{run}"
    kafka = infra.kafka_settings(partitions=1)
    await ensure_topics(kafka, [topic])
    db = Database(infra.pg_url())
    ledger = Ledger(f"ledger_p_{run}")
    await ledger.create(db)
    producer = Producer(kafka)
    await producer.start()
    poison = payment(f"t-{run}", 0, -1)
    bloated = poison.model_copy(
        update={
            "data": poison.data.model_copy(
                update={"properties": {**poison.data.properties, "pad": "p" * (800 * 1024)}}
            )
        }
    )
    events = [bloated] + [payment(f"t-{run}", i, i) for i in range(1, 101)]
    await producer.send_many(
        (kafka.topic(topic), e.partition_key(), encode_event(e), None) for e in events
    )
    runner = _runner(infra, kafka, topic, ledger, db, dlq_producer=producer, max_batch=20)
    await runner.start()
    try:
        await _until(lambda: _applied(ledger, db, 100))
        assert runner.problem() is None
    finally:
        await runner.stop()
    assert await ledger.state(db) == (100, 5050, 100, 5050)
    (letter,) = await _letters(infra, runner.group_id)
    assert letter.value == encode_event(bloated) and not letter.value_omitted
    assert "negative amount" in letter.error
    await producer.stop()
    await db.close()


async def _applied(ledger: Ledger, db: Database, n: int) -> bool:
    return (await ledger.state(db))[0] == n


class _FailingFirst(Producer):
    """A DLQ producer whose first ``failures`` sends fail, as an unreachable topic would."""

    def __init__(self, *args: Any, failures: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures

    async def send_many(self, records: Any) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("dead-letter topic unreachable")
        await super().send_many(records)


async def test_a_failing_dlq_restarts_the_loop_and_loses_nothing(infra) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"dlqdown-{run}"
    kafka = infra.kafka_settings(partitions=2)
    await ensure_topics(kafka, [topic])
    db = Database(infra.pg_url())
    ledger = Ledger(f"ledger_d_{run}")
    await ledger.create(db)
    producer = Producer(kafka)
    await producer.start()
    dlq = _FailingFirst(kafka, failures=2)
    await dlq.start()
    events = [payment(f"t-{run}", i, -1 if i == 7 else i) for i in range(200)]
    await producer.send_many(
        (kafka.topic(topic), e.partition_key(), encode_event(e), None) for e in events
    )
    runner = _runner(infra, kafka, topic, ledger, db, dlq_producer=dlq, max_batch=50)
    seen: list[str] = []

    async def named() -> bool:
        problem = runner.problem()
        if problem:
            seen.append(problem)
        return bool(seen)

    await runner.start()
    try:
        await _until(named)
        await _until(lambda: _applied(ledger, db, 199))
        await _until(lambda: _letters(infra, runner.group_id))
        await asyncio.sleep(0.5)
        assert runner.problem() is None and runner.restarts >= 1
    finally:
        await runner.stop()
    assert "dead-letter topic unreachable" in seen[0]
    total = sum(range(200)) - 7
    assert await ledger.state(db) == (199, total, 199, total)
    assert [orjson_id(x) for x in await _letters(infra, runner.group_id)] == ["pay-7"]
    await dlq.stop()
    await producer.stop()
    await db.close()


def orjson_id(letter: DeadLetter) -> str:
    import orjson

    return str(orjson.loads(letter.value)["event_id"])


async def test_an_oversized_outbox_row_is_dead_lettered_and_the_relay_goes_on(infra) -> None:
    run = uuid.uuid4().hex[:8]
    kafka = infra.kafka_settings(max_message_bytes=2 * MiB)
    await ensure_topics(kafka)
    db = Database(infra.pg_url())
    ledger = Ledger(f"ledger_o_{run}")
    await ledger.create(db)
    tenant = f"t-{run}"
    outbox = plumbing_tables(ledger.schema)[0]
    huge = payment(tenant, 1, 1)
    async with db.transaction() as session:
        await enqueue(session, ledger.schema, "crm.events.v1", [payment(tenant, 0, 0)])
        # written as if before the limit existed: enqueue itself would refuse it
        await session.execute(
            outbox.insert().values(
                topic="crm.events.v1",
                key=huge.partition_key(),
                event_id=huge.event_id,
                payload=b"h" * (3 * MiB),
                headers={},
            )
        )
        await enqueue(session, ledger.schema, "crm.events.v1", [payment(tenant, 2, 2)])
        with pytest.raises(RecordTooLarge):
            await enqueue(session, ledger.schema, "crm.events.v1", [_bloated(tenant, 9 * MiB)])
    producer = Producer(kafka)
    await producer.start()
    relay = OutboxRelay(db, producer, ledger.schema, idle_sleep=0.05)
    await relay.start()

    async def published() -> int:
        async with db.transaction() as session:
            rows = (await session.execute(select(outbox.c.published_at))).all()
        return len(rows) == 3 and all(r.published_at is not None for r in rows)

    try:
        await _until(published)
        assert relay.problem() is None
    finally:
        await relay.stop()
        await producer.stop()
    mine = [
        r
        for r in await read_topic(infra.bootstrap, kafka.topic("crm.events.v1"))
        if r.key and r.key.decode().startswith(tenant)
    ]
    assert sorted(orjson_ids(mine)) == ["pay-0", "pay-2"]
    (letter,) = await _letters(infra, f"outbox:{ledger.schema}")
    assert letter.value_omitted and letter.value_bytes == 3 * MiB and letter.partition == -1
    assert "the row is kept" in letter.error
    async with db.transaction() as session:
        marked = await session.scalar(
            select(outbox.c.headers).where(outbox.c.event_id == huge.event_id)
        )
    assert DEAD_LETTERED in marked
    await db.close()


def orjson_ids(records: list[Any]) -> list[str]:
    import orjson

    return [str(orjson.loads(r.value)["event_id"]) for r in records]


def _bloated(tenant: str, size: int) -> Any:
    event = payment(tenant, 9, 9)
    props = {**event.data.properties, "pad": "p" * size}
    return event.model_copy(update={"data": event.data.model_copy(update={"properties": props})})
