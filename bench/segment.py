"""Segment stage: a fill as a background job, per-change evaluation with 200 live
segments at steady state, change-to-event latency under a sustained rate, and a
cohort of 100,000 profiles turning 休眠 at the same instant.

Setup: the segment schema is migrated into the bench database and 200 active
dynamic segments are created for one tenant (the 30 built-in templates and 170
random but realistic definitions: spend and order thresholds, RFM sets,
prefectures, consent, tags, relative time, event counts in windows, nested
all/any/not), before the read model is seeded, so their fills are trivial. The
read model is then seeded by bulk SQL (``INSERT ... SELECT generate_series``):
``scale(1_000_000)`` profiles with varied traits and one ``order.placed`` event for
every fifth. Every figure below is measured against that tenant: 200 live segments
over a million profiles.

* ``fill_<n>_profiles``: ``POST``-equivalent create of one more dynamic segment
  (the command answers at once with a queued job) until its job is done, run by the
  job runner in this process: SQL selection in chunks, membership diff, one outbox
  event per entry, all in PostgreSQL. ``fill_live_changes_p99`` is the p99
  change-to-event latency of ``scale(100)`` changes/s sent while that job runs
  (live evaluation of the tenant goes on during a fill).
* ``evaluations_200_segments``: the segment consumer (the real handler in a
  ``ConsumerRunner``) and outbox relay run in this process, on topics of their own.
  ``scale(10_000)`` customers get one ``profile.changed`` each first (a full
  evaluation: memberships exist, steady state). Then a backlog of
  ``scale(200_000)`` changes (one more order each: count + 1, spend up, last order
  now, the RFM rank up a step one time in five, vip now and then) is
  produced while the consumer is stopped; the consumer starts, runs a warm-up
  window, then three timed windows of ``BENCH_SEGMENT_WINDOW`` seconds (8); the
  value is the median window (the backlog is checked never to run dry, so no burst
  and no idle tail is in a window), ``_spread`` is (max - min) / median of the
  three, and ``_cpu_us`` the bench process's CPU per change (consumer, relay).
  ``limit_ratio`` = changes/s over the same run's ``postgres_upsert_batched``.
* ``p99_change_to_segment_event``: ``scale(1000)`` changes/s for ``scale(60)``
  seconds to the warmed customers, each one more order that also flips a probe
  segment (enter, then exit), the time from the send to the ``segment.entered`` /
  ``segment.exited`` read back from ``crm.segments.v1`` (producer ack, consumer,
  outbox relay and Kafka in between).
* ``sweep_<n>_due_profiles``: ``scale(100_000)`` customers whose memberships are
  exact (one order 90 days before an instant a few seconds ahead), all due at that
  instant; the sweeper runs as in the service (sleeping until the next due moment);
  the value is the time from that instant until every one of them is evaluated and
  its memberships changed (``_changes``: how many rows changed).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import statistics
import time
from datetime import datetime, timedelta
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
from crm_segment.domain.membership import Pending, evaluate_batch
from crm_segment.domain.templates import TEMPLATES
from crm_segment.handlers import jobs, sweep
from crm_segment.handlers import segments as commands
from crm_segment.handlers.consume import handle_profiles

STAGE = "segment"
TENANT = "bench-shop"
CATEGORIES = ("tea", "coffee", "sweets", "gift", "tableware")
PREFECTURES = ("東京都", "大阪府", "北海道", "福岡県", "愛知県")
CONSENTS = ("subscribed", "unsubscribed")
WINDOW = float(os.environ.get("BENCH_SEGMENT_WINDOW", "8"))

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


def _bodies() -> list[dict[str, Any]]:
    rng = random.Random(5)
    bodies = [t.definition.to_json_obj() for t in TEMPLATES]
    bodies += [_definition(rng) for _ in range(200 - len(bodies) - 1)]
    bodies.append({"trait": "probe", "op": "=", "value": True})
    return bodies


async def _create_segments(ctx: SegmentContext, now: Any) -> None:
    for index, body in enumerate(_bodies()):
        async with ctx.db.transaction() as session:
            new = commands.NewSegment(name=f"s{index}", definition=body)
            await commands.create(session, TENANT, new, now)
    await jobs.run_pending(ctx)


async def _seed(db: Database, tenant: str, count: int) -> None:
    for first in range(1, count + 1, 250_000):
        last = min(count, first + 249_999)
        async with db.transaction() as session:
            await session.execute(text(_SEED), {"tenant": tenant, "first": first, "last": last})
            await session.execute(
                text(_SEED_EVENTS), {"tenant": tenant, "first": first, "last": last}
            )
    async with db.engine.connect() as conn:  # VACUUM runs outside a transaction
        ready = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await ready.execute(text("VACUUM ANALYZE segment.profiles"))
        await ready.execute(text("VACUUM ANALYZE segment.events"))


async def _analyze(ctx: SegmentContext) -> None:
    async with ctx.db.engine.connect() as conn:
        ready = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("profiles", "memberships", "events", "outbox", "processed_events"):
            await ready.execute(text(f"ANALYZE segment.{table}"))


async def _count(ctx: SegmentContext, sql: str, **params: Any) -> int:
    async with ctx.db.transaction() as session:
        return int(await session.scalar(text(sql), params) or 0)


async def _poll(check: Any, interval: float = 0.2) -> None:
    while not await check():  # noqa: ASYNC110 (a database condition, not an event)
        await asyncio.sleep(interval)


async def _drained(ctx: SegmentContext, patience: float = 600.0) -> None:
    unpublished = "SELECT count(*) FROM segment.outbox WHERE published_at IS NULL"
    deadline = time.monotonic() + patience

    async def empty() -> bool:
        return await _count(ctx, unpublished) == 0 or time.monotonic() > deadline

    await _poll(empty)


# -- the fill, with live changes going on ------------------------------------------------


DORMANT_TEA = {
    "all": [
        {"trait": "total_spent", "op": ">=", "value": 5000},
        {"time": "last_order_at", "older_than": {"days": 90}},
        {"not": {"event": "order.placed", "window": {"last": {"days": 30}}}},
    ]
}


async def _time_fill(
    ctx: SegmentContext, producer: Producer, reader: SegmentEvents, rate: int
) -> tuple[float, list[float], int]:
    """Seconds from the create to the job's end; latencies of live changes sent
    meanwhile; the job's entries."""
    started = time.perf_counter()
    async with ctx.db.transaction() as session:
        new = commands.NewSegment(name="fill bench", definition=DORMANT_TEA)
        _, job = await commands.create(session, TENANT, new, SystemClock().now())
    assert job is not None
    live = asyncio.create_task(_live_changes(producer, reader, rate))
    await jobs.run_pending(ctx)
    took = time.perf_counter() - started
    live.cancel()
    latencies = await asyncio.gather(live, return_exceptions=True)
    entered = await _count(
        ctx, "SELECT entered FROM segment.segment_jobs WHERE job_id = :j", j=job.job_id
    )
    found = latencies[0] if isinstance(latencies[0], list) else []
    return took, found, entered


async def _live_changes(producer: Producer, reader: SegmentEvents, rate: int) -> list[float]:
    """Probe flips at ``rate`` per second until cancelled; their latencies so far."""
    rng, latencies = random.Random(11), reader.latencies
    latencies.clear()
    customer = 0
    try:
        while True:
            tick = time.perf_counter()
            batch = []
            for _ in range(max(1, rate // 10)):
                customer = customer % reader.customers + 1
                batch.append(reader.flip(rng, customer))
            await _produce(producer, "crm.profiles.v1", batch)
            reader.sent(batch)
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - tick)))
    except asyncio.CancelledError:
        return list(latencies)


# -- per-change evaluation -----------------------------------------------------------------


def _change(profile: str, version: int, traits: dict[str, Any]) -> ProfileChanged:
    now = SystemClock().now()
    return ProfileChanged(
        event_id=f"bench-change-{profile}-{version}",
        tenant_id=TENANT,
        source="bench",
        occurred_at=now,
        received_at=now,
        data=ProfileSnapshot(profile_id=profile, version=version, traits=traits),
    )


def _order_traits(rng: random.Random, before: dict[str, Any] | None = None) -> dict[str, Any]:
    """A customer's snapshot after one more order, placed now: count + 1, spend up, the
    RFM rank up a step one time in five; where they live stays, vip now and then."""
    orders = int(before["orders_count"]) + 1 if before else rng.randint(1, 9)
    spent = int(before["total_spent"]) + rng.randrange(1000, 8000, 100) if before else 0
    rank = before["rfm_rank"] if before else rng.choice("ABCDE")
    if before and rng.random() < 0.2:
        rank = "ABCDE"[max(0, "ABCDE".index(rank) - 1)]
    tags = before["tags"] if before else []
    if rng.random() < 0.05:
        tags = [] if tags else ["vip"]
    return {
        "orders_count": orders,
        "total_spent": str(spent or rng.randrange(1000, 60000, 100)),
        "rfm_rank": rank,
        "rfm_rank_previous": before["rfm_rank"] if before else rng.choice("ABCDE"),
        "f_stage": "F3+" if orders >= 3 else f"F{orders}",
        "last_order_at": SystemClock().now().isoformat(),
        "consent_email": before["consent_email"] if before else rng.choice(CONSENTS),
        "address_prefecture": before["address_prefecture"] if before else rng.choice(PREFECTURES),
        "tags": tags,
    }


def _runner(ctx: SegmentContext, producer: Producer, group: str) -> ConsumerRunner:
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
        max_batch=ctx.settings.service.consumer_batch,
    )


async def _applied(ctx: SegmentContext, group: str) -> int:
    return await _count(
        ctx, "SELECT count(*) FROM segment.processed_events WHERE consumer = :g", g=group
    )


async def _produce(producer: Producer, topic: str, events: list[ProfileChanged]) -> None:
    name = producer.topic(topic)
    await producer.send_many((name, e.partition_key(), encode_event(e), None) for e in events)


async def _produce_in_chunks(producer: Producer, topic: str, events: Any, chunk: int) -> int:
    sent, batch = 0, []
    for event in events:
        batch.append(event)
        if len(batch) >= chunk:
            await _produce(producer, topic, batch)
            sent, batch = sent + len(batch), []
    if batch:
        await _produce(producer, topic, batch)
        sent += len(batch)
    return sent


class Throughput:
    """Steady-state per-change evaluation on topics of its own (their backlog is left
    behind when the windows are measured)."""

    GROUP = "bench-segment-throughput"

    def __init__(self, env: BenchEnv, ctx: SegmentContext, producer: Producer) -> None:
        prefix = f"{env.kafka.topic_prefix}tp."
        self.kafka = env.kafka.model_copy(update={"topic_prefix": prefix})
        settings = ctx.settings.model_copy(update={"kafka": self.kafka})
        self.ctx = SegmentContext(settings=settings, db=ctx.db, clock=ctx.clock)
        self.producer = Producer(self.kafka)
        self.dlq = producer
        self.customers = scale(10_000)
        self.latest: dict[int, dict[str, Any]] = {}

    async def run(self) -> tuple[list[float], float, int]:
        """(changes/s of each timed window, CPU µs per change, customers warmed)."""
        await ensure_topics(self.kafka)
        await self.producer.start()
        try:
            await self._warm()
            backlog = await self._backlog()
            return await self._windows(backlog)
        finally:
            await self.producer.stop()

    async def _warm(self) -> None:
        """Every customer's first snapshot: a full evaluation, memberships exist."""
        rng = random.Random(9)
        events = []
        for customer in range(1, self.customers + 1):
            self.latest[customer] = _order_traits(rng)
            events.append(_change(f"c{customer}", 1, self.latest[customer]))
        await _produce_in_chunks(self.producer, "crm.profiles.v1", events, 5000)
        runner = _runner(self.ctx, self.dlq, self.GROUP)
        relay = OutboxRelay(self.ctx.db, self.dlq, SCHEMA)
        await runner.start()
        await relay.start()
        try:

            async def reached() -> bool:
                return await _applied(self.ctx, self.GROUP) >= len(events)

            await _poll(reached)
            await _drained(self.ctx)
        finally:
            await runner.stop()
            await relay.stop()
        await _analyze(self.ctx)  # the tables grew from empty: plans need statistics

    async def _backlog(self) -> int:
        rng = random.Random(10)
        versions = dict.fromkeys(self.latest, 1)

        def changes() -> Any:
            for _ in range(scale(200_000)):
                customer = rng.randint(1, self.customers)
                self.latest[customer] = _order_traits(rng, self.latest[customer])
                versions[customer] += 1
                yield _change(f"c{customer}", versions[customer], self.latest[customer])

        return await _produce_in_chunks(self.producer, "crm.profiles.v1", changes(), 5000)

    async def _windows(self, backlog: int) -> tuple[list[float], float, int]:
        base = await _applied(self.ctx, self.GROUP)
        runner = _runner(self.ctx, self.dlq, self.GROUP)
        relay = OutboxRelay(self.ctx.db, self.dlq, SCHEMA)
        await runner.start()
        await relay.start()
        print(f"  throughput windows start (backlog {backlog})", flush=True)
        try:
            await asyncio.sleep(WINDOW / 2)  # warm-up: catalog, connections, first batches
            marks = [
                (time.perf_counter(), time.process_time(), await _applied(self.ctx, self.GROUP))
            ]
            for _ in range(3):
                await asyncio.sleep(WINDOW)
                marks.append(
                    (time.perf_counter(), time.process_time(), await _applied(self.ctx, self.GROUP))
                )
        finally:
            await runner.stop()
            await relay.stop()
        if marks[-1][2] - base >= backlog:
            raise RuntimeError("the backlog ran dry inside a window: raise scale or lower WINDOW")
        rates = [(b[2] - a[2]) / (b[0] - a[0]) for a, b in itertools.pairwise(marks)]
        cpu = (marks[-1][1] - marks[0][1]) / max(1, marks[-1][2] - marks[0][2]) * 1e6
        return rates, cpu, self.customers


# -- change -> segment event latency ---------------------------------------------------------


class SegmentEvents:
    """Reads crm.segments.v1 and times each probe flip from its producer ack."""

    def __init__(self, env: BenchEnv, probe: str, customers: int) -> None:
        self.env, self.probe, self.customers = env, probe, customers
        self.pending: dict[str, float] = {}
        self.latencies: list[float] = []
        self.probed: dict[int, bool] = {}
        self.versions: dict[int, int] = {}
        self.traits: dict[int, dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._reader = AIOKafkaConsumer(
            self.env.kafka.topic("crm.segments.v1"),
            bootstrap_servers=self.env.kafka.bootstrap_servers,
            auto_offset_reset="latest",
            enable_auto_commit=False,
            group_id=None,
        )
        await self._reader.start()
        await self._reader.getmany(timeout_ms=2000)  # joined and positioned at the end
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._reader.stop()

    def flip(self, rng: random.Random, customer: int) -> ProfileChanged:
        """The customer's next change: one more order, the probe flipped (customers
        ``c<n>`` of the throughput phase: their memberships exist)."""
        probe = not self.probed.get(customer, False)
        self.probed[customer] = probe
        version = self.versions.get(customer, 10_000_000) + 1
        self.versions[customer] = version
        before = self.traits.get(customer)
        traits = self.traits[customer] = _order_traits(rng, before)
        return _change(f"c{customer}", version, {**traits, "probe": probe})

    def sent(self, events: list[ProfileChanged]) -> None:
        at = time.perf_counter()
        for event in events:
            self.pending[event.data.profile_id] = at

    async def _read(self) -> None:
        while True:
            for records in (await self._reader.getmany(timeout_ms=50)).values():
                arrived = time.perf_counter()
                for record in records:
                    event = decode_event(record.value)
                    if event.data.segment_id != self.probe:
                        continue
                    sent = self.pending.pop(event.data.profile_id, None)
                    if sent is not None:
                        self.latencies.append((arrived - sent) * 1000)


async def _sustained(
    producer: Producer, reader: SegmentEvents, rate: int, seconds: int, customers: int
) -> None:
    """``rate`` probe flips per second for ``seconds``, in ticks of 10 ms, round robin
    over ``customers`` (so one flip of a customer is in flight at a time)."""
    rng = random.Random(3)
    reader.latencies.clear()
    reader.pending.clear()
    per_tick, customer = max(1, rate // 100), 0
    started = time.perf_counter()
    for tick in range(seconds * 100):
        batch = []
        for _ in range(per_tick):
            customer = customer % customers + 1
            batch.append(reader.flip(rng, customer))
        reader.sent(batch)
        await _produce(producer, "crm.profiles.v1", batch)
        delay = started + (tick + 1) / 100 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    deadline = time.perf_counter() + 30
    while reader.pending and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# -- the sweep ---------------------------------------------------------------------------------


async def _cohort(ctx: SegmentContext, count: int) -> tuple[datetime, int]:
    """``count`` customers whose last order was 90 days before an instant a few seconds
    ahead, with exact memberships (all alike: one is evaluated, every row copied);
    returns that instant and how many membership rows it changes."""
    async with ctx.db.transaction() as session:
        catalog = await ctx.catalogs.get(session, TENANT)
    due = SystemClock().now() + timedelta(days=1)  # moved closer once all is written
    traits = {
        "orders_count": 1,
        "total_spent": "3000",
        "rfm_rank": "C",
        "f_stage": "F1",
        "consent_email": "subscribed",
        "address_prefecture": "東京都",
        "tags": [],
        "last_order_at": (due - timedelta(days=90)).isoformat(),
    }
    early = due - timedelta(seconds=1)
    before = evaluate_batch(catalog, [Pending(traits, (), frozenset())], early)
    after = evaluate_batch(catalog, [Pending(traits, (), frozenset(before[0].entered))], due)
    if before[0].next_change_at != due:
        raise RuntimeError(f"no segment moves at day 90: next {before[0].next_change_at}")
    async with ctx.db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO segment.profiles"
                " (tenant_id, profile_id, traits, version, updated_at, next_change_at)"
                " SELECT :t, 'w' || i, CAST(:traits AS jsonb), 1, now(), NULL"
                " FROM generate_series(1, CAST(:n AS int)) AS i"
            ),
            {"t": TENANT, "traits": _json(traits), "n": count},
        )
        for segment_id in before[0].entered:
            await session.execute(
                text(
                    "INSERT INTO segment.memberships"
                    " (tenant_id, segment_id, profile_id, entered_at)"
                    " SELECT :t, :s, 'w' || i, now() FROM generate_series(1, CAST(:n AS int)) AS i"
                ),
                {"t": TENANT, "s": segment_id, "n": count},
            )
    await _analyze(ctx)
    # Everything written: the cohort's day 90 is now a few seconds ahead.
    due = SystemClock().now() + timedelta(seconds=20)
    async with ctx.db.transaction() as session:
        await session.execute(
            text(
                "UPDATE segment.profiles SET next_change_at = :due, traits = jsonb_set(traits,"
                " '{last_order_at}', to_jsonb(CAST(:last AS text)))"
                " WHERE tenant_id = :t AND profile_id LIKE 'w%'"
            ),
            {"t": TENANT, "due": due, "last": (due - timedelta(days=90)).isoformat()},
        )
    changed = len(after[0].entered) + len(after[0].exited)
    return due, changed * count


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


async def _sweep(ctx: SegmentContext, count: int) -> tuple[float, int]:
    """Seconds from the cohort's due instant until every one of them is swept."""
    due, changes = await _cohort(ctx, count)
    if SystemClock().now() >= due:
        raise RuntimeError("the cohort setup took longer than its head start")
    sweeper = asyncio.create_task(sweep.run_forever(ctx))
    try:
        await asyncio.sleep(max(0.0, (due - SystemClock().now()).total_seconds()))

        async def swept() -> bool:
            left = await _count(
                ctx,
                "SELECT count(*) FROM segment.profiles WHERE tenant_id = :t"
                " AND next_change_at <= :due",
                t=TENANT,
                due=due,
            )
            return left == 0

        await _poll(swept, 0.05)
        took = (SystemClock().now() - due).total_seconds()
    finally:
        sweeper.cancel()
        await asyncio.gather(sweeper, return_exceptions=True)
    return took, changes


# -- the stage ---------------------------------------------------------------------------------


async def run(env: BenchEnv, limits: dict[str, float]) -> list[Row]:
    await asyncio.to_thread(upgrade, "crm_segment", env.postgres.url())
    await ensure_topics(env.kafka)
    settings = Settings(kafka=env.kafka, postgres=env.postgres)
    db = Database(env.postgres.url(), pool_size=6)
    producer = Producer(env.kafka)
    await producer.start()
    ctx = SegmentContext(settings=settings, db=db, clock=SystemClock())
    rows: list[Row] = []
    try:
        await _create_segments(ctx, SystemClock().now() - timedelta(seconds=1))
        big = scale(1_000_000)
        await _seed(db, TENANT, big)
        rows += await _measure(env, ctx, producer, limits, big)
    finally:
        await producer.stop()
        await db.close()
    return rows


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


async def _measure(
    env: BenchEnv, ctx: SegmentContext, producer: Producer, limits: dict[str, float], big: int
) -> list[Row]:
    rows: list[Row] = []
    customers = await _phase(rows, "evaluations", _throughput_rows(env, ctx, producer, limits))
    if customers:
        await _phase(
            rows, "latency_and_fill", _latency_and_fill(env, ctx, producer, big, customers)
        )
    await _phase(rows, "sweep", _sweep_rows(ctx))
    return rows


async def _phase(rows: list[Row], name: str, work: Any) -> Any:
    """Run one measurement; its rows are kept (and printed) whatever the next does."""
    try:
        found, value = await work
    except Exception as exc:
        print(f"  {name} failed: {exc!r}", flush=True)
        rows.append(Row(STAGE, f"{name}_failed", 1, repr(exc)[:80]))
        return None
    for row in found:
        print(f"  {row.metric}: {row.value} {row.unit}", flush=True)
    rows.extend(found)
    return value


async def _throughput_rows(
    env: BenchEnv, ctx: SegmentContext, producer: Producer, limits: dict[str, float]
) -> tuple[list[Row], int]:
    rates, cpu, customers = await Throughput(env, ctx, producer).run()
    print(f"  windows: {[round(r) for r in rates]} changes/s, {customers} customers", flush=True)
    median = statistics.median(rates)
    upsert = limits.get("postgres_upsert_batched")
    ratio = round(median / upsert, 3) if upsert else None
    spread = (max(rates) - min(rates)) / median if median else float("nan")
    return [
        Row(STAGE, "evaluations_200_segments", round(median), "changes/s", ratio),
        Row(STAGE, "evaluations_200_segments_spread", round(spread, 3), "of median"),
        Row(STAGE, "evaluations_200_segments_cpu", round(cpu, 1), "µs/change"),
    ], customers


async def _latency_and_fill(
    env: BenchEnv, ctx: SegmentContext, producer: Producer, big: int, customers: int
) -> tuple[list[Row], None]:
    rows: list[Row] = []
    reader = SegmentEvents(env, await _probe_segment(ctx), customers)
    runner = _runner(ctx, producer, "bench-segment")
    relay = OutboxRelay(ctx.db, producer, SCHEMA)
    await relay.start()
    await _drained(ctx)  # what the throughput windows left behind
    await runner.start()
    await reader.start()
    try:
        rate = scale(1000)
        await _sustained(producer, reader, rate, scale(60), customers)
        print(f"  latency: {len(reader.latencies)} flips at {rate}/s", flush=True)
        p50, p99 = _p(reader.latencies, 0.5), _p(reader.latencies, 0.99)
        rows.append(Row(STAGE, "p50_change_to_segment_event", round(p50, 1), "ms"))
        rows.append(Row(STAGE, "p99_change_to_segment_event", round(p99, 1), "ms"))
        await _drained(ctx)
        took, live, entered = await _time_fill(ctx, producer, reader, scale(100))
        print(f"  fill: {entered} entered, {len(live)} live changes timed meanwhile", flush=True)
        rows.append(Row(STAGE, f"fill_{big}_profiles", round(took, 2), "s"))
        rows.append(Row(STAGE, "fill_live_changes_p99", round(_p(live, 0.99), 1), "ms"))
        await _drained(ctx)
    finally:
        await reader.stop()
        await runner.stop()
        await relay.stop()
    return rows, None


async def _sweep_rows(ctx: SegmentContext) -> tuple[list[Row], None]:
    due = scale(100_000)
    took, changes = await _sweep(ctx, due)
    return [
        Row(STAGE, f"sweep_{due}_due_profiles", round(took, 2), "s"),
        Row(STAGE, f"sweep_{due}_due_profiles_changes", changes, "memberships"),
    ], None
