"""The relay publishes in batches bounded by rows and by bytes (a backlog of big orders
is not read into memory at once), in id order, each row once per batch."""

from __future__ import annotations

import uuid

import orjson
import pytest
from ledger import Ledger
from sqlalchemy import select
from topic_reader import read_topic

from crm_common.db import Database
from crm_common.kafka import Producer, ensure_topics
from crm_common.outbox import OutboxRelay, OutboxRow, enqueue_rows
from crm_common.plumbing import plumbing_tables

pytestmark = pytest.mark.infra
MiB = 1024 * 1024


def _row(tenant: str, n: int, size: int) -> OutboxRow:
    payload = orjson.dumps({"event_id": f"{tenant}-{n}", "pad": "p" * size})
    return OutboxRow("crm.events.v1", f"{tenant}:customer", f"{tenant}-{n}", payload)


async def test_a_batch_stops_at_its_bytes_and_rows_go_out_in_order(infra) -> None:
    run = uuid.uuid4().hex[:8]
    # Its own topics: these rows are not events, and the run's crm.events.v1 is
    # read (and decoded) by the services' tests.
    kafka = infra.kafka_settings().model_copy(
        update={"topic_prefix": f"{infra.topic_prefix}outbox{run}."}
    )
    await ensure_topics(kafka, ["crm.events.v1"])
    db = Database(infra.pg_url())
    ledger = Ledger(f"ledger_b_{run}")
    await ledger.create(db)
    tenant = f"t-{run}"
    sizes = [3 * MiB, 3 * MiB, 3 * MiB, 10, 10, 10, 10, 10, 3 * MiB, 10]
    async with db.transaction() as session:
        await enqueue_rows(
            session, ledger.schema, [_row(tenant, n, s) for n, s in enumerate(sizes)]
        )
    producer = Producer(kafka)
    await producer.start()
    relay = OutboxRelay(db, producer, ledger.schema, batch=4, batch_bytes=7 * MiB)
    try:
        # bytes before a row < 7 MiB: three big rows; then four rows (the row cap);
        # then the rest.
        counts = [await relay.publish_once() for _ in range(4)]
    finally:
        await producer.stop()

    assert counts == [3, 4, 3, 0]
    outbox = plumbing_tables(ledger.schema)[0]
    async with db.transaction() as session:
        pending = (
            await session.execute(select(outbox.c.id).where(outbox.c.published_at.is_(None)))
        ).all()
    assert pending == []
    mine = [
        orjson.loads(r.value)["event_id"]
        for r in await read_topic(infra.bootstrap, kafka.topic("crm.events.v1"))
        if r.key == f"{tenant}:customer".encode()
    ]
    assert mine == [f"{tenant}-{n}" for n in range(len(sizes))]
    await db.close()
