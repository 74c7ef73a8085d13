"""Messaging: email decided and sent per second at steady state, queued->sent latency,
a 1 M-recipient campaign audience frozen, 100,000 journey runs waking at once.

Email: a real SMTP server (aiosmtpd, discarding, in its own process) on a free
port, recipients with email consent in the read model, the real dispatcher
(claim with SKIP LOCKED, guardrails, render in the render pool with tracking
links, SMTP through the connection pool, ``sent`` + outbox event per message)
and the outbox relay publishing the ``message.*`` events to Kafka, all in this
process, as in the service.

1. ``email_decided_sent``: ``scale(20_000)`` messages queued through the
   sending door (``Enqueuer``) (their ``message.queued`` events published before the
   clock starts), then the dispatcher started. Steady state, not a burst: the
   first and last fifth of the drain are left out and the middle is cut into
   three equal windows (by each message's ``sent_at``); the row is the median
   window's rate, and ``email_window_spread`` says how far the three windows lie
   apart ((max - min) / median). limit_ratio = msgs/s over the same run's raw
   ``postgres_insert_batched`` rows/s (each message costs several row writes).
   ``email_cpu_ms_per_msg``: CPU of this process (dispatcher + relay) plus the
   render workers and the SMTP server, per message over the whole drain: the
   figure to compare on a shared machine.
2. ``email_queued_to_sent_p50/p99``: with the dispatcher running, ``n / 5`` more
   messages enqueued 20 at a time at half the measured rate; percentiles of
   ``sent_at - queued_at``.
3. ``campaign_audience_frozen_<n>``: ``scale(1_000_000)`` members of a segment in
   messaging's read model (plus as many of another segment), one campaign
   started: the seconds of the starting transaction (audience frozen into
   ``campaign_recipients``, counted, campaign marked sending).
4. ``journeys_<n>_runs_advanced``: ``scale(100_000)`` active runs of the F2 step
   mail (waiting on day 1, with their recipients) whose wake times fall within
   the last minute; the service's journey worker drains them: each run sends
   its thank-you email (the sending door), moves on and arms the day-7 wait.
   Seconds until none is due; past ``JOURNEY_CAP_SECONDS`` the figure is
   projected from the rate so far (the unit says so).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psutil
from sqlalchemy import func, select, text

from bench.common import BenchEnv, Row, scale
from crm_common.db import Database
from crm_common.events.customers import Channel
from crm_common.kafka import Producer, ensure_topics
from crm_common.migrations import upgrade
from crm_common.outbox import OutboxRelay
from crm_common.tenancy import hash_api_key, new_api_key
from crm_messaging.app import build_adapters
from crm_messaging.clock import SystemClock
from crm_messaging.config import SCHEMA, MessagingService
from crm_messaging.domain.journeys.templates import f2_step_mail
from crm_messaging.handlers.campaigns_send import start as start_campaign
from crm_messaging.journeys_worker import JourneyWorker
from crm_messaging.repository import campaigns as campaigns_repo
from crm_messaging.sending.channels.email import SmtpPool
from crm_messaging.sending.channels.ratelimit import RateLimiter
from crm_messaging.sending.dispatcher import Dispatcher
from crm_messaging.sending.enqueue import Enqueuer, MessageRequest
from crm_messaging.tables import outbox, tenants

STAGE = "messaging"
TENANT = "bench-shop"
TEMPLATE = {
    "subject": "{{ profile.first_name }}さん、春のセール",
    "text": "{{ profile.name }} 様\nhttps://shop.example.jp/sale\n{{ unsubscribe_url }}\n",
    "html": "<p>{{ profile.name }} 様</p><a href='https://shop.example.jp/sale'>セール</a>",
}
JOURNEY_CAP_SECONDS = float(os.environ.get("BENCH_JOURNEY_CAP_SECONDS", "240"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _smtp_server() -> tuple[asyncio.subprocess.Process, int]:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"),
        *("-c", "aiosmtpd.handlers.Sink"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return proc, port
        except OSError:
            await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError("aiosmtpd did not start")


async def _tenant(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(
            tenants.insert().values(
                tenant_id=TENANT,
                name="Bench",
                timezone="Asia/Tokyo",
                currency="JPY",
                shop_domains=[],
                api_key_hashes=[hash_api_key(new_api_key())],
                status="active",
                version=1,
            )
        )


async def _recipients(db: Database, n: int, prefix: str = "p") -> None:
    """``n`` people with email consent, one bulk statement."""
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO messaging.recipients (tenant_id, profile_id, version, traits, email) "
                "SELECT :t, :p || i, 1, jsonb_build_object('first_name', '花子', "
                "'last_name', '山田', 'email', :p || i || '@example.jp', "
                "'consent_email', 'subscribed', 'orders_count', 1), :p || i || '@example.jp' "
                "FROM generate_series(0, :n - 1) AS i"
            ),
            {"t": TENANT, "p": prefix, "n": n},
        )


async def _enqueue(db: Database, source: str, profiles: range, batch: int = 500) -> None:
    """Through the sending door (the batch form the journey worker and campaigns use)."""
    for start in range(profiles.start, profiles.stop, batch):
        async with db.transaction() as session:
            door = Enqueuer(session, datetime.now(UTC))
            for i in range(start, min(start + batch, profiles.stop)):
                intent = MessageRequest(
                    source_kind="campaign",
                    source_id=source,
                    profile_id=f"p{i}",
                    channel=Channel.EMAIL,
                    purpose="transactional",  # no cap: each person gets two messages here
                    template=TEMPLATE,
                )
                await door.add(TENANT, intent)
            await door.flush()


async def _scalar(db: Database, sql: str, **params: object) -> Any:
    async with db.transaction() as session:
        return await session.scalar(text(sql), params)


async def _wait_for(db: Database, sql: str, target: int, within: float, **params: object) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if int(await _scalar(db, sql, **params) or 0) >= target:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"not reached before the deadline: {sql}")


_SENT = "SELECT count(*) FROM messaging.messages WHERE source_id = :s AND state = 'sent'"


async def _outbox_drained(db: Database, within: float = 300) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with db.transaction() as session:
            left = await session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
        if not left:
            return
        await asyncio.sleep(0.2)


async def _window_rates(db: Database, source: str) -> list[float]:
    """Messages per second in three equal windows over the middle three fifths."""
    async with db.transaction() as session:
        first, last = (
            await session.execute(
                text(
                    "SELECT min(sent_at), max(sent_at) FROM messaging.messages "
                    "WHERE source_id = :s AND state = 'sent'"
                ),
                {"s": source},
            )
        ).one()
        span = (last - first).total_seconds()
        begin = first + timedelta(seconds=span / 5)
        width = span * 3 / 5 / 3
        rates = []
        for k in range(3):
            lo = begin + timedelta(seconds=k * width)
            hi = lo + timedelta(seconds=width)
            count = await session.scalar(
                text(
                    "SELECT count(*) FROM messaging.messages WHERE source_id = :s "
                    "AND state = 'sent' AND sent_at >= :lo AND sent_at < :hi"
                ),
                {"s": source, "lo": lo, "hi": hi},
            )
            rates.append(int(count or 0) / width if width > 0 else 0.0)
    return rates


async def _percentile_seconds(db: Database, source: str, fraction: float) -> float:
    value = await _scalar(
        db,
        "SELECT percentile_cont(:f) WITHIN GROUP "
        "(ORDER BY extract(epoch FROM sent_at - queued_at)) "
        "FROM messaging.messages WHERE source_id = :s AND state = 'sent'",
        s=source,
        f=fraction,
    )
    return float(value or 0.0)


async def _paced_enqueue(db: Database, n: int, offset: int, rate: float) -> None:
    batch = 20
    for start in range(offset, offset + n, batch):
        began = time.perf_counter()
        await _enqueue(db, "latency", range(start, min(start + batch, offset + n)), batch)
        await asyncio.sleep(max(0.0, batch / rate - (time.perf_counter() - began)))


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (and of this one), so far."""
    total = sum(os.times()[:2])
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def _render_pids(dispatcher: Dispatcher) -> list[int]:
    pool = dispatcher.render_pool
    return [w.process.pid for w in pool._all if w.process.pid is not None]


async def _email(env: BenchEnv, db: Database, producer: Producer, limit: float | None) -> list[Row]:
    n = scale(20_000)
    m = max(1, n // 5)
    smtp, port = await _smtp_server()
    relay = OutboxRelay(db, producer, SCHEMA)
    service = MessagingService(smtp_port=port, rate_limits={})
    pool = SmtpPool(service)
    client = httpx.AsyncClient()  # sms/line adapters exist but are not used here
    adapters = build_adapters(service, client, pool)
    dispatcher = Dispatcher(db, SystemClock(), service, adapters, RateLimiter({}))
    try:
        await _recipients(db, n + m)
        await relay.start()
        await _enqueue(db, "throughput", range(n))
        await _outbox_drained(db)
        print(f"  email: {n} queued, dispatching", flush=True)
        await dispatcher.start()
        pids = [smtp.pid, *_render_pids(dispatcher)]
        cpu_before = _cpu_seconds(pids)
        await _wait_for(db, _SENT, n, 900, s="throughput")
        cpu_ms = (_cpu_seconds(pids) - cpu_before) * 1000 / n
        rates = await _window_rates(db, "throughput")
        throughput = statistics.median(rates)
        await _paced_enqueue(db, m, n, throughput / 2)
        await _wait_for(db, _SENT, m, 300, s="latency")
        p50 = await _percentile_seconds(db, "latency", 0.5)
        p99 = await _percentile_seconds(db, "latency", 0.99)
    finally:
        await dispatcher.stop()
        await relay.stop()
        await pool.close()
        await client.aclose()
        smtp.terminate()
        await smtp.wait()
    spread = (max(rates) - min(rates)) / throughput if throughput else 0.0
    return [
        Row(
            STAGE,
            "email_decided_sent",
            round(throughput, 1),
            "msgs/s (median of 3 windows)",
            throughput / limit if limit else None,
        ),
        Row(STAGE, "email_window_spread", round(spread * 100, 1), "% of median"),
        Row(STAGE, "email_cpu_ms_per_msg", round(cpu_ms, 3), "ms CPU (all processes)"),
        Row(STAGE, "email_queued_to_sent_p50", round(p50 * 1000, 1), "ms"),
        Row(STAGE, "email_queued_to_sent_p99", round(p99 * 1000, 1), "ms"),
    ]


async def _campaign(db: Database) -> list[Row]:
    n = scale(1_000_000)
    async with db.transaction() as session:
        for segment in ("vip", "other"):
            await session.execute(
                text(
                    "INSERT INTO messaging.journey_memberships "
                    "(tenant_id, profile_id, segment_id, state, at) "
                    "SELECT :t, 'c' || i, :seg, 'in', now() FROM generate_series(0, :n - 1) AS i"
                ),
                {"t": TENANT, "seg": segment, "n": n},
            )
        await session.execute(text("ANALYZE messaging.journey_memberships"))
        campaign = await campaigns_repo.insert_campaign(
            session,
            {
                "campaign_id": "bench-campaign",
                "tenant_id": TENANT,
                "name": "Bench",
                "segment_id": "vip",
                "channel": "email",
                "inline_parts": TEMPLATE,
                "status": "scheduled",
                "send_at": datetime.now(UTC),
            },
        )
    began = time.perf_counter()
    async with db.transaction() as session:
        started = await start_campaign(session, campaign, datetime.now(UTC))
    seconds = time.perf_counter() - began
    assert started["audience"] == n, started["audience"]
    return [Row(STAGE, f"campaign_audience_frozen_{n}", round(seconds, 2), "s")]


async def _journey_seed(db: Database, n: int) -> None:
    defn = f2_step_mail()
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO messaging.journeys (tenant_id, journey_id, name, status, version, "
                "trigger_kind, trigger_ref) VALUES (:t, :j, 'F2', 'live', 1, 'event', "
                "'order.placed')"
            ),
            {"t": TENANT, "j": defn.journey_id},
        )
        await session.execute(
            text(
                "INSERT INTO messaging.journey_versions (tenant_id, journey_id, version, "
                "definition) VALUES (:t, :j, 1, CAST(:d AS jsonb))"
            ),
            {"t": TENANT, "j": defn.journey_id, "d": defn.model_dump_json()},
        )
        for name in ("thanks", "how_to_use", "review", "coupon"):
            await session.execute(
                text(
                    "INSERT INTO messaging.templates (tenant_id, template_id, version, name, "
                    "channel, parts) VALUES (:t, :id, 1, :id, 'email', CAST(:p AS jsonb))"
                ),
                {"t": TENANT, "id": f"f2_{name}", "p": json.dumps(TEMPLATE)},
            )
    await _recipients(db, n, prefix="j")
    async with db.transaction() as session:
        # Entered a day ago (within the last minute's worth of seconds): day 1 is due now.
        await session.execute(
            text(
                "INSERT INTO messaging.journey_runs (run_id, tenant_id, journey_id, version, "
                "profile_id, status, current_step_id, entered_at, step_entered_at, visited, "
                "context, next_wake_at, updated_at) "
                "SELECT 'run-' || i, :t, :j, 1, 'j' || i, 'active', 'wait_thanks', e, e, "
                "jsonb_build_object('wait_thanks', to_char(e AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')), '{}'::jsonb, "
                "e + interval '1 day', e "
                "FROM (SELECT i, now() - interval '1 day' - (i % 60) * interval '1 second' AS e "
                "FROM generate_series(0, :n - 1) AS i) AS s"
            ),
            {"t": TENANT, "j": defn.journey_id, "n": n},
        )
        await session.execute(
            text(
                "INSERT INTO messaging.journey_run_steps (run_id, seq, tenant_id, step_id, "
                "action, detail, at) SELECT run_id, 1, tenant_id, 'wait_thanks', 'waiting', "
                "'{}'::jsonb, entered_at FROM messaging.journey_runs WHERE tenant_id = :t"
            ),
            {"t": TENANT},
        )
        await session.execute(text("ANALYZE messaging.journey_runs"))


_DUE = (
    "SELECT count(*) FROM messaging.journey_runs WHERE status = 'active' AND next_wake_at <= :now"
)


async def _journeys(db: Database) -> list[Row]:
    n = scale(100_000)
    await _journey_seed(db, n)
    print(f"  journeys: {n} runs due, advancing", flush=True)
    worker = JourneyWorker(db, SystemClock(), sweep_seconds=3600)
    began = time.perf_counter()
    await worker.start()
    done = False
    try:
        while time.perf_counter() - began < JOURNEY_CAP_SECONDS:
            due = int(await _scalar(db, _DUE, now=datetime.now(UTC)) or 0)
            if due == 0:
                done = True
                break
            await asyncio.sleep(0.5)
        seconds = time.perf_counter() - began
        left = int(await _scalar(db, _DUE, now=datetime.now(UTC)) or 0)
    finally:
        await worker.stop()
    metric = f"journeys_{n}_runs_advanced"
    if done:
        return [Row(STAGE, metric, round(seconds, 1), "s")]
    advanced = max(1, n - left)
    projected = seconds * n / advanced
    return [
        Row(STAGE, metric, round(projected, 1), f"s (projected: {advanced} in {seconds:.0f} s)")
    ]


async def run(env: BenchEnv, limits: dict[str, float]) -> list[Row]:
    upgrade("crm_messaging", env.postgres.url())
    await ensure_topics(env.kafka)
    db = Database(env.postgres.url(), pool_size=10)
    producer = Producer(env.kafka, client_id="bench-messaging")
    await producer.start()
    parts = {
        p for p in os.environ.get("BENCH_MESSAGING_PARTS", "email,campaign,journeys").split(",")
    }
    rows: list[Row] = []
    try:
        await _tenant(db)
        if "email" in parts:
            rows += await _email(env, db, producer, limits.get("postgres_insert_batched"))
        if "campaign" in parts:
            rows += await _campaign(db)
        if "journeys" in parts:
            rows += await _journeys(db)
    finally:
        await producer.stop()
        await db.close()
    return rows
