"""The messaging service's FastAPI app: routers, consumers, outbox relay, dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from crm_common.events.customers import Channel
from crm_common.outbox import OutboxRelay
from crm_common.service import Runtime, create_service_app
from crm_messaging.api import campaigns as campaigns_api
from crm_messaging.api import errors, messages, outputs, providers, templates, tracking
from crm_messaging.api import journeys as journeys_api
from crm_messaging.api import settings as settings_api
from crm_messaging.api import stats as stats_api
from crm_messaging.api.deps import Services
from crm_messaging.campaigns_worker import CampaignWorker
from crm_messaging.clock import Clock, clock_from_settings
from crm_messaging.config import SCHEMA, MessagingService, Settings
from crm_messaging.consumers import consumers, journey_consumers
from crm_messaging.journeys_worker import JourneyWorker
from crm_messaging.sending.channels.base import ChannelAdapter
from crm_messaging.sending.channels.email import EmailAdapter, SmtpPool
from crm_messaging.sending.channels.line import LineAdapter
from crm_messaging.sending.channels.local import CallListAdapter, PostalDmAdapter
from crm_messaging.sending.channels.ratelimit import RateLimiter
from crm_messaging.sending.channels.sms import SmsAdapter
from crm_messaging.sending.dispatcher import Dispatcher
from crm_messaging.sending.render_pool import RenderPool, render_limits


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
        runtime.consumers.extend(consumers(runtime, the_clock))
        runtime.consumers.extend(journey_consumers(runtime, the_clock))
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
        # Previews and template saves render in a pool of their own: a tenant
        # previewing slow templates never holds up the dispatcher's renders.
        previews = app.state.render_pool = RenderPool(
            render_limits(service, service.preview_render_workers)
        )
        runtime.extras["dispatcher"] = dispatcher
        if service.dispatcher_enabled:
            await dispatcher.start()
        journey_worker = runtime.extras["journey_worker"] = JourneyWorker(runtime.db, the_clock)
        worker_on = service.journey_worker_enabled
        if worker_on or (worker_on is None and service.dispatcher_enabled):
            await journey_worker.start()
        campaign_worker = runtime.extras["campaign_worker"] = CampaignWorker(
            runtime.db, the_clock, service.campaign_batch, service.campaign_tick_seconds
        )
        if service.dispatcher_enabled:
            await campaign_worker.start()
        try:
            yield
        finally:
            await campaign_worker.stop()
            await journey_worker.stop()
            await dispatcher.stop()
            await previews.close()
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
            journeys_api.router,
            journeys_api.templates_router,
            campaigns_api.router,
            stats_api.router,
        ],
        setup=setup,
        public_paths=("/v1/providers/",),  # provider callbacks carry a signature instead
    )
    errors.install(app)
    return app
