"""Messaging: messages decided and sent per second, and p99 from queued to sent.

A real SMTP server (aiosmtpd, discarding, in its own process) on a free port,
N recipients with email consent in the read model, the real dispatcher
(claim with SKIP LOCKED, guardrails, render with tracking links, SMTP through
the connection pool, ``sent`` + outbox event per message) and the outbox relay
publishing the ``message.*`` events to Kafka.

1. throughput: N messages queued, then the dispatcher started; msgs/s = N /
   time until the last is ``sent``. limit_ratio = msgs/s divided by the raw
   ``postgres_insert_batched`` rows/s of the same run (each message costs
   several row writes: the claim, ``sending``, ``sent``, two outbox rows).
2. latency: with the dispatcher running, N/5 more messages enqueued in small
   batches at about half the measured throughput; p99 of ``sent_at - queued_at``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select, text

from bench.common import BenchEnv, Row, scale
from crm_common.db import Database
from crm_common.kafka import Producer, ensure_topics
from crm_common.migrations import upgrade
from crm_common.outbox import OutboxRelay
from crm_common.tenancy import hash_api_key, new_api_key
from crm_messaging.app import build_adapters
from crm_messaging.clock import SystemClock
from crm_messaging.config import SCHEMA, MessagingService
from crm_messaging.sending.channels.email import SmtpPool
from crm_messaging.sending.channels.ratelimit import RateLimiter
from crm_messaging.sending.dispatcher import Dispatcher
from crm_messaging.sending.enqueue import MessageRequest, enqueue_message
from crm_messaging.tables import messages, recipients, tenants

STAGE = "messaging"
TENANT = "bench-shop"
TEMPLATE = {
    "subject": "{{ profile.first_name }}さん、春のセール",
    "text": "{{ profile.name }} 様\nhttps://shop.example.jp/sale\n{{ unsubscribe_url }}\n",
    "html": "<p>{{ profile.name }} 様</p><a href='https://shop.example.jp/sale'>セール</a>",
}


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


async def _seed(db: Database, n: int) -> None:
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
        rows = [
            {
                "tenant_id": TENANT,
                "profile_id": f"p{i}",
                "version": 1,
                "traits": {
                    "first_name": "花子",
                    "last_name": "山田",
                    "email": f"p{i}@example.jp",
                    "consent_email": "subscribed",
                },
                "email": f"p{i}@example.jp",
            }
            for i in range(n)
        ]
        for start in range(0, n, 1000):
            await session.execute(recipients.insert(), rows[start : start + 1000])


async def _enqueue(db: Database, source: str, profiles: range, batch: int = 500) -> None:
    for start in range(profiles.start, profiles.stop, batch):
        async with db.transaction() as session:
            now = datetime.now(UTC)
            for i in range(start, min(start + batch, profiles.stop)):
                intent = MessageRequest(
                    source_kind="campaign",
                    source_id=source,
                    profile_id=f"p{i}",
                    channel="email",  # type: ignore[arg-type]
                    purpose="transactional",  # no cap: each person gets two messages here
                    template=TEMPLATE,
                )
                await enqueue_message(session, TENANT, intent, now)


async def _count_sent(db: Database, source: str) -> int:
    async with db.transaction() as session:
        query = select(func.count()).where(
            messages.c.source_id == source, messages.c.state == "sent"
        )
        return int(await session.scalar(query) or 0)


async def _wait_sent(db: Database, source: str, n: int) -> None:
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if await _count_sent(db, source) >= n:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{source}: not all {n} messages sent")


async def _percentile_seconds(db: Database, source: str, fraction: float) -> float:
    async with db.transaction() as session:
        value = await session.scalar(
            text(
                "SELECT percentile_cont(:f) WITHIN GROUP "
                "(ORDER BY extract(epoch FROM sent_at - queued_at)) "
                "FROM messaging.messages WHERE source_id = :s AND state = 'sent'"
            ),
            {"s": source, "f": fraction},
        )
    return float(value or 0.0)


async def _paced_enqueue(db: Database, n: int, offset: int, rate: float) -> None:
    batch = 20
    for start in range(offset, offset + n, batch):
        began = time.perf_counter()
        await _enqueue(db, "latency", range(start, min(start + batch, offset + n)), batch)
        await asyncio.sleep(max(0.0, batch / rate - (time.perf_counter() - began)))


async def run(env: BenchEnv, limits: dict[str, float]) -> list[Row]:
    n = scale(5000)
    m = max(1, n // 5)
    upgrade("crm_messaging", env.postgres.url())
    await ensure_topics(env.kafka)
    smtp, port = await _smtp_server()
    db = Database(env.postgres.url(), pool_size=10)
    producer = Producer(env.kafka, client_id="bench-messaging")
    await producer.start()
    relay = OutboxRelay(db, producer, SCHEMA)
    service = MessagingService(smtp_port=port, rate_limits={})
    pool = SmtpPool(service)
    client = httpx.AsyncClient()  # sms/line adapters exist but are not used here
    adapters = build_adapters(service, client, pool)
    dispatcher = Dispatcher(db, SystemClock(), service, adapters, RateLimiter({}))
    try:
        await _seed(db, n)
        await _enqueue(db, "throughput", range(n))
        await relay.start()
        started = time.perf_counter()
        await dispatcher.start()
        await _wait_sent(db, "throughput", n)
        throughput = n / (time.perf_counter() - started)
        await _paced_enqueue(db, m, 0, throughput / 2)
        await _wait_sent(db, "latency", m)
        p50 = await _percentile_seconds(db, "latency", 0.5)
        p99 = await _percentile_seconds(db, "latency", 0.99)
    finally:
        await dispatcher.stop()
        await relay.stop()
        await pool.close()
        await client.aclose()
        await producer.stop()
        await db.close()
        smtp.terminate()
        await smtp.wait()
    limit = limits.get("postgres_insert_batched")
    return [
        Row(
            STAGE,
            "email_decided_sent",
            round(throughput, 1),
            "msgs/s",
            throughput / limit if limit else None,
        ),
        Row(STAGE, "email_queued_to_sent_p50", round(p50 * 1000, 1), "ms", None),
        Row(STAGE, "email_queued_to_sent_p99", round(p99 * 1000, 1), "ms", None),
    ]
