"""accepted_events (one fact, one event) is kept for a horizon, then pruned by the same
hourly mechanism that prunes processed_events (crm_common.service)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from ingest_it import ADMIN_TOKEN, run_service, unique
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.infra


async def _sql(infra: Any, statement: str, **params: Any) -> list[Any]:
    engine = create_async_engine(infra.pg_url())
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def _accepted(infra: Any, tenant_id: str) -> set[str]:
    rows = await _sql(
        infra, "SELECT event_id FROM ingest.accepted_events WHERE tenant_id = :t", t=tenant_id
    )
    return {row.event_id for row in rows}


async def test_accepted_facts_are_pruned_after_the_retention_horizon(infra) -> None:
    tenant_id = unique("t-retention")
    for event_id, age_days in (("told-31-days-ago", 31), ("told-29-days-ago", 29), ("now", 0)):
        await _sql(
            infra,
            "INSERT INTO ingest.accepted_events (tenant_id, event_id, accepted_at) "
            "VALUES (:t, :e, now() - make_interval(days => :d))",
            t=tenant_id,
            e=event_id,
            d=age_days,
        )
    env = {"INGEST_ADMIN_TOKEN": ADMIN_TOKEN, "INGEST_ACCEPTED_RETENTION_DAYS": "30"}

    with run_service("ingest", infra, env):  # prunes at start, then hourly
        deadline = time.monotonic() + 30
        while "told-31-days-ago" in await _accepted(infra, tenant_id):
            assert time.monotonic() < deadline, "accepted_events not pruned"
            await asyncio.sleep(0.2)

    assert await _accepted(infra, tenant_id) == {"told-29-days-ago", "now"}
