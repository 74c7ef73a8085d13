"""A tiny consumer app used by the crash tests: applies payments to a ledger.

``apply`` deliberately does a blind increment of a running total, the kind of
update that double-counts if anything is applied twice: only the runner's
dedup-in-the-same-transaction keeps it exact.

Run as a process: ``python ledger.py consume|relay`` with KAFKA_* / POSTGRES_*
and LEDGER_* in the environment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database
from crm_common.events import CustomEvent
from crm_common.kafka import ConsumerRunner, Message, Producer
from crm_common.outbox import OutboxRelay
from crm_common.plumbing import plumbing_tables
from crm_common.settings import KafkaSettings, PostgresSettings


class Ledger:
    """Tables of one ledger schema and the handler that applies payments to them."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.metadata = MetaData(schema=schema)
        self.entries = Table(
            "entries",
            self.metadata,
            Column("event_id", Text, primary_key=True),
            Column("amount", BigInteger, nullable=False),
        )
        self.totals = Table(
            "totals",
            self.metadata,
            Column("id", Integer, primary_key=True),
            Column("n", BigInteger, nullable=False),
            Column("sum", BigInteger, nullable=False),
        )

    async def create(self, db: Database) -> None:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            outbox, processed = plumbing_tables(self.schema)
            await conn.run_sync(lambda c: outbox.metadata.create_all(c, tables=[outbox, processed]))
            await conn.run_sync(self.metadata.create_all)
            await conn.execute(
                text(f'INSERT INTO "{self.schema}".totals VALUES (1, 0, 0) ON CONFLICT DO NOTHING')
            )

    async def apply(self, session: AsyncSession, messages: Sequence[Message]) -> None:
        """Insert each payment and bump the running total (blindly)."""
        amounts = [int(m.payload.data.properties["amount"]) for m in messages]
        if any(a < 0 for a in amounts):
            raise ValueError("negative amount")
        await session.execute(
            self.entries.insert(),
            [{"event_id": m.event_id, "amount": a} for m, a in zip(messages, amounts, strict=True)],
        )
        t = self.totals
        await session.execute(
            t.update().where(t.c.id == 1).values(n=t.c.n + len(amounts), sum=t.c.sum + sum(amounts))
        )

    async def state(self, db: Database) -> tuple[int, int, int, int]:
        """(entries count, entries sum, totals.n, totals.sum)."""
        async with db.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        f'SELECT (SELECT count(*) FROM "{self.schema}".entries), '
                        f'(SELECT coalesce(sum(amount), 0) FROM "{self.schema}".entries), n, sum '
                        f'FROM "{self.schema}".totals WHERE id = 1'
                    )
                )
            ).one()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def consume() -> None:
    kafka, pg = KafkaSettings(), PostgresSettings()
    db = Database.from_settings(pg)
    producer = Producer(kafka)
    await producer.start()
    ledger = Ledger(os.environ["LEDGER_SCHEMA"])
    runner = ConsumerRunner(
        group_id=os.environ["LEDGER_GROUP"],
        topics=[kafka.topic(os.environ["LEDGER_TOPIC"])],
        kafka=kafka,
        db=db,
        schema=ledger.schema,
        handler=ledger.apply,
        dlq_producer=producer,
        max_batch=int(os.environ.get("LEDGER_BATCH", "200")),
    )
    await runner.start()
    await _until_signal()
    await runner.stop()
    await producer.stop()
    await db.close()


async def relay() -> None:
    kafka, pg = KafkaSettings(), PostgresSettings()
    db = Database.from_settings(pg)
    producer = Producer(kafka)
    await producer.start()
    relay = OutboxRelay(
        db, producer, os.environ["LEDGER_SCHEMA"], batch=int(os.environ.get("LEDGER_BATCH", "100"))
    )
    await relay.start()
    await _until_signal()
    await relay.stop()
    await producer.stop()
    await db.close()


async def _until_signal() -> None:
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    print("ready", flush=True)
    await done.wait()


def payment(tenant: str, i: int, amount: int) -> CustomEvent:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    return CustomEvent(
        event_id=f"pay-{i}",
        tenant_id=tenant,
        source="test",
        occurred_at=now,
        received_at=now,
        identity={"anonymous_id": f"a{i % 97}"},
        data={"name": "payment", "properties": {"amount": amount}},
    )


if __name__ == "__main__":
    asyncio.run({"consume": consume, "relay": relay}[sys.argv[1]]())
