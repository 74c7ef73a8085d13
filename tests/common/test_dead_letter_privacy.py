"""Issue 12, item 2: dead letters and log lines never carry a person's data.

A consumer keeps failing on customer events on the real broker and database: one
on a unique index (SQLAlchemy quoted the bound values), one on a value pydantic
refuses (it quotes the input). Before the fix the letters' error
text and the log lines held the email, phone and name; now they say where it failed
and which tenant the letter belongs to, never what the values were.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import Column, MetaData, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database
from crm_common.events import CustomerUpserted, Identity, encode_event
from crm_common.events.customers import CustomerData
from crm_common.kafka import (
    ConsumerRunner,
    DeadLetter,
    Message,
    Producer,
    dead_letter_from_bytes,
    ensure_topics,
)
from crm_common.logging import JsonFormatter

pytestmark = pytest.mark.infra

EMAIL, PHONE, FIRST, LAST = "hanako.yamada@example.jp", "+819012345678", "Hanako", "山田"
PERSONAL = (EMAIL, "hanako.yamada", PHONE, "9012345678", FIRST, LAST)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


class People:
    """A handler that stores each customer's email, phone and name (email unique)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.table = Table(
            "people",
            MetaData(schema=schema),
            Column("event_id", Text, primary_key=True),
            Column("email", Text, nullable=False, unique=True),
            Column("phone", Text),
            Column("name", Text),
        )

    async def create(self, db: Database) -> None:
        from crm_common.plumbing import plumbing_tables

        async with db.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            processed = plumbing_tables(self.schema)[1]
            await conn.run_sync(lambda c: processed.metadata.create_all(c, tables=[processed]))
            await conn.run_sync(self.table.metadata.create_all, tables=[self.table])

    async def apply(self, session: AsyncSession, messages: Sequence[Message]) -> None:
        for m in messages:
            data = m.payload.data
            row = {"event_id": m.event_id, "email": data.email, "phone": data.phone}
            await session.execute(self.table.insert(), [row | {"name": data.last_name}])


def _customer(tenant: str, event_id: str) -> CustomerUpserted:
    data = CustomerData(email=EMAIL, phone=PHONE, first_name=FIRST, last_name=LAST)
    return CustomerUpserted(
        event_id=event_id,
        tenant_id=tenant,
        source="test",
        occurred_at=NOW,
        received_at=NOW,
        identity=Identity(email=EMAIL, phone=PHONE),
        data=data,
    )


def _refused_by_pydantic(tenant: str) -> bytes:
    doc = orjson.loads(encode_event(_customer(tenant, f"bad-{tenant}")))
    doc["data"]["birthday"] = f"{FIRST} {LAST} {EMAIL}"  # not a date: quoted back by pydantic
    return orjson.dumps(doc)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every log line as the services write it (the JSON formatter)."""
    lines: list[str] = []
    formatter = JsonFormatter("test")

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    keep, root = Keep(), logging.getLogger()
    root.addHandler(keep)
    before = root.level
    root.setLevel(logging.INFO)
    yield lines
    root.removeHandler(keep)
    root.setLevel(before)


async def _letters(infra, group: str, want: int) -> list[DeadLetter]:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while True:
        reader = AIOKafkaConsumer(
            bootstrap_servers=infra.bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await reader.start()
        try:
            reader.subscribe([infra.topic("crm.dlq.v1")])
            found: list[DeadLetter] = []
            for records in (await reader.getmany(timeout_ms=3000, max_records=100_000)).values():
                found += [dead_letter_from_bytes(r.value) for r in records]
        finally:
            await reader.stop()
        mine = [x for x in found if x.consumer == group]
        if len(mine) >= want or loop.time() > deadline:
            return mine
        await asyncio.sleep(0.5)


async def test_letters_and_logs_of_a_failing_consumer_carry_no_personal_data(
    infra, log_lines: list[str]
) -> None:
    run = uuid.uuid4().hex[:8]
    tenant, topic, group = f"shop-{run}", f"people-{run}", f"people-{run}"
    kafka = infra.kafka_settings(partitions=1)
    await ensure_topics(kafka, [topic])
    db = Database(infra.pg_url())
    people = People(f"people_{run}")
    await people.create(db)
    producer = Producer(kafka)
    await producer.start()
    first, second = _customer(tenant, f"a-{run}"), _customer(tenant, f"b-{run}")
    await producer.send_many(
        [
            (kafka.topic(topic), first.partition_key(), encode_event(first), None),
            # Same email, another event: the unique index refuses it on every attempt.
            (kafka.topic(topic), second.partition_key(), encode_event(second), None),
            (kafka.topic(topic), f"{tenant}:x", _refused_by_pydantic(tenant), None),
        ]
    )
    runner = ConsumerRunner(
        group_id=group,
        topics=[kafka.topic(topic)],
        kafka=kafka,
        db=db,
        schema=people.schema,
        handler=people.apply,
        dlq_producer=producer,
        retry_delay=0.01,
    )
    await runner.start()
    try:
        letters = await _letters(infra, group, 2)
    finally:
        await runner.stop()
        await producer.stop()
        await db.close()

    assert sorted(x.error.split(":")[0] for x in letters) == ["IntegrityError", "decode"]
    unique = next(x for x in letters if x.error.startswith("IntegrityError"))
    assert "people_email_key" in unique.error or "uq_people_email" in unique.error
    assert "[SQL parameters hidden" in unique.error  # the statement, not its values
    assert "birthday" in next(x.error for x in letters if x.error.startswith("decode"))
    assert [x.tenant_id for x in letters] == [tenant, tenant]
    failing = [line for line in log_lines if group in line or "people" in line]
    assert any('"dead-lettered"' in line for line in failing)
    for text_ in [x.error for x in letters] + failing:
        for value in PERSONAL:
            assert value not in text_, f"{value!r} leaked into: {text_}"
    # The letters still carry the original bytes for replay.
    assert orjson.loads(unique.value)["data"]["email"] == EMAIL
