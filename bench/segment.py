"""Segment stage: bulk fills, per-change evaluation with 200 live segments, one sweep.

Setup: the segment schema is migrated into the bench database and 200 active
dynamic segments are created for one tenant (the 30 built-in templates and 170
random but realistic definitions: spend and order thresholds, RFM sets,
prefectures, consent, tags, relative time, event counts in windows, nested
all/any/not), before the read model is seeded, so their fills are trivial.
The read model is then seeded by bulk SQL (``INSERT ... SELECT
generate_series``): ``scale(100_000)`` profiles with varied traits and one
``order.placed`` event for every fifth.

* ``fill_<n>_profiles``: time to create one more dynamic segment over the
  seeded tenant: SQL selection, membership diff, one outbox event per entry.
  Done over ``scale(100_000)`` and over ``scale(1_000_000)`` profiles (the
  latter a separate tenant, seeded the same way); the metric name carries the
  real profile count.
* ``evaluations_200_segments``: the segment consumer (the real handler in a
  ``ConsumerRunner``) and outbox relay run in this process. 2,000 customers
  get one ``profile.changed`` each first (so memberships exist: steady
  state), then ``scale(20_000)`` changes (one more order each: count + 1,
  spend up, last order now, the RFM rank up a step one time in five) for
  them are produced to ``crm.profiles.v1`` and timed from the first send
  until every one is applied (poll every 0.2 s).
  ``limit_ratio`` = changes/s over the same run's ``postgres_upsert_batched``.
* ``p99_change_to_segment_event``: ``scale(300)`` changes sent one at a time,
  each also making the customer enter a probe segment; time from the
  producer's ack to that ``segment.entered`` read back from
  ``crm.segments.v1``.
* ``sweep_<n>_due_profiles``: ``scale(10_000)`` profiles made due, then one
  ``sweep_once`` over them, timed.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from bench.common import BenchEnv, Row, scale
from crm_common.clock import SystemClock
from crm_common.db import Database
from crm_common.events import decode_event, encode_event
from crm_common.events.downstream import ProfileChanged, ProfileSnapshot
from crm_common.kafka import ConsumerRunner, Producer, ensure_topics
from crm_common.migrations import upgrade
from crm_common.outbox import OutboxRelay
from crm_segment.config import SCHEMA, Settings
from crm_segment.context import SegmentContext
from crm_segment.domain.templates import TEMPLATES
from crm_segment.handlers import segments as commands
from crm_segment.handlers.consume import handle_profiles
from crm_segment.handlers.sweep import sweep_once

STAGE = "segment"
GROUP = "bench-segment"
TENANT = "bench-shop"
BIG_TENANT = "bench-shop-1m"
CATEGORIES = ("tea", "coffee", "sweets", "gift", "tableware")
PREFECTURES = ("東京都", "大阪府", "北海道", "福岡県", "愛知県")

_SEED = """
INSERT INTO segment.profiles (tenant_id, profile_id, traits, version, updated_at)
SELECT :tenant, 'p' || i, jsonb_build_object(
    'orders_count', i % 7,
    'total_spent', ((i * 37) % 40000)::text,
    'rfm_rank', substr('ABCDE', i % 5 + 1, 1),
    'rfm_rank_previous', substr('ABCDE', (i / 5) % 5 + 1, 1),
    'rfm_recency', i % 5 + 1, 'rfm_frequency', (i / 5) % 5 + 1, 'rfm_monetary', (i / 25) % 5 + 1,
    'f_stage', (ARRAY['F0', 'F1', 'F2', 'F3+'])[LEAST(i % 7, 3) + 1],
    'last_order_at', to_char(now() AT TIME ZONE 'UTC' - make_interval(days => i % 400),
                             'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'first_order_at', to_char(now() AT TIME ZONE 'UTC' - make_interval(days => 400 + i % 700),
                              'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'consent_email', CASE WHEN i % 3 = 0 THEN 'subscribed' ELSE 'unsubscribed' END,
    'address_prefecture', (ARRAY['東京都', '大阪府', '北海道', '福岡県', '愛知県'])[i % 5 + 1],
    'tags', CASE WHEN i % 10 = 0 THEN '["vip"]'::jsonb ELSE '[]'::jsonb END
), 1, now()
FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS i
"""
_SEED_EVENTS = """
INSERT INTO segment.events (tenant_id, profile_id, event_id, type, occurred_at, properties)
SELECT :tenant, 'p' || i, 'o' || i, 'order.placed', now() - make_interval(days => i % 90),
       jsonb_build_object('total', ((i * 13) % 9000)::text, 'lines', jsonb_build_array(
           jsonb_build_object(
               'product_id', 'sku' || i % 50, 'quantity', 1 + i % 3,
               'category', (ARRAY['tea', 'coffee', 'sweets', 'gift', 'tableware'])[i % 5 + 1])))
FROM generate_series(CAST(:first AS int), CAST(:last AS int), 5) AS i
"""


def _leaf(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(8)
    if kind == 0:
        return {
            "trait": "total_spent",
            "op": rng.choice([">=", "<"]),
            "value": rng.randrange(1000, 40000, 1000),
        }
    if kind == 1:
        if rng.random() < 0.3:
            return {"trait": "orders_count", "op": "between", "value": [1, 3]}
        return {"trait": "orders_count", "op": rng.choice(["=", ">="]), "value": rng.randint(1, 5)}
    if kind == 2:
        return {"rfm": "rank", "op": "in", "value": rng.sample(list("ABCDE"), rng.randint(1, 3))}
    if kind == 3:
        return {"trait": "address_prefecture", "op": "in", "value": rng.sample(PREFECTURES, 2)}
    if kind == 4:
        return {"consent": "email", "state": "subscribed"}
    if kind == 5:
        return {"trait": "tags", "op": "contains", "value": "vip"}
    if kind == 6:
        span = {"days": rng.choice([30, 60, 90, 180, 365])}
        return {"time": "last_order_at", rng.choice(["older_than", "within"]): span}
    return {
        "event": "order.placed",
        "where": [{"field": "category", "op": "=", "value": rng.choice(CATEGORIES)}],
        "count": {"op": ">=", "value": rng.randint(1, 2)},
        "window": {"last": {"days": rng.choice([30, 60, 90])}},
    }


def _definition(rng: random.Random) -> dict[str, Any]:
    leaves = [_leaf(rng) for _ in range(rng.randint(1, 4))]
    if len(leaves) == 1:
        return leaves[0]
    if rng.random() < 0.2:
        leaves[-1] = {"not": leaves[-1]}
    return {rng.choice(["all", "all", "any"]): leaves}


async def _create_segments(db: Database, now: Any) -> None:
    rng = random.Random(5)
    bodies = [t.definition.to_json_obj() for t in TEMPLATES]
    bodies += [_definition(rng) for _ in range(200 - len(bodies) - 1)]
    bodies.append({"trait": "probe", "op": "=", "value": True})
    for tenant in (TENANT, BIG_TENANT):
        for index, body in enumerate(bodies if tenant == TENANT else bodies[:1]):
            async with db.transaction() as session:
                await commands.create(
                    session, tenant, commands.NewSegment(name=f"s{index}", definition=body), now
                )


async def _seed(db: Database, tenant: str, count: int) -> None:
    for first in range(1, count + 1, 250_000):
        last = min(count, first + 249_999)
        async with db.transaction() as session:
            await session.execute(text(_SEED), {"tenant": tenant, "first": first, "last": last})
            await session.execute(
                text(_SEED_EVENTS), {"tenant": tenant, "first": first, "last": last}
            )
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE segment.profiles"))
        await conn.execute(text("ANALYZE segment.events"))


async def _time_fill(db: Database, tenant: str) -> float:
    dormant_tea = {
        "all": [
            {"trait": "total_spent", "op": ">=", "value": 5000},
            {"time": "last_order_at", "older_than": {"days": 90}},
            {"not": {"event": "order.placed", "window": {"last": {"days": 30}}}},
        ]
    }
    started = time.perf_counter()
    async with db.transaction() as session:
        new = commands.NewSegment(name="fill bench", definition=dormant_tea)
        await commands.create(session, tenant, new, SystemClock().now())
    return time.perf_counter() - started


def _change(profile: int, version: int, traits: dict[str, Any]) -> ProfileChanged:
    now = SystemClock().now()
    return ProfileChanged(
        event_id=f"bench-change-{profile}-{version}",
        tenant_id=TENANT,
        source="bench",
        occurred_at=now,
        received_at=now,
        data=ProfileSnapshot(profile_id=f"p{profile}", version=version, traits=traits),
    )


def _order_traits(
    rng: random.Random, now: Any, before: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A customer's snapshot after one more order (rank moves one step now and then)."""
    orders = int(before["orders_count"]) + 1 if before else rng.randint(1, 9)
    spent = int(before["total_spent"]) + rng.randrange(1000, 8000, 100) if before else 0
    rank = before["rfm_rank"] if before else rng.choice("ABCDE")
    if before and rng.random() < 0.2:
        rank = "ABCDE"[max(0, "ABCDE".index(rank) - 1)]
    return {
        "orders_count": orders,
        "total_spent": str(spent or rng.randrange(1000, 60000, 100)),
        "rfm_rank": rank,
        "rfm_rank_previous": before["rfm_rank"] if before else rng.choice("ABCDE"),
        "f_stage": "F3+" if orders >= 3 else f"F{orders}",
        "last_order_at": now.isoformat(),
        "consent_email": "subscribed",
        "address_prefecture": rng.choice(PREFECTURES),
        "tags": ["vip"] if rng.random() < 0.1 else [],
    }


def _runner(ctx: SegmentContext, producer: Producer, group: str = GROUP) -> ConsumerRunner:
    async def handler(session: Any, messages: Any) -> None:
        await handle_profiles(ctx, session, messages)

    kafka = ctx.settings.kafka
    return ConsumerRunner(
        group_id=group,
        topics=[kafka.topic("crm.profiles.v1")],
        kafka=kafka,
        db=ctx.db,
        schema=SCHEMA,
        handler=handler,
        dlq_producer=producer,
    )


async def _count(ctx: SegmentContext, sql: str, **params: Any) -> int:
    async with ctx.db.transaction() as session:
        return int(await session.scalar(text(sql), params) or 0)


async def _applied(ctx: SegmentContext) -> int:
    return await _count(
        ctx, "SELECT count(*) FROM segment.processed_events WHERE consumer = :g", g=GROUP
    )


async def _poll(check: Any) -> None:
    while True:
        if await check():
            return
        await asyncio.sleep(0.2)


async def _drained(ctx: SegmentContext) -> None:
    unpublished = "SELECT count(*) FROM segment.outbox WHERE published_at IS NULL"

    async def empty() -> bool:
        return await _count(ctx, unpublished) == 0

    await _poll(empty)


async def _produce(producer: Producer, events: list[ProfileChanged]) -> None:
    topic = producer.topic("crm.profiles.v1")
    await producer.send_many((topic, e.partition_key(), encode_event(e), None) for e in events)


async def _throughput(ctx: SegmentContext, producer: Producer, customers: int) -> float:
    """Steady state: every customer is evaluated once first, so memberships exist."""
    rng, now = random.Random(9), SystemClock().now()
    warm = [_change(p, 2, _order_traits(rng, now)) for p in range(1, customers + 1)]
    await _produce(producer, warm)

    async def warmed() -> bool:
        return await _applied(ctx) >= len(warm)

    await _poll(warmed)
    await _drained(ctx)
    n = scale(20_000)
    latest = {p: e.data.traits for p, e in enumerate(warm, start=1)}
    timed = []
    for i in range(n):
        customer = rng.randint(1, customers)
        latest[customer] = _order_traits(rng, now, latest[customer])
        timed.append(_change(customer, 3 + i, latest[customer]))
    started = time.perf_counter()
    await _produce(producer, timed)

    async def applied() -> bool:
        return await _applied(ctx) >= len(warm) + n

    await _poll(applied)
    elapsed = time.perf_counter() - started
    await _drained(ctx)
    return n / elapsed


async def _latency(ctx: SegmentContext, producer: Producer, env: BenchEnv) -> list[float]:
    reader = AIOKafkaConsumer(
        env.kafka.topic("crm.segments.v1"),
        bootstrap_servers=env.kafka.bootstrap_servers,
        auto_offset_reset="latest",
        enable_auto_commit=False,
        group_id=None,
    )
    await reader.start()
    await reader.getmany(timeout_ms=2000)  # joined and positioned at the end
    arrived: dict[str, float] = {}
    probe = await _probe_segment(ctx)

    async def read() -> None:
        while True:
            for records in (await reader.getmany(timeout_ms=100)).values():
                for r in records:
                    event = decode_event(r.value)
                    if event.data.segment_id == probe:
                        arrived[event.data.profile_id] = time.perf_counter()

    task = asyncio.create_task(read())
    rng, latencies = random.Random(3), []
    try:
        for i in range(scale(300)):
            traits = {**_order_traits(rng, SystemClock().now()), "probe": True}
            event = _change(1 + i, 10_000_000 + i, traits)
            await producer.send_event("crm.profiles.v1", event)
            sent = time.perf_counter()
            while event.data.profile_id not in arrived and time.perf_counter() - sent < 30:  # noqa: ASYNC110
                await asyncio.sleep(0.002)
            if event.data.profile_id in arrived:
                latencies.append((arrived[event.data.profile_id] - sent) * 1000)
            await asyncio.sleep(0.03)
    finally:
        task.cancel()
        await reader.stop()
    return sorted(latencies)


async def _probe_segment(ctx: SegmentContext) -> str:
    async with ctx.db.transaction() as session:
        found = await session.scalar(
            text(
                "SELECT segment_id FROM segment.segments"
                " WHERE tenant_id = :t AND definition->>'trait' = 'probe'"
            ),
            {"t": TENANT},
        )
    return str(found)


async def _sweep(ctx: SegmentContext, due: int) -> float:
    async with ctx.db.transaction() as session:
        await session.execute(
            text(
                "UPDATE segment.profiles SET next_change_at = now() - interval '1 second'"
                " WHERE tenant_id = :t"
                " AND profile_id IN (SELECT 'p' || i FROM generate_series(1, CAST(:n AS int)) AS i)"
            ),
            {"t": TENANT, "n": due},
        )
    started = time.perf_counter()
    await sweep_once(ctx)
    return time.perf_counter() - started


async def run(env: BenchEnv, limits: dict[str, float]) -> list[Row]:
    await asyncio.to_thread(upgrade, "crm_segment", env.postgres.url())
    await ensure_topics(env.kafka)
    settings = Settings(kafka=env.kafka, postgres=env.postgres)
    db = Database(env.postgres.url(), pool_size=4)
    producer = Producer(env.kafka)
    await producer.start()
    ctx = SegmentContext(settings=settings, db=db, clock=SystemClock())
    rows: list[Row] = []
    try:
        await _create_segments(db, SystemClock().now() - timedelta(seconds=1))
        small, big = scale(100_000), scale(1_000_000)
        await _seed(db, TENANT, small)
        rows.append(
            Row(STAGE, f"fill_{small}_profiles", round(await _time_fill(db, TENANT), 2), "s")
        )
        await _seed(db, BIG_TENANT, big)
        rows.append(
            Row(STAGE, f"fill_{big}_profiles", round(await _time_fill(db, BIG_TENANT), 2), "s")
        )
        runner, relay = _runner(ctx, producer), OutboxRelay(db, producer, SCHEMA)
        await runner.start()
        await relay.start()
        try:
            rate = await _throughput(ctx, producer, min(small, 2000))
            latencies = await _latency(ctx, producer, env)
        finally:
            await runner.stop()
            await relay.stop()
        upsert = limits.get("postgres_upsert_batched")
        ratio = round(rate / upsert, 3) if upsert else None
        rows.append(Row(STAGE, "evaluations_200_segments", round(rate), "changes/s", ratio))
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else float("nan")
        rows.append(Row(STAGE, "p99_change_to_segment_event", round(p99, 1), "ms"))
        due = min(scale(10_000), small)
        rows.append(Row(STAGE, f"sweep_{due}_due_profiles", round(await _sweep(ctx, due), 2), "s"))
    finally:
        await producer.stop()
        await db.close()
    return rows
