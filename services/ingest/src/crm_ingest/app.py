"""The ingest service's FastAPI app: webhooks, generic API, imports, admin; the
normalizer (crm.raw.v1 -> crm.events.v1), the erasure consumer and the outbox relay
run in-process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.middleware import Middleware

from crm_common.outbox import OutboxRelay
from crm_common.plumbing import Retention
from crm_common.service import Runtime, create_service_app
from crm_ingest.api import admin, errors, events, imports, tenant, webhooks
from crm_ingest.config import SCHEMA, TENANTS_TOPIC, Settings
from crm_ingest.context import IngestContext
from crm_ingest.erasure import build_erasure_consumer
from crm_ingest.handlers import ratelimit, tenants
from crm_ingest.importer import ImportWorker
from crm_ingest.normalizer import build_normalizer
from crm_ingest.shopcache import ShopCache, TenantWatcher
from crm_ingest.tables import accepted_events

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        settings=settings,
        service=settings.service,
        title="CRM ingest",
        description="Shopify webhooks, generic cart events and CSV imports onto Kafka.",
        routers=[webhooks.router, events.router, imports.router, admin.router, tenant.router],
        setup=_setup,
        doors=[Middleware(webhooks.ShopifyWebhookDoor)],
    )
    errors.install(app)
    return app


@contextlib.asynccontextmanager
async def _setup(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    settings: Settings = runtime.settings
    service = settings.service
    worker = ImportWorker(runtime.db, service)
    shops = ShopCache(runtime.db, service.tenant_cache_seconds, service.tenant_cache_max_seconds)
    ctx = IngestContext(
        settings=settings,
        db=runtime.db,
        producer=runtime.producer,
        shops=shops,
        imports=worker,
    )
    # Every role answers webhooks: each process follows tenant changes for its cache.
    watcher = TenantWatcher(
        shops, settings.kafka.bootstrap_servers, settings.kafka.topic(TENANTS_TOPIC)
    )
    watcher.start()
    runtime.extras["ingest"] = ctx
    runtime.consumers.append(build_normalizer(runtime.db, runtime.producer, settings.kafka))
    runtime.consumers.append(build_erasure_consumer(runtime.db, runtime.producer, settings.kafka))
    runtime.relays.append(OutboxRelay(runtime.db, runtime.producer, SCHEMA))
    runtime.retention.append(
        Retention(accepted_events, "accepted_at", service.accepted_retention_days)
    )
    if service.role != "api":  # an API-only process queues imports; workers run them
        runtime.background.append(asyncio.create_task(_maintain(ctx)))
    try:
        yield
    finally:
        await watcher.stop()
    await worker.stop()


async def _maintain(ctx: IngestContext, poll_seconds: float = 1.0) -> None:
    """Start imports queued by API-only processes (every second); resume imports left
    by a crashed worker, delete spool files no import needs, forget old rate-limit
    windows and reseal webhook secrets under the newest key (at start, then every
    stale/2 seconds)."""
    every = max(1, round(min(30.0, ctx.settings.service.import_stale_seconds / 2) / poll_seconds))
    round_no = 0
    while True:
        try:
            await ctx.imports.start_queued()
            if round_no % every == 0:
                await ctx.imports.resume_stale()
                await ctx.imports.sweep_spool()
                await ratelimit.prune(ctx.db)
                await tenants.reseal_secrets(ctx.db)
        except Exception as exc:  # retried next round
            log.warning("maintenance failed", extra={"error": repr(exc)})
        round_no += 1
        await asyncio.sleep(poll_seconds)
