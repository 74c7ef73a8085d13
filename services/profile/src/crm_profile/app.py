"""The profile service's FastAPI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from crm_common.clock import clock_from_env
from crm_common.outbox import OutboxRelay
from crm_common.service import Runtime, create_service_app
from crm_profile.api import analytics, loyalty, profiles
from crm_profile.api import settings as settings_api
from crm_profile.config import SCHEMA, Settings
from crm_profile.consumers import build_consumers
from crm_profile.handlers.refresh import TraitsRefresher


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def setup(_: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
        runtime.relays.append(OutboxRelay(runtime.db, runtime.producer, SCHEMA))
        clock = runtime.extras.setdefault("clock", clock_from_env())
        if settings.service.consume:
            runtime.consumers.extend(build_consumers(settings, runtime))
        if settings.service.refresh:
            refresher = TraitsRefresher(runtime.db, clock, settings.service)
            runtime.background.append(asyncio.create_task(refresher.run_forever()))
        yield

    return create_service_app(
        settings=settings,
        service=settings.service,
        title="CRM profile",
        description="Unified customer records: identity, consents, orders, traits.",
        routers=[profiles.router, settings_api.router, analytics.router, loyalty.router],
        setup=setup,
    )
