"""Fixtures of the dashboard tests: the app in-process (its lifespan, the run's Postgres
and Kafka) with the other services faked; helpers live in dashboard_it.py."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_it import PASSWORD, Console, FakeServices, add_tenant, dashboard_settings

from crm_dashboard.app import create_app
from crm_dashboard.clients import Backends
from crm_dashboard.context import DashboardContext
from crm_dashboard.handlers.users import create_user


@pytest.fixture(scope="module")
async def console(infra: Any) -> AsyncIterator[Console]:
    app = create_app(dashboard_settings(infra))
    async with app.router.lifespan_context(app):
        ctx: DashboardContext = app.state.runtime.extras["dashboard"]
        fake = FakeServices()
        await ctx.backends.close()
        ctx.backends = Backends(ctx.settings, transport=httpx.MockTransport(fake.handle))
        tokyo, london = f"tky-{uuid.uuid4().hex[:8]}", f"ldn-{uuid.uuid4().hex[:8]}"
        await add_tenant(ctx, tokyo, "Asia/Tokyo")
        await add_tenant(ctx, london, "Europe/London")
        async with ctx.db.transaction() as session:
            for role in ("admin", "marketer", "viewer"):
                await create_user(session, tokyo, f"{role}@shop.test", role, PASSWORD)
            await create_user(session, london, "admin@shop.test", "admin", PASSWORD)
        yield Console(app, ctx, fake, tokyo, london)
