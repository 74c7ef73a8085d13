"""Profile stage: events/s applied at steady state and p99 time from
``crm.events.v1`` to ``profile.changed`` on ``crm.profiles.v1``.

Setup: the profile schema is migrated into the bench database and 100,000
profiles (each with an email identifier) are seeded by bulk SQL (``unnest``
inserts, not through the consumer). The profile service runs as a real
subprocess (``python -m crm_profile serve``: consumer, outbox relay, API).

* Throughput: ``scale(40_000)`` ``order.placed`` events for random seeded
  customers are produced up front; the rate is read from the consumer's
  ``processed_events`` count between 10% and 90% of the stream, so start-up
  and the tail are left out. ``limit_ratio`` = events/s over the same run's
  ``postgres_upsert_batched``.
* Latency: once drained, ``scale(1_000)`` orders at ~50/s, each for a different
  customer; the time from the producer's ack to the matching
  ``profile.changed`` being read back from ``crm.profiles.v1``.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer

from bench.common import BenchEnv, Row, scale
from crm_common.events import Identity, OrderPlaced, encode_event
from crm_common.events.commerce import OrderData
from crm_common.kafka import Producer, ensure_topics
from crm_common.migrations import upgrade
from crm_common.settings import KafkaSettings

STAGE = "profile"
TENANT = "bench-shop"
PROFILES = scale(100_000)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LOGS = Path(__file__).resolve().parents[1] / ".local" / "bench-logs"


def _kafka(env: BenchEnv) -> KafkaSettings:
    """This stage's own topics (a sub-prefix of the run's): the ingest stage leaves
    hundreds of thousands of events on the run's crm.events.v1, and a profile
    service reading those first would measure that backlog, not steady state."""
    return env.kafka.model_copy(update={"topic_prefix": f"{env.kafka.topic_prefix}profile."})


def _email(i: int) -> str:
    return f"customer{i}@bench.example"


async def _seed(dsn: str, n: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for start in range(0, n, 10_000):
            ids = [f"bench-p{i}" for i in range(start, min(n, start + 10_000))]
            emails = [_email(i) for i in range(start, min(n, start + 10_000))]
            await conn.execute(
                "INSERT INTO profile.profiles (tenant_id, profile_id, created_at, version) "
                "SELECT $1, p, $3, 0 FROM unnest($2::text[]) AS p",
                TENANT,
                ids,
                T0,
            )
            await conn.execute(
                "INSERT INTO profile.identifiers (tenant_id, kind, value, profile_id, created_at) "
                "SELECT $1, 'email', e, p, now() FROM unnest($2::text[], $3::text[]) AS u(e, p)",
                TENANT,
                emails,
                ids,
            )
    finally:
        await conn.close()


def _order(n: int, customer: int) -> OrderPlaced:
    at = T0 + timedelta(minutes=n)
    return OrderPlaced(
        event_id=f"bench-order-{n}",
        tenant_id=TENANT,
        source="bench",
        occurred_at=at,
        received_at=at,
        identity=Identity(email=_email(customer)),
        data=OrderData(
            order_id=f"bo-{n}", placed_at=at, currency="JPY", total=Decimal(1000 + n % 5000)
        ),
    )


def _start_service(env: BenchEnv, port: int) -> subprocess.Popen[bytes]:
    child = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": env.kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": _kafka(env).topic_prefix,
        "POSTGRES_HOST": env.postgres.host,
        "POSTGRES_PORT": str(env.postgres.port),
        "POSTGRES_USER": env.postgres.user,
        "POSTGRES_PASSWORD": env.postgres.password.get_secret_value(),
        "POSTGRES_DATABASE": env.postgres.database,
        "PROFILE_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    log = LOGS / "profile-service.log"  # kept for diagnosis of a failed run
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "crm_profile", "serve"],
            env=child,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _applied(conn: asyncpg.Connection, group: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM profile.processed_events WHERE consumer = $1", group
        )
    )


async def _throughput(env: BenchEnv, producer: Producer, conn: asyncpg.Connection) -> float:
    n = scale(40_000)
    rng = random.Random(7)
    events = [_order(i, rng.randrange(PROFILES)) for i in range(n)]
    group = _kafka(env).topic("profile")
    base = await _applied(conn, group)
    topic = _kafka(env).topic("crm.events.v1")
    await producer.send_many((topic, e.partition_key(), encode_event(e), None) for e in events)
    marks: dict[str, tuple[float, int]] = {}
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        done = await _applied(conn, group) - base
        now = time.perf_counter()
        if "start" not in marks and done >= n * 0.1:
            marks["start"] = (now, done)
        if "end" not in marks and done >= n * 0.9:
            marks["end"] = (now, done)
        if done >= n:  # drained: the latency phase must not queue behind a backlog
            break
        await asyncio.sleep(0.2)
    (t1, d1), (t2, d2) = marks["start"], marks["end"]
    return (d2 - d1) / (t2 - t1)


async def _latency(env: BenchEnv, producer: Producer) -> list[float]:
    n = scale(1_000)
    consumer = AIOKafkaConsumer(
        _kafka(env).topic("crm.profiles.v1"),
        bootstrap_servers=env.kafka.bootstrap_servers,
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await consumer.start()
    await consumer.seek_to_end()
    sent: dict[str, float] = {}
    seen: list[float] = []

    async def read() -> None:
        while len(seen) < n:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    pid = orjson.loads(record.value)["data"].get("profile_id")
                    started = sent.pop(pid, None)
                    if started is not None:
                        seen.append(now - started)

    reader = asyncio.create_task(read())
    topic = _kafka(env).topic("crm.events.v1")
    for i in range(n):
        customer = PROFILES - 1 - i  # each a different, untouched customer
        event = _order(1_000_000 + i, customer)
        # Stamped before sending: the answer may arrive before our ack does.
        sent[f"bench-p{customer}"] = time.perf_counter()
        await producer.send_many([(topic, event.partition_key(), encode_event(event), None)])
        await asyncio.sleep(0.02)
    try:
        await asyncio.wait_for(reader, timeout=120)
    except TimeoutError:
        print(f"  profile latency: {len(seen)} of {n} answers arrived", flush=True)
    await consumer.stop()
    return sorted(seen)


async def run(env: BenchEnv, limits: dict[str, float]) -> list[Row]:
    upgrade("crm_profile", env.postgres.url())
    await ensure_topics(_kafka(env))
    dsn = env.postgres.url("postgresql")
    await _seed(dsn, PROFILES)
    service = _start_service(env, 18_502)
    producer = Producer(_kafka(env))
    await producer.start()
    conn = await asyncpg.connect(dsn)
    try:
        rate = await _throughput(env, producer, conn)
        latencies = await _latency(env, producer)
    finally:
        await conn.close()
        await producer.stop()
        service.terminate()
        service.wait(30)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    p50 = latencies[len(latencies) // 2] * 1000
    upsert = limits.get("postgres_upsert_batched")
    return [
        Row(STAGE, "events_applied", round(rate), "events/s", rate / upsert if upsert else None),
        Row(STAGE, "events_to_profile_changed_p50", round(p50, 1), "ms"),
        Row(STAGE, "events_to_profile_changed_p99", round(p99, 1), "ms"),
    ]
