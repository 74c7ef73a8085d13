"""The messaging service in-process on the run's real Kafka and Postgres, with a
real SMTP server, local provider APIs and a clock the tests move.

The dispatcher loop is off here: tests call ``dispatch()`` (one or more real
dispatcher rounds) after moving the clock, so every decision is deterministic.
The crash test runs the service as a real process instead.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from messaging_it import PUBLIC_URL, START, Harness
from messaging_providers import ProviderServer, SmtpServer

from crm_messaging.app import create_app
from crm_messaging.clock import FakeClock
from crm_messaging.config import MessagingService, Settings


@pytest_asyncio.fixture(scope="session")
async def smtp_server() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="session")
async def provider_server() -> AsyncIterator[ProviderServer]:
    server = ProviderServer(delay=2.0)
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="session")
async def harness(
    infra: Any, smtp_server: SmtpServer, provider_server: ProviderServer
) -> AsyncIterator[Harness]:
    service = MessagingService(
        public_url=PUBLIC_URL,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        sms_api_url=provider_server.url,
        line_api_url=provider_server.url,
        http_timeout=1.0,
        dispatcher_enabled=False,
        retry_base_seconds=1.0,
        retry_cap_seconds=10.0,
        retry_max_attempts=3,
        default_from_address="shop@mail.example.jp",
    )
    settings = Settings(
        service=service, kafka=infra.kafka_settings(), postgres=infra.postgres_settings()
    )
    clock = FakeClock(START)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            h = Harness(infra, app, client, clock)
            await h.producer.start()
            try:
                yield h
            finally:
                await h.producer.stop()
                await h.db.close()
