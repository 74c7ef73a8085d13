"""Helpers of the segment integration tests (imported by name: conftest is ambiguous)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from crm_common.events import TenantConfig, TenantConfigured, decode_event, encode_event
from crm_common.events.downstream import (
    ProfileActivity,
    ProfileActivityData,
    ProfileChanged,
    ProfileMerged,
    ProfileMergedData,
    ProfileSnapshot,
)
from crm_common.kafka import Producer
from crm_common.tenancy import hash_api_key


def load_services() -> Any:
    """tests/support/service_process.py (on sys.path via the root conftest)."""
    import service_process

    return service_process


async def until(
    check: Callable[[], Awaitable[Any]], timeout: float = 60.0, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {value!r})")
        await asyncio.sleep(0.2)


def days_ago(now: datetime, days: float) -> str:
    return (now - timedelta(days=days)).isoformat()


class TopicLog:
    """Every record of crm.segments.v1 of this run, decoded, collected in the background."""

    def __init__(self, infra: Any) -> None:
        self.infra = infra
        self.events: list[Any] = []
        self.keys: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            self.infra.topic("crm.segments.v1"),
            bootstrap_servers=self.infra.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        self._task = asyncio.create_task(self._collect(consumer))

    async def _collect(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        self.keys.append(record.key.decode())
                        self.events.append(decode_event(record.value))
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def of(self, tenant_id: str, type_: str | None = None) -> list[Any]:
        return [
            e
            for e in self.events
            if e.tenant_id == tenant_id and (type_ is None or e.type == type_)
        ]

    def pairs(self, tenant_id: str, type_: str) -> list[tuple[str, str]]:
        return [(e.data.segment_id, e.data.profile_id) for e in self.of(tenant_id, type_)]


def profile_key(event: Any) -> str:
    data = event.data
    profile_id = getattr(data, "profile_id", None) or data.survivor_id
    return f"{event.tenant_id}:{profile_id}"


class Shop:
    """One tenant: publishes profile records and calls the API with its key."""

    def __init__(self, tenant_id: str, api_key: str, url: str, producer: Producer) -> None:
        self.tenant_id = tenant_id
        self.producer = producer
        self.http = httpx.AsyncClient(
            base_url=url, headers={"authorization": f"Bearer {api_key}"}, timeout=120
        )
        self.versions: dict[str, int] = {}

    def changed(self, profile_id: str, traits: dict[str, Any], now: datetime) -> ProfileChanged:
        version = self.versions.get(profile_id, 0) + 1
        self.versions[profile_id] = version
        return ProfileChanged(
            event_id=f"{self.tenant_id}:{profile_id}:v{version}",
            tenant_id=self.tenant_id,
            source="profile",
            occurred_at=now,
            received_at=now,
            data=ProfileSnapshot(profile_id=profile_id, version=version, traits=traits),
        )

    def merged(self, survivor: str, merged: str, now: datetime) -> ProfileMerged:
        return ProfileMerged(
            event_id=f"{self.tenant_id}:merge:{merged}:{survivor}",
            tenant_id=self.tenant_id,
            source="profile",
            occurred_at=now,
            received_at=now,
            data=ProfileMergedData(survivor_id=survivor, merged_id=merged, merged_at=now),
        )

    def activity(
        self, profile_id: str, event_id: str, type_: str, at: datetime, data: dict[str, Any]
    ) -> ProfileActivity:
        return ProfileActivity(
            event_id=f"activity:{event_id}",
            tenant_id=self.tenant_id,
            source="profile",
            occurred_at=at,
            received_at=at,
            data=ProfileActivityData(
                profile_id=profile_id,
                source_event_id=event_id,
                source_type=type_,
                occurred_at=at,
                data=data,
            ),
        )

    async def publish(self, events: list[Any]) -> None:
        topic = self.producer.topic("crm.profiles.v1")
        await self.producer.send_many(
            (topic, profile_key(e), encode_event(e), None) for e in events
        )

    async def finished(self, response: httpx.Response, status: int = 202) -> Any:
        """The segment of an answer that queued a fill job, once the job is done, as
        ``GET /v1/segments/{id}`` shows it then (its ``job`` included)."""
        assert response.status_code == status, response.text[:300]
        body = response.json()
        job = await self.job_done(body["job"]["id"])
        assert job["state"] == "done", job
        return (await self.http.get(f"/v1/segments/{body['id']}")).json()

    async def job_done(self, job_id: str, timeout: float = 120.0) -> Any:
        """The job once it has ended (done, failed or cancelled)."""

        async def ended() -> Any:
            job = (await self.http.get(f"/v1/segment-jobs/{job_id}")).json()
            return job if job["state"] not in ("queued", "running") else None

        return await until(ended, timeout=timeout, what=f"job {job_id} ended")

    async def segment_ids(self, profile_id: str) -> list[str]:
        response = await self.http.get(f"/v1/profiles/{profile_id}/segments")
        assert response.status_code == 200, response.text
        return [s["segment_id"] for s in response.json()["segments"]]


async def new_shop(service_url: str, producer: Producer) -> Shop:
    """A fresh tenant configured through crm.tenants.v1, known to the running service."""
    tenant_id = f"shop-{uuid.uuid4().hex[:8]}"
    api_key = f"crm_test_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    config = TenantConfigured(
        event_id=f"tenant:{tenant_id}:1",
        tenant_id=tenant_id,
        source="ingest",
        occurred_at=now,
        received_at=now,
        data=TenantConfig(
            tenant_id=tenant_id, name=tenant_id, api_key_hashes=[hash_api_key(api_key)], version=1
        ),
    )
    await producer.send_event("crm.tenants.v1", config)
    client = Shop(tenant_id, api_key, service_url, producer)

    async def known() -> bool:
        return (await client.http.get("/v1/segments")).status_code == 200

    await until(known, what="tenant known to the service")
    return client
