"""Helpers of the messaging integration tests (a uniquely named module: several
test folders put their own folder on sys.path, so ``conftest`` is ambiguous)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from sqlalchemy import select

from crm_common.db import Database
from crm_common.events import (
    ProfileChanged,
    ProfileSnapshot,
    TenantConfig,
    TenantConfigured,
    decode_event,
    encode_event,
)
from crm_common.kafka import Producer
from crm_common.tenancy import hash_api_key, new_api_key
from crm_messaging.clock import FakeClock
from crm_messaging.tables import recipients, tenants

TOKYO = ZoneInfo("Asia/Tokyo")
START = datetime(2026, 1, 15, 12, 0, tzinfo=TOKYO)
PUBLIC_URL = "http://testserver"
SMS_ACCOUNT = {"account_sid": "AC123", "auth_token": "secret-token", "from_number": "+815011112222"}


def load_run_service() -> Any:
    """tests/support/service_process.py (on sys.path via the root conftest)."""
    import service_process

    return service_process.run_service


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    """Poll ``predicate`` until it holds or the deadline passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.05)


def person_traits(n: int, **changes: Any) -> dict[str, Any]:
    traits: dict[str, Any] = {
        "first_name": "花子",
        "last_name": "山田",
        "email": f"hanako{n}@example.jp",
        "phone": f"+8190{n:08d}",
        "address_postal_code": "100-0001",
        "address_prefecture": "東京都",
        "address_city": "千代田区",
        "address_address1": "千代田1-1",
        "address_country_code": "JP",
        "properties": {"line_user_id": "U" + f"{n:032x}"},
        "orders_count": 3,
        "consent_email": "subscribed",
        "consent_sms": "subscribed",
        "consent_line": "subscribed",
        "consent_postal_dm": "subscribed",
        "consent_call": "subscribed",
    }
    traits.update(changes)
    return traits


@dataclass
class Tenant:
    tenant_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


class Harness:
    def __init__(self, infra: Any, app: Any, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.infra = infra
        self.app = app
        self.client = client
        self.clock = clock
        self.db = Database(infra.pg_url(), pool_size=2)
        self.producer = Producer(infra.kafka_settings())

    @property
    def dispatcher(self) -> Any:
        return self.app.state.messaging.dispatcher

    async def dispatch(self, rounds: int = 1) -> None:
        """Real dispatcher rounds at the fake clock's time, until nothing is due."""
        for _ in range(rounds):
            while await self.dispatcher.run_once():
                pass

    async def tenant(self, **settings: Any) -> Tenant:
        tenant = Tenant(f"t-{uuid.uuid4().hex[:8]}", new_api_key())
        config = TenantConfig(
            tenant_id=tenant.tenant_id,
            name="Test shop",
            api_key_hashes=[hash_api_key(tenant.api_key)],
            version=1,
        )
        now = datetime.now(UTC)
        event = TenantConfigured(
            event_id=f"tenant-{tenant.tenant_id}",
            tenant_id=tenant.tenant_id,
            source="test",
            occurred_at=now,
            received_at=now,
            data=config,
        )
        await self.producer.send_event("crm.tenants.v1", event)

        async def known() -> bool:
            async with self.db.transaction() as s:
                return bool(
                    await s.scalar(
                        select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant.tenant_id)
                    )
                )

        await until(known)
        if settings:
            response = await self.client.put("/v1/settings", json=settings, headers=tenant.headers)
            assert response.status_code == 200, response.text
        return tenant

    async def profiles(
        self, tenant: Tenant, people: dict[str, dict[str, Any]], version: int = 1
    ) -> None:
        now = datetime.now(UTC)
        topic = self.producer.topic("crm.profiles.v1")
        records = []
        for profile_id, traits in people.items():
            event = ProfileChanged(
                event_id=f"pc-{tenant.tenant_id}-{profile_id}-{version}",
                tenant_id=tenant.tenant_id,
                source="profile",
                occurred_at=now,
                received_at=now,
                data=ProfileSnapshot(profile_id=profile_id, version=version, traits=traits),
            )
            key = f"{tenant.tenant_id}:{profile_id}"
            records.append((topic, key, encode_event(event), None))
        await self.producer.send_many(records)
        wanted = set(people)

        async def arrived() -> bool:
            r = recipients
            async with self.db.transaction() as s:
                rows = await s.execute(
                    select(r.c.profile_id).where(
                        r.c.tenant_id == tenant.tenant_id,
                        r.c.profile_id.in_(wanted),
                        r.c.version >= version,
                    )
                )
                return {p for (p,) in rows} == wanted

        await until(arrived)

    async def enqueue(self, tenant: Tenant, **body: Any) -> dict[str, Any]:
        body.setdefault("source_kind", "campaign")
        body.setdefault("purpose", "marketing")
        response = await self.client.post("/v1/messages", json=body, headers=tenant.headers)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    async def message(self, tenant: Tenant, message_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/messages/{message_id}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def events(
        self, tenant_id: str, predicate: Callable[[list[Any]], bool], timeout: float = 60.0
    ) -> list[Any]:
        """This tenant's events on crm.events.v1 (from the start) once ``predicate`` holds."""
        consumer = AIOKafkaConsumer(
            self.infra.topic("crm.events.v1"),
            bootstrap_servers=self.infra.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        found: list[Any] = []
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not predicate(found):
                if loop.time() > deadline:
                    raise AssertionError(f"events not seen: {[e.type for e in found]}")
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        if orjson.loads(record.value).get("tenant_id") == tenant_id:
                            found.append(decode_event(record.value))
            return found
        finally:
            await consumer.stop()
