"""SIGKILL right after the last 200: every acknowledged webhook is normalized exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from ingest_it import create_tenant, events_of, fixture_bytes, placed_id, unique, webhook_headers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.infra

N = 400


def _bodies() -> list[bytes]:
    template = orjson.loads(fixture_bytes("order.json"))
    bodies = []
    for i in range(N):
        template["id"] = 9_000_000 + i
        template["customer"]["id"] = 5_000_000 + i % 97
        bodies.append(orjson.dumps(template))
    return bodies


async def _send_all(url: str, tenant: dict[str, Any], webhook_ids: list[str]) -> list[int]:
    bodies = _bodies()
    semaphore = asyncio.Semaphore(16)

    async def send(client: httpx.AsyncClient, i: int) -> int:
        headers = webhook_headers(
            bodies[i],
            shop=tenant["shop"],
            secret=tenant["secret"],
            topic="orders/create",
            webhook_id=webhook_ids[i],
        )
        async with semaphore:
            response = await client.post(
                f"{url}/webhooks/shopify", content=bodies[i], headers=headers
            )
        return response.status_code

    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*(send(client, i) for i in range(N)))


async def _outbox_counts(infra: Any, event_ids: list[str]) -> dict[str, int]:
    engine = create_async_engine(infra.pg_url())
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT event_id, count(*) FROM ingest.outbox "
                    "WHERE event_id = ANY(:ids) GROUP BY event_id"
                ),
                {"ids": event_ids},
            )
            return {r[0]: r[1] for r in rows}
    finally:
        await engine.dispose()


async def test_sigkill_after_answering_loses_nothing_and_doubles_nothing(ingest, infra) -> None:
    tenant = create_tenant(ingest.url)
    webhook_ids = [unique("wh-crash") for _ in range(N)]

    statuses = await _send_all(ingest.url, tenant, webhook_ids)
    ingest.kill()  # SIGKILL right after the last 200

    assert statuses == [200] * N
    ingest.start()
    expected = {placed_id(tenant["tenant_id"], str(9_000_000 + i)) for i in range(N)}

    def complete(events: list[Any]) -> bool:
        return expected <= {e.event_id for e in events}

    events = await events_of(infra, tenant["tenant_id"], complete, timeout=120)
    orders = [e for e in events if e.type == "order.placed"]
    assert {e.event_id for e in orders} == expected
    assert sorted({e.data.order_id for e in orders}) == sorted(str(9_000_000 + i) for i in range(N))
    # Normalized exactly once: one outbox row per canonical event (the relay may still
    # re-publish a row after a crash; consumers drop those by event id).
    counts = await _outbox_counts(infra, sorted(expected))
    assert counts == dict.fromkeys(expected, 1)
