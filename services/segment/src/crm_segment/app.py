"""The segment service's FastAPI app: REST, the crm.profiles.v1 and crm.tenants.v1
consumers, the erasure consumer of crm.events.v1, the outbox relay to
crm.segments.v1, the sweeper and the fill jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.clock import clock_from_env
from crm_common.erasure import TENANT_REDACT, decode_only
from crm_common.kafka import ConsumerRunner, Message
from crm_common.outbox import OutboxRelay
from crm_common.service import Runtime, create_service_app
from crm_segment.api import history, jobs, members, profiles, segments, templates
from crm_segment.config import PROFILES_GROUP, SCHEMA, TENANTS_GROUP, Settings
from crm_segment.context import SegmentContext
from crm_segment.handlers import jobs as fill_jobs
from crm_segment.handlers import sweep
from crm_segment.handlers.consume import handle_profiles
from crm_segment.handlers.erasure import ERASURE_GROUP, handle_tenant_erasures
from crm_segment.handlers.tenants import handle_tenants


def build_consumers(ctx: SegmentContext, runtime: Runtime) -> list[ConsumerRunner]:
    kafka = ctx.settings.kafka

    async def on_profiles(session: AsyncSession, messages: Sequence[Message]) -> None:
        await handle_profiles(ctx, session, messages)

    common = {"kafka": kafka, "db": ctx.db, "schema": SCHEMA, "dlq_producer": runtime.producer}
    return [
        ConsumerRunner(
            group_id=PROFILES_GROUP,
            topics=[kafka.topic("crm.profiles.v1")],
            handler=on_profiles,
            max_batch=ctx.settings.service.consumer_batch,
            **common,  # type: ignore[arg-type]
        ),
        ConsumerRunner(
            group_id=TENANTS_GROUP,
            topics=[kafka.topic("crm.tenants.v1")],
            handler=handle_tenants,
            **common,  # type: ignore[arg-type]
        ),
        ConsumerRunner(
            group_id=ERASURE_GROUP,
            topics=[kafka.topic("crm.events.v1")],
            handler=handle_tenant_erasures,
            decode=decode_only({TENANT_REDACT}),
            **common,  # type: ignore[arg-type]
        ),
    ]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def setup(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
        ctx = SegmentContext(settings=settings, db=runtime.db, clock=clock_from_env())
        runtime.extras["segment"] = ctx
        runtime.consumers.extend(build_consumers(ctx, runtime))
        runtime.relays.append(OutboxRelay(runtime.db, runtime.producer, SCHEMA))
        runtime.background.append(asyncio.create_task(sweep.run_forever(ctx), name="sweeper"))
        runtime.background.append(
            asyncio.create_task(fill_jobs.run_forever(ctx), name="segment-jobs")
        )
        yield

    return create_service_app(
        settings=settings,
        service=settings.service,
        title="CRM segment",
        description="Live segments over crm.profiles.v1, published to crm.segments.v1.",
        routers=[
            segments.router,
            members.router,
            profiles.router,
            templates.router,
            history.router,
            jobs.router,
        ],
        setup=setup,
    )
