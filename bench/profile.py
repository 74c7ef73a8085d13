"""Profile stage: events/s applied at steady state with 1 M profiles in the database,
and the time from ``crm.events.v1`` to ``profile.changed`` on ``crm.profiles.v1``.

Setup: the profile schema is migrated into the bench database and ``scale(1_000_000)``
profiles are seeded in SQL (``INSERT ... SELECT generate_series``, not through the
consumer) into profile's own tables: each with an email and a Shopify customer id
(a third also a phone), stored attributes and consents with their stamps, one
order fact, and the traits that order gives. The JSON of each comes from the
profile domain itself (one customer event, one order folded by the real reducers),
with the customer number written in by SQL, so the stored rows are what the
service would have written. The profile service runs as a real subprocess
(``python -m crm_profile serve``: consumers, outbox relay, refresher, API).

* Throughput: a realistic mix (in every 100 events: 40 orders of known customers,
  10 orders of new customers, 20 customer updates, 10 consent changes, 15 checkouts
  of known customers, 5 anonymous checkouts) of up to ``scale(240_000)`` events
  (``BENCH_PROFILE_EVENTS``) is encoded before anything is measured, then produced
  in chunks that keep about four seconds of work queued (never a backlog the
  service would need hours for). Progress is the consumer group's committed
  offsets (read from Kafka: offsets are committed only after the database
  commit, so a committed event is an applied one). After a warm-up, three timed
  windows of ``BENCH_PROFILE_WINDOW`` seconds (default 12) are measured and the
  median is reported, so a burst cannot fake a rate. ``limit_ratio`` = events/s
  over the same run's ``postgres_upsert_batched``. ``cpu_ms_per_event`` is the
  profile process's own CPU time per applied event over the windows (the
  figure to compare on a busy machine).
* Latency: once drained, ``scale(1_000)`` orders at ~50/s, each for a different
  known customer; the time from the producer's ack to the matching
  ``profile.changed`` read back from ``crm.profiles.v1``, p50 and p99.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psutil
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import BenchEnv, Row, scale
from crm_common.events import (
    CheckoutStarted,
    ConsentChanged,
    CustomerUpserted,
    Identity,
    OrderPlaced,
    encode_event,
)
from crm_common.events._base import Money
from crm_common.events.commerce import CheckoutData, OrderData, OrderLine
from crm_common.events.customers import Address, Channel, Consent, ConsentState, CustomerData
from crm_common.kafka import Producer, ensure_topics
from crm_common.migrations import upgrade
from crm_common.settings import KafkaSettings

STAGE = "profile"
TENANT = "bench-shop"
PROFILES = scale(1_000_000)
EVENTS = int(os.environ.get("BENCH_PROFILE_EVENTS", scale(240_000)))
WINDOW = float(os.environ.get("BENCH_PROFILE_WINDOW", 12))
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEED_AT = T0 - timedelta(days=30)
LOGS = Path(__file__).resolve().parents[1] / ".local" / "bench-logs"
MARK = "987654321"  # stands for the customer number in the seed templates


def _kafka(env: BenchEnv) -> KafkaSettings:
    """This stage's own topics (a sub-prefix of the run's): the ingest stage leaves
    hundreds of thousands of events on the run's crm.events.v1, and a profile
    service reading those first would measure that backlog, not steady state."""
    return env.kafka.model_copy(update={"topic_prefix": f"{env.kafka.topic_prefix}profile."})


# -- customers ----------------------------------------------------------------------
def _email(i: int) -> str:
    return f"customer{i}@mail.bench.example.jp"


def _shopify(i: int) -> str:
    return str(7_000_000_000 + i)


def _phone(i: int) -> str:
    return f"+8190{10_000_000 + i:08d}"


def _identity(i: int) -> Identity:
    return Identity(email=_email(i), external_ids={"shopify": _shopify(i)})


def _lines(n: int) -> list[OrderLine]:
    return [
        OrderLine(
            line_id=f"l{n}-{k}",
            product_id=f"prod-{(n + k) % 300}",
            sku=f"SKU-{(n + k) % 300}",
            title=f"商品 {(n + k) % 300}",
            category=("food", "cosme", "apparel", "goods")[(n + k) % 4],
            quantity=1 + k,
            unit_price=Money(amount=Decimal(1200 + 100 * ((n + k) % 30)), currency="JPY"),
        )
        for k in range(1 + n % 3)
    ]


def _customer_data(i: int, at: datetime, prefecture: str = "東京都") -> CustomerData:
    return CustomerData(
        customer_id=_shopify(i),
        email=_email(i),
        phone=_phone(i) if i % 3 == 0 else None,
        first_name=f"太郎{i}",
        last_name="山田",
        first_name_kana="タロウ",
        last_name_kana="ヤマダ",
        gender="male" if i % 2 else "female",
        address=Address(
            postal_code="100-0001", prefecture=prefecture, city="千代田区", address1=f"{i}番地"
        ),
        tags=["vip"] if i % 10 == 0 else [],
        consents=[Consent(channel=Channel.EMAIL, state=ConsentState.SUBSCRIBED, collected_at=at)],
        properties={"member_rank": "gold" if i % 7 == 0 else "regular"},
        updated_at=at,
    )


def _order(n: int, customer: int, at: datetime) -> OrderPlaced:
    lines = _lines(n)
    total = sum((line.unit_price.amount * line.quantity for line in lines), Decimal(0))
    return OrderPlaced(
        event_id=f"bench-order-{n}",
        tenant_id=TENANT,
        source="shopify",
        occurred_at=at,
        received_at=at,
        identity=_identity(customer),
        data=OrderData(
            order_id=f"bo-{n}",
            order_number=f"#{100_000 + n}",
            placed_at=at,
            currency="JPY",
            total=total,
            subtotal=total,
            financial_status="paid",
            lines=lines,
            checkout_token=f"ck-o{n}",
        ),
    )


# -- seeding --------------------------------------------------------------------------
def _templates() -> dict[str, str]:
    """The stored JSON of customer ``MARK``, as the profile domain builds it."""
    from crm_profile.domain import (
        Attributes,
        Permissions,
        RfmThresholds,
        apply_consent_event,
        apply_customer_event,
        apply_order_event,
        build_snapshot,
        compute_traits,
    )

    n = int(MARK)
    event = CustomerUpserted(
        event_id="seed",
        tenant_id=TENANT,
        source="shopify",
        occurred_at=SEED_AT,
        received_at=SEED_AT,
        identity=_identity(n),
        data=_customer_data(n, SEED_AT),
    )
    attributes: Attributes = apply_customer_event(None, event)
    permissions: Permissions = apply_consent_event(None, event)
    fact = apply_order_event(None, _order(n, n, SEED_AT - timedelta(days=60)))
    traits = compute_traits([fact], [], [], T0, RfmThresholds(currency="JPY"))
    snapshot: Any = build_snapshot(traits, attributes, permissions)
    if not isinstance(snapshot, dict):  # a typed snapshot (profile.changed v2)
        snapshot = snapshot.model_dump(mode="json")
    dumps = lambda v: orjson.dumps(v).decode()  # noqa: E731
    return {
        "attributes": dumps(attributes.model_dump(mode="json")),
        "permissions": dumps(permissions.model_dump(mode="json")),
        "traits": dumps(snapshot),
        "fact": dumps(fact.model_dump(mode="json")),
    }


_SEED_SQL = (
    # profiles: the customer number replaces MARK in the domain's own JSON
    """INSERT INTO profile.profiles (tenant_id, profile_id, created_at, version, attributes,
           permissions, traits, traits_computed_at)
       SELECT $1, 'bench-p' || i, $2, 1, replace($3, $6, i::text)::jsonb, $4::jsonb,
              replace($5, $6, i::text)::jsonb, now()
       FROM generate_series($7::int, $8::int - 1) AS i""",
    """INSERT INTO profile.identifiers (tenant_id, kind, value, profile_id, created_at)
       SELECT $1, 'email', 'customer' || i || '@mail.bench.example.jp', 'bench-p' || i, now()
       FROM generate_series($2::int, $3::int - 1) AS i
       UNION ALL
       SELECT $1, 'external_id', 'shopify:' || (7000000000 + i), 'bench-p' || i, now()
       FROM generate_series($2::int, $3::int - 1) AS i""",
    """INSERT INTO profile.identifiers (tenant_id, kind, value, profile_id, created_at)
       SELECT $1, 'phone', '+8190' || lpad((10000000 + i)::text, 8, '0'), 'bench-p' || i, now()
       FROM generate_series($2::int, $3::int - 1) AS i WHERE i % 3 = 0""",
    """INSERT INTO profile.orders (tenant_id, order_id, profile_id, fact, placed_at)
       SELECT $1, 'bo-' || i, 'bench-p' || i, replace($2, $3, i::text)::jsonb, $4
       FROM generate_series($5::int, $6::int - 1) AS i""",
)


async def _seed(dsn: str, n: int) -> float:
    """Seed ``n`` profiles; returns the seconds it took."""
    started = time.perf_counter()
    t = _templates()
    # The seeded order ids are 'bo-<customer>'; bench orders start past them.
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO profile.tenants (tenant_id, name, timezone, currency, shop_domains, "
            "api_key_hashes, status, version) VALUES ($1, 'Bench', 'Asia/Tokyo', 'JPY', '{}', "
            "'{}', 'active', 1) ON CONFLICT DO NOTHING",
            TENANT,
        )
        step = 250_000
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            profiles, idents, phones, orders = _SEED_SQL
            await conn.execute(
                profiles, TENANT, SEED_AT, t["attributes"], t["permissions"], t["traits"],
                MARK, lo, hi,
            )  # fmt: skip
            await conn.execute(idents, TENANT, lo, hi)
            await conn.execute(phones, TENANT, lo, hi)
            await conn.execute(
                orders, TENANT, t["fact"], MARK, SEED_AT - timedelta(days=60), lo, hi
            )
        await conn.execute("ANALYZE profile.profiles, profile.identifiers, profile.orders")
    finally:
        await conn.close()
    return time.perf_counter() - started


# -- the mix ---------------------------------------------------------------------------
def _event(n: int, rng: random.Random) -> Any:
    at = T0 + timedelta(seconds=n)
    known = rng.randrange(PROFILES)
    kind = n % 100
    if kind < 40:
        return _order(PROFILES + n, known, at)
    if kind < 50:
        return _order(PROFILES + n, PROFILES + n, at)  # a new customer's first order
    envelope: dict[str, Any] = {
        "event_id": f"bench-{n}",
        "tenant_id": TENANT,
        "source": "shopify",
        "occurred_at": at,
        "received_at": at,
    }
    if kind < 70:
        data = _customer_data(known, at, prefecture=("大阪府", "東京都", "北海道")[n % 3])
        return CustomerUpserted(**envelope, identity=_identity(known), data=data)
    if kind < 80:
        state = (ConsentState.SUBSCRIBED, ConsentState.UNSUBSCRIBED)[n % 2]
        consent = Consent(channel=Channel.SMS if n % 3 else Channel.EMAIL, state=state)
        return ConsentChanged(**envelope, identity=Identity(email=_email(known)), data=consent)
    anonymous = kind >= 95
    checkout = CheckoutData(
        checkout_token=f"ck-c{n}",
        cart_token=f"cart-{n}",
        currency="JPY",
        total=Decimal(3600),
        lines=_lines(n),
        started_at=at,
    )
    who = Identity(cart_token=f"cart-{n}") if anonymous else Identity(email=_email(known))
    return CheckoutStarted(**envelope, identity=who, data=checkout)


def _mix(n: int) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(7)
    for i in range(n):
        event = _event(i, rng)
        yield event.partition_key(), encode_event(event)


# -- the service -----------------------------------------------------------------------
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


class Progress:
    """Events committed by the consumer group (offsets), read from Kafka."""

    def __init__(self, env: BenchEnv) -> None:
        self.group = _kafka(env).topic("profile")
        self.admin = AIOKafkaAdminClient(bootstrap_servers=env.kafka.bootstrap_servers)

    async def committed(self) -> int:
        offsets = await self.admin.list_consumer_group_offsets(self.group)
        return sum(max(0, meta.offset) for meta in offsets.values())


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


async def _wait_for(progress: Progress, target: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while await progress.committed() < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the consumer did not reach {target} events in {seconds} s")
        await asyncio.sleep(0.2)


class Feed:
    """The mix, encoded before anything is measured, sent in chunks so that the
    consumer always has a backlog (a few seconds of work) but never hours of it."""

    def __init__(self, env: BenchEnv, producer: Producer, n: int) -> None:
        self.topic = _kafka(env).topic("crm.events.v1")
        self.producer = producer
        self.records = list(_mix(n))
        self.sent = 0

    async def top_up(self, done: int, backlog: int) -> None:
        while self.sent - done < backlog and self.sent < len(self.records):
            chunk = self.records[self.sent : self.sent + 2_000]
            await self.producer.send_many((self.topic, k, v, None) for k, v in chunk)
            self.sent += len(chunk)


async def _window(feed: Feed, progress: Progress, seconds: float, rate: float) -> float:
    """Events/s committed over ``seconds``, topping the backlog up meanwhile."""
    t1, d1 = time.perf_counter(), await progress.committed()
    end = t1 + seconds
    while (now := time.perf_counter()) < end:
        done = await progress.committed()
        if feed.sent >= len(feed.records) and done >= feed.sent:
            print("  profile: the mix ran out inside a window; raise BENCH_PROFILE_EVENTS")
        await feed.top_up(done, max(5_000, int(rate * 4)))
        await asyncio.sleep(min(0.5, max(0.0, end - now)))
    t2, d2 = time.perf_counter(), await progress.committed()
    return (d2 - d1) / (t2 - t1)


async def _throughput(
    env: BenchEnv, producer: Producer, progress: Progress, pid: int
) -> tuple[list[float], float]:
    """Rates of three timed windows at steady state, and CPU ms per event over them."""
    feed = Feed(env, producer, EVENTS)
    await feed.top_up(0, 10_000)
    # Warm-up: connections, caches and the first batches are not steady state.
    await _wait_for(progress, 2_000, 600)
    rate = await _window(feed, progress, 3, 1_000)
    proc = psutil.Process(pid)
    rates: list[float] = []
    cpu0, done0 = _cpu_seconds(proc), await progress.committed()
    for _ in range(3):
        rates.append(await _window(feed, progress, WINDOW, max(rate, *rates, 1_000)))
    cpu_ms = (_cpu_seconds(proc) - cpu0) * 1000 / max(1, await progress.committed() - done0)
    print(f"  profile windows: {[round(r) for r in rates]} events/s", flush=True)
    # The latency phase must not queue behind the rest of the backlog (a few seconds).
    await _wait_for(progress, feed.sent, 600)
    return rates, cpu_ms


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
        customer = PROFILES - 1 - i  # each a different customer the mix rarely touched
        event = _order(10_000_000 + i, customer, T0 + timedelta(days=30, seconds=i))
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
    seeded = await _seed(dsn, PROFILES)
    print(f"  profile: {PROFILES:,} profiles seeded in {seeded:.0f} s", flush=True)
    service = _start_service(env, 18_502)
    producer = Producer(_kafka(env))
    await producer.start()
    progress = Progress(env)
    await progress.admin.start()
    try:
        rates, cpu_ms = await _throughput(env, producer, progress, service.pid)
        latencies = await _latency(env, producer)
    finally:
        await progress.admin.close()
        await producer.stop()
        service.terminate()
        service.wait(30)
    rate = statistics.median(rates)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    p50 = latencies[len(latencies) // 2] * 1000
    upsert = limits.get("postgres_upsert_batched")
    return [
        Row(STAGE, "profiles_in_database", PROFILES, "profiles"),
        Row(STAGE, "events_applied", round(rate), "events/s", rate / upsert if upsert else None),
        Row(STAGE, "events_applied_windows_spread", round(max(rates) - min(rates)), "events/s"),
        Row(STAGE, "cpu_ms_per_event", round(cpu_ms, 3), "ms (profile process)"),
        Row(STAGE, "events_to_profile_changed_p50", round(p50, 1), "ms"),
        Row(STAGE, "events_to_profile_changed_p99", round(p99, 1), "ms"),
    ]
