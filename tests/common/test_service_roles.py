"""An API-only replica (``<SERVICE>_ROLE=api``) runs no consumers, relays or
background loops: segment's sweeper and profile's refresher used to start in every
role, so an API replica swept and refreshed beside the workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI

from crm_common.service import Runtime, create_service_app
from crm_common.settings import BaseServiceSettings, ServiceSettings

pytestmark = pytest.mark.infra


async def _started_loops(infra, role: str) -> tuple[bool, bool]:  # type: ignore[no-untyped-def]
    ran = asyncio.Event()

    async def loop_forever() -> None:
        ran.set()
        await asyncio.Event().wait()

    tasks: list[asyncio.Task[None]] = []

    @asynccontextmanager
    async def setup(_: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
        tasks.append(asyncio.create_task(loop_forever()))
        runtime.background.append(tasks[0])
        yield

    settings = BaseServiceSettings(kafka=infra.kafka_settings(), postgres=infra.postgres_settings())
    service = ServiceSettings(name="roles", port=0, role=role)  # type: ignore[arg-type]
    app = create_service_app(settings=settings, service=service, title="t", setup=setup)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.2)
        return ran.is_set(), tasks[0].cancelled()


@pytest.mark.parametrize(("role", "runs"), [("api", False), ("worker", True), ("all", True)])
async def test_background_loops_run_only_where_work_is_done(infra, role: str, runs: bool) -> None:  # type: ignore[no-untyped-def]
    ran, cancelled = await _started_loops(infra, role)
    assert (ran, cancelled) == (runs, not runs)
