"""The messaging service's FastAPI app: routers, consumers, outbox relay, dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from crm_common.events.customers import Channel
from crm_common.outbox import OutboxRelay
from crm_common.service import Runtime, create_service_app
from crm_messaging.api import errors, messages, outputs, providers, templates, tracking
from crm_messaging.api import settings as settings_api
from crm_messaging.api.deps import Services
from crm_messaging.channels.base import ChannelAdapter
from crm_messaging.channels.email import EmailAdapter, SmtpPool
from crm_messaging.channels.line import LineAdapter
from crm_messaging.channels.local import CallListAdapter, PostalDmAdapter
from crm_messaging.channels.ratelimit import RateLimiter
from crm_messaging.channels.sms import SmsAdapter
from crm_messaging.clock import Clock, clock_from_settings
from crm_messaging.config import SCHEMA, MessagingService, Settings
from crm_messaging.consumers import consumers
from crm_messaging.dispatch.worker import Dispatcher


def build_adapters(
    service: MessagingService, client: httpx.AsyncClient, pool: SmtpPool
) -> Mapping[Channel, ChannelAdapter]:
    adapters: list[ChannelAdapter] = [
        EmailAdapter(pool, service),
        SmsAdapter(client, service),
        LineAdapter(client, service),
        PostalDmAdapter(),
        CallListAdapter(),
    ]
    return {adapter.channel: adapter for adapter in adapters}


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    service = settings.service
    the_clock = clock or clock_from_settings(service.fake_clock_file)

    @asynccontextmanager
    async def setup(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
        client = httpx.AsyncClient(timeout=service.http_timeout)
        pool = SmtpPool(service)
        services = Services(db=runtime.db, clock=the_clock, settings=settings)
        runtime.consumers.extend(consumers(runtime))
        runtime.relays.append(OutboxRelay(runtime.db, runtime.producer, SCHEMA))
        dispatcher = Dispatcher(
            runtime.db,
            the_clock,
            service,
            build_adapters(service, client, pool),
            RateLimiter(service.rate_limits),
        )
        services.dispatcher = dispatcher
        app.state.messaging = services
        runtime.extras["dispatcher"] = dispatcher
        if service.dispatcher_enabled:
            await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            await pool.close()
            await client.aclose()

    app = create_service_app(
        settings=settings,
        service=service,
        title="CRM messaging",
        description="Guarded dispatch over email, SMS, LINE, postal DM and call lists",
        routers=[
            messages.router,
            templates.router,
            settings_api.router,
            outputs.router,
            tracking.router,
            providers.router,
        ],
        setup=setup,
    )
    errors.install(app)
    return app
