"""Raw limits of this machine: what the engines do with no CRM code in the way."""

from __future__ import annotations

import time

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import BenchEnv, Row, scale
from crm_common.kafka import ensure_topics

STAGE = "raw"


def _record(i: int) -> bytes:
    body = {"event_id": f"e{i}", "type": "order.placed", "tenant_id": "bench", "n": i}
    raw = orjson.dumps(body)
    return orjson.dumps({**body, "pad": "x" * (1024 - len(raw) - 10)})


async def kafka_limits(env: BenchEnv) -> list[Row]:
    n = scale(100_000)
    topic = env.kafka.topic("raw-limit")
    await ensure_topics(env.kafka, ["raw-limit"])
    payloads = [_record(i) for i in range(n)]
    producer = AIOKafkaProducer(
        bootstrap_servers=env.kafka.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=1024 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    futures = [
        await producer.send(topic, p, key=f"k{i % 1000}".encode()) for i, p in enumerate(payloads)
    ]
    for f in futures:
        await f
    produce = n / (time.perf_counter() - started)
    await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=env.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    got = 0
    started = time.perf_counter()
    while got < n:
        batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
        got += sum(len(r) for r in batches.values())
    consume = n / (time.perf_counter() - started)
    await consumer.stop()
    return [
        Row(STAGE, "kafka_produce_1kb", round(produce), "records/s"),
        Row(STAGE, "kafka_consume_1kb", round(consume), "records/s"),
    ]


async def postgres_limits(env: BenchEnv) -> list[Row]:
    n, batch = scale(200_000), 1000
    conn = await asyncpg.connect(env.postgres.url("postgresql"))
    await conn.execute(
        "CREATE TABLE raw_limit (id text PRIMARY KEY, tenant_id text NOT NULL, doc jsonb NOT NULL,"
        " version bigint NOT NULL)"
    )
    docs = [
        orjson.dumps({"orders_count": i % 7, "total_spent": str(i * 13)}).decode() for i in range(n)
    ]
    ids = [f"p{i}" for i in range(n)]
    sql_insert = (
        "INSERT INTO raw_limit SELECT i, 'bench', d::jsonb, 1 "
        "FROM unnest($1::text[], $2::text[]) AS u(i, d)"
    )
    sql_upsert = sql_insert + (
        " ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, version = raw_limit.version + 1"
    )
    rates = []
    for sql in (sql_insert, sql_upsert):
        started = time.perf_counter()
        for s in range(0, n, batch):
            async with conn.transaction():
                await conn.execute(sql, ids[s : s + batch], docs[s : s + batch])
        rates.append(n / (time.perf_counter() - started))
    await conn.close()
    return [
        Row(STAGE, "postgres_insert_batched", round(rates[0]), "rows/s"),
        Row(STAGE, "postgres_upsert_batched", round(rates[1]), "rows/s"),
    ]
