"""Helpers of the profile integration tests (imported by name: conftest is ambiguous)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from profile_events import NOW
from sqlalchemy import select

from crm_common.db import Database
from crm_profile.handlers.process import apply_events
from crm_profile.tables import identifiers, orders, profiles


def load_run_service() -> Any:
    """tests/support/service_process.py (on sys.path via the root conftest)."""
    import service_process

    return service_process.run_service


async def apply(db: Database, tenant: str, events: Sequence[Any], now: datetime = NOW) -> None:
    """Apply events the way the consumer does, in one transaction."""
    async with db.transaction() as session:
        await apply_events(session, tenant, list(events), now)


async def live_profiles(db: Database, tenant: str) -> list[Any]:
    p = profiles
    async with db.transaction() as session:
        rows = await session.execute(
            select(p)
            .where(p.c.tenant_id == tenant, p.c.merged_into.is_(None))
            .order_by(p.c.profile_id)
        )
        return list(rows)


async def identifiers_by_profile(db: Database, tenant: str) -> dict[str, set[tuple[str, str]]]:
    i = identifiers
    out: dict[str, set[tuple[str, str]]] = {}
    async with db.transaction() as session:
        for r in await session.execute(select(i).where(i.c.tenant_id == tenant)):
            out.setdefault(r.profile_id, set()).add((r.kind, r.value))
    return out


async def orders_by_profile(db: Database, tenant: str) -> dict[str | None, set[str]]:
    o = orders
    out: dict[str | None, set[str]] = {}
    async with db.transaction() as session:
        for r in await session.execute(select(o).where(o.c.tenant_id == tenant)):
            out.setdefault(r.profile_id, set()).add(r.order_id)
    return out


async def until(predicate: Any, timeout: float = 150.0, every: float = 0.1) -> Any:
    """Poll an async predicate until it returns something truthy (with a deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(every)


async def produce(producer: Any, topic: str, events: Sequence[Any]) -> None:
    from crm_common.events import encode_event

    await producer.send_many(
        (producer.topic(topic), e.partition_key(), encode_event(e), None) for e in events
    )


async def make_tenant(db: Database, tenant: str) -> str:
    """A tenant row in the local tenants table; returns its API key."""
    from crm_common.events import TenantConfig
    from crm_common.tenancy import apply_tenant_config, hash_api_key, new_api_key
    from crm_profile.tables import tenants

    key = new_api_key()
    config = TenantConfig(
        tenant_id=tenant, name=tenant, api_key_hashes=[hash_api_key(key)], version=1
    )
    async with db.transaction() as session:
        await apply_tenant_config(session, tenants, config)
    return key


class TopicReader:
    """Reads a topic from the beginning (no group), keeping what matches a tenant."""

    def __init__(self, infra: Any, topic: str, tenant: str) -> None:
        from aiokafka import AIOKafkaConsumer

        self.tenant = tenant
        self.records: list[tuple[str, dict[str, Any]]] = []
        self._consumer = AIOKafkaConsumer(
            infra.topic(topic),
            bootstrap_servers=infra.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[tuple[str, dict[str, Any]]]:
        import orjson

        batches = await self._consumer.getmany(timeout_ms=200)
        for records in batches.values():
            for r in records:
                body = orjson.loads(r.value)
                if body.get("tenant_id") == self.tenant:
                    self.records.append((r.key.decode() if r.key else "", body))
        return self.records
