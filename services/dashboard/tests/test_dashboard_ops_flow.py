"""The operations view against real processes and the real Kafka: ingest runs as a
process; profile, segment, messaging and the dashboard are down (nothing listens).
Dead letters are scoped (issue 12, item 2): a tenant's viewer and admin see and replay
only their tenant's letters, an installation operator every tenant's."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from service_process import ServiceProcess, free_port, run_service

from crm_dashboard.ops import (
    MetricsSampler,
    OperationsSnapshot,
    OpsScope,
    OpsSettings,
    dead_letters,
    exporter,
    operations_snapshot,
    replay_dead_letters,
)
from crm_dashboard.ops.models import DeadLetters

pytestmark = pytest.mark.infra

TOKEN = "ops-test-admin-token"
OPERATOR = OpsScope(None, "admin", "usr_operator")
CUSTOMER = (
    Path(__file__).resolve().parents[3] / "tests/fixtures/shopify/customer.json"
).read_bytes()
T = TypeVar("T")


@pytest.fixture(scope="module")
def ingest(infra: Any) -> Iterator[ServiceProcess]:
    with run_service("ingest", infra, {"INGEST_ADMIN_TOKEN": TOKEN}) as svc:
        yield svc


@pytest.fixture
def settings(infra: Any, ingest: ServiceProcess) -> OpsSettings:
    nowhere = f"http://127.0.0.1:{free_port()}"
    return OpsSettings(
        ingest_url=ingest.url,
        profile_url=nowhere,
        segment_url=nowhere,
        messaging_url=nowhere,
        dashboard_url=nowhere,
        kafka=infra.kafka_settings(),
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def _until(
    probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 60
) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = await probe()
    while not ok(value):
        if loop.time() > deadline:
            raise AssertionError(f"condition not met; last: {value!r}")
        await asyncio.sleep(0.2)
        value = await probe()
    return value


async def _produce_garbage(infra: Any, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(count):
            await producer.send_and_wait(
                infra.topic("crm.raw.v1"), f"not a raw record {i}".encode()
            )
    finally:
        await producer.stop()


def _tenant(url: str) -> dict[str, str]:
    shop, secret = f"ops-{uuid.uuid4().hex[:8]}.myshopify.com", uuid.uuid4().hex
    body = {"name": "Ops shop", "shop_domains": [shop], "webhook_secrets": [secret]}
    answer = httpx.post(
        f"{url}/admin/tenants", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 201, answer.text
    return {"shop": shop, "secret": secret}


def _webhook(url: str, tenant: dict[str, str], secret: str | None = None) -> int:
    signature = hmac.new((secret or tenant["secret"]).encode(), CUSTOMER, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(signature).decode(),
        "X-Shopify-Shop-Domain": tenant["shop"],
        "X-Shopify-Topic": "customers/create",
        "X-Shopify-Webhook-Id": uuid.uuid4().hex,
    }
    return httpx.post(f"{url}/webhooks/shopify", content=CUSTOMER, headers=headers).status_code


def _lag(snap: OperationsSnapshot) -> int | None:
    rows = [
        r for r in snap.consumer_lag if r.name == "ingest-normalizer" and r.topic == "crm.raw.v1"
    ]
    return rows[0].lag if rows else None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_rates_are_computed_across_two_samples_and_down_services_show_down(
    ingest: ServiceProcess, settings: OpsSettings, http: httpx.AsyncClient
) -> None:
    tenant = _tenant(ingest.url)
    clock = Clock()
    sampler = MetricsSampler(clock=clock)
    first = await operations_snapshot(http, settings, OPERATOR, sampler=sampler)
    assert {s.name: s.status for s in first.services} == {
        "ingest": "up",
        "profile": "down",
        "segment": "down",
        "messaging": "down",
        "dashboard": "down",
    }
    accepted = {s.stage: s for s in first.stages}["webhooks_accepted"]
    assert accepted.per_second is None and accepted.total is not None
    rejected = {r.reason: r.total for r in first.webhook_rejections}.get("bad_signature", 0.0)

    assert [_webhook(ingest.url, tenant) for _ in range(5)] == [200] * 5
    assert [_webhook(ingest.url, tenant, secret="wrong") for _ in range(2)] == [401] * 2
    clock.now += 10.0
    second = await operations_snapshot(http, settings, OPERATOR, sampler=sampler)

    stages = {s.stage: s for s in second.stages}
    assert (stages["webhooks_accepted"].total, stages["webhooks_accepted"].per_second) == (
        accepted.total + 5,
        0.5,
    )
    assert stages["events_applied"].total is None and stages["events_applied"].per_second is None
    by_reason = {r.reason: r for r in second.webhook_rejections}
    assert (by_reason["bad_signature"].total, by_reason["bad_signature"].per_second) == (
        rejected + 2,
        0.2,
    )
    assert second.provider_errors == []  # messaging is down


async def test_dead_letter_count_equals_the_bad_records_and_replay_sends_them_back(
    infra: Any, settings: OpsSettings, http: httpx.AsyncClient
) -> None:
    first = await operations_snapshot(http, settings, OPERATOR, sampler=MetricsSampler())
    before = first.dead_letters
    base = before.count
    assert base is not None and before.error is None

    started = datetime.now(UTC)
    await _produce_garbage(infra, 3)
    snap = await _until(
        lambda: operations_snapshot(http, settings, OPERATOR, sampler=MetricsSampler()),
        lambda s: s.dead_letters.count == base + 3,
    )
    newest = snap.dead_letters.recent[:3]
    assert [(x.consumer, x.topic, x.replayed) for x in newest] == [
        ("ingest-normalizer", infra.topic("crm.raw.v1"), False)
    ] * 3

    # Only this test's letters: others of the run may be on the topic too.
    result = await replay_dead_letters(
        http, settings, OPERATOR, ["ingest-normalizer"], since=started
    )
    assert (result.replayed, result.error) == (3, None)
    # Still not raw records: each comes back as a new letter (replayable later).
    await _until(
        lambda: operations_snapshot(http, settings, OPERATOR, sampler=MetricsSampler()),
        lambda s: s.dead_letters.count == base + 6,
    )
    # Filtered by consumer:
    other = await replay_dead_letters(http, settings, OPERATOR, ["someone-else"])
    assert (other.replayed, other.error) == (0, None)


async def test_lag_grows_while_the_consumer_is_stopped_and_drains_after(
    infra: Any, ingest: ServiceProcess, settings: OpsSettings, http: httpx.AsyncClient
) -> None:
    await _produce_garbage(infra, 1)  # the normalizer group commits on this run's raw topic

    def snapshot() -> Awaitable[OperationsSnapshot]:
        return operations_snapshot(http, settings, OPERATOR, sampler=MetricsSampler())

    await _until(snapshot, lambda s: _lag(s) == 0)

    ingest.stop()
    try:
        await _produce_garbage(infra, 4)
        down = await _until(snapshot, lambda s: _lag(s) == 4)
        assert {s.name: s.status for s in down.services}["ingest"] == "down"
        assert down.dead_letters.count is None and down.dead_letters.error
        assert {s.stage: s.total for s in down.stages}["webhooks_accepted"] is None

        await exporter.refresh(http, settings)
        gauges = {
            (k.labels["group"], k.labels["topic"]): k.value
            for family in exporter.CONSUMER_LAG.collect()
            for k in family.samples
        }
        assert gauges[("ingest-normalizer", "crm.raw.v1")] == 4
        up = {
            s.labels["service"]: s.value
            for family in exporter.SERVICE_UP.collect()
            for s in family.samples
        }
        assert up["ingest"] == 0
    finally:
        ingest.start()
    drained = await _until(snapshot, lambda s: _lag(s) == 0)
    assert {s.name: s.status for s in drained.services}["ingest"] == "up"


async def _produce_for(infra: Any, tenant: str, count: int) -> None:
    """Raw records of ``tenant`` the normalizer cannot read (an unknown version)."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(count):
            value = orjson.dumps({"v": 99, "tenant_id": tenant, "body": f"taro{i}@example.jp"})
            await producer.send_and_wait(
                infra.topic("crm.raw.v1"), value, key=f"{tenant}:taro{i}@example.jp".encode()
            )
    finally:
        await producer.stop()


async def test_a_tenant_sees_and_replays_its_own_letters_and_an_operator_all(
    infra: Any, ingest: ServiceProcess, settings: OpsSettings, http: httpx.AsyncClient
) -> None:
    run = uuid.uuid4().hex[:6]
    a, b = f"shop-a-{run}", f"shop-b-{run}"
    started = datetime.now(UTC)
    await _produce_for(infra, a, 2)
    await _produce_for(infra, b, 1)

    def ours(letters: DeadLetters) -> list[tuple[str | None, bool]]:
        return sorted((x.tenant_id, x.replayed) for x in letters.recent if x.tenant_id in (a, b))

    everything = await _until(
        lambda: dead_letters(http, settings, OPERATOR, limit=1000),
        lambda d: len(ours(d)) == 3,
    )
    assert ours(everything) == [(a, False), (a, False), (b, False)]
    for letter in everything.recent:  # the letters' reasons carry no email
        assert "@example.jp" not in letter.error

    a_viewer, a_admin = OpsScope(a, "viewer", "usr_av"), OpsScope(a, "admin", "usr_aa")
    seen_by_a = await dead_letters(http, settings, a_viewer, limit=1000)
    assert seen_by_a.count == 2 and ours(seen_by_a) == [(a, False), (a, False)]
    assert {x.tenant_id for x in seen_by_a.recent} == {a}  # nobody else's, not even unnamed

    refused = await replay_dead_letters(http, settings, a_viewer, since=started)
    assert refused.replayed is None and refused.error and "403" in refused.error
    nosy = await http.get(
        f"{settings.url('ingest')}/admin/dlq",
        params={"tenant_id": b},
        headers=settings.dlq_headers(a_admin),
    )
    assert nosy.status_code == 403

    replayed = await replay_dead_letters(http, settings, a_admin, since=started)
    assert (replayed.replayed, replayed.error) == (2, None)
    after = await _until(
        lambda: dead_letters(http, settings, OPERATOR, limit=1000),
        lambda d: len(ours(d)) == 5,  # A's two replayed records failed again
    )
    assert ours(after) == [(a, False), (a, False), (a, True), (a, True), (b, False)]
    by_b = await replay_dead_letters(http, settings, OpsScope(b, "admin"), since=started)
    assert (by_b.replayed, by_b.error) == (1, None)
