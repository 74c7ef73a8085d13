"""The operations view's data layer without processes: parsing, rates, down services."""

from __future__ import annotations

import asyncio
import importlib
import math
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from crm_common.internal_auth import Grant, verify
from crm_common.settings import KafkaSettings
from crm_dashboard.ops import MetricsSampler, OpsScope, OpsSettings, exporter, operations_snapshot
from crm_dashboard.ops.models import ConsumerLag, DeadLetters, PartitionLag, ServiceHealth
from crm_dashboard.ops.snapshot import pipeline_states
from crm_dashboard.ops.stages import METRIC_NAMES, STAGES

INGEST_T0 = """
# TYPE crm_ingest_accepted_total counter
crm_ingest_accepted_total{channel="webhook",topic="orders/create"} 10
crm_ingest_accepted_total{channel="webhook",topic="customers/create"} 5
crm_ingest_accepted_total{channel="api",topic="order.placed"} 100
# TYPE crm_ingest_rejected_total counter
crm_ingest_rejected_total{channel="webhook",reason="bad_signature"} 2
crm_ingest_rejected_total{channel="api",reason="bad_json"} 7
"""
INGEST_T1 = """
# TYPE crm_ingest_accepted_total counter
crm_ingest_accepted_total{channel="webhook",topic="orders/create"} 30
crm_ingest_accepted_total{channel="webhook",topic="customers/create"} 5
crm_ingest_accepted_total{channel="api",topic="order.placed"} 400
# TYPE crm_ingest_rejected_total counter
crm_ingest_rejected_total{channel="webhook",reason="bad_signature"} 6
crm_ingest_rejected_total{channel="webhook",reason="unknown_shop"} 1
crm_ingest_rejected_total{channel="api",reason="bad_json"} 7
"""
MESSAGING = """
# TYPE crm_messaging_messages_total counter
crm_messaging_messages_total{channel="email",state="sent",reason=""} 8
crm_messaging_messages_total{channel="sms",state="sent",reason=""} 4
crm_messaging_messages_total{channel="email",state="failed",reason="provider"} 3
# TYPE crm_messaging_provider_errors_total counter
crm_messaging_provider_errors_total{provider="smtp",status="421"} 2
crm_messaging_provider_errors_total{provider="line",status="timeout"} 1
"""


class Clock:
    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def test_first_sample_has_totals_and_no_rate_second_has_the_rate() -> None:
    sampler = MetricsSampler(clock=Clock(100.0, 104.0))
    webhooks = STAGES[0]
    first = sampler.observe("ingest", INGEST_T0)
    assert webhooks.total(first.current) == 15.0
    assert first.rate(webhooks.total) is None
    second = sampler.observe("ingest", INGEST_T1)
    assert webhooks.total(second.current) == 35.0
    assert second.rate(webhooks.total) == 5.0  # (35 - 15) / 4 s


def test_a_counter_that_went_down_counts_from_zero() -> None:
    sampler = MetricsSampler(clock=Clock(0.0, 10.0))
    sampler.observe("ingest", INGEST_T1)
    restarted = sampler.observe("ingest", INGEST_T0)  # the process restarted meanwhile
    assert restarted.rate(STAGES[0].total) == 1.5  # 15 new since the restart / 10 s


def test_rates_are_measured_against_a_sample_at_least_min_interval_old() -> None:
    sampler = MetricsSampler(min_interval=1.0, clock=Clock(0.0, 2.0, 2.1))
    sampler.observe("ingest", INGEST_T0)
    sampler.observe("ingest", INGEST_T1)
    third = sampler.observe("ingest", INGEST_T1)
    assert third.previous is not None and third.previous.at == 0.0
    assert third.rate(STAGES[0].total) == pytest.approx(20 / 2.1)


KEY = "ingest-key-" + "k" * 32
OPERATOR = OpsScope(None, "admin", "usr_op")
LETTER = {
    "dlq_partition": 0,
    "dlq_offset": 7,
    "consumer": "profile",
    "topic": "crm.events.v1",
    "partition": 2,
    "offset": 41,
    "error": "ValueError: bad",
    "attempts": 3,
    "failed_at": "2026-12-01T00:00:00+00:00",
    "replayed": False,
}


def _transport(
    texts: dict[str, list[str]], tokens: list[Grant], seen: list[str]
) -> httpx.MockTransport:
    """ingest (port 8001) and messaging (8004) answer; every other service is down."""

    def handle(request: httpx.Request) -> httpx.Response:
        service = {8001: "ingest", 8004: "messaging"}.get(request.url.port or 0)
        if service is None:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/metrics":
            if request.headers.get("authorization") != "Bearer metrics-token":
                return httpx.Response(401, json={"error": {"code": "unauthorized"}})
            seen.append(service)
            return httpx.Response(200, text=texts[service].pop(0))
        if request.url.path == "/readyz":
            return httpx.Response(200, json={"status": "ready", "checks": {"postgres": "ok"}})
        if request.url.path == "/admin/dlq":
            token = request.headers["authorization"].removeprefix("Bearer ")
            grant = verify(token, KEY, audience="ingest")
            tokens.append(grant)
            letters = [LETTER | {"tenant_id": grant.tenant_id or "any"}]
            return httpx.Response(200, json={"count": 1, "letters": letters})
        return httpx.Response(200, json={"status": "ok"})

    return httpx.MockTransport(handle)


@pytest.fixture
def settings() -> OpsSettings:
    # Nothing listens on port 1: consumer lag reports an error instead of raising.
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    return OpsSettings(
        ingest_key=KEY, metrics_token="metrics-token", kafka=kafka, kafka_timeout_seconds=2
    )


async def test_snapshot_of_a_partly_down_system(settings: OpsSettings) -> None:
    texts = {"ingest": [INGEST_T0, INGEST_T1], "messaging": [MESSAGING, MESSAGING]}
    sampler = MetricsSampler(clock=Clock(0.0, 0.0, 4.0, 4.0))  # ingest, messaging
    tokens: list[Grant] = []
    async with httpx.AsyncClient(transport=_transport(texts, tokens, [])) as http:
        await operations_snapshot(http, settings, OPERATOR, sampler=sampler)
        snap = await operations_snapshot(http, settings, OPERATOR, sampler=sampler)
    assert {s.name: s.status for s in snap.services} == {
        "ingest": "up",
        "profile": "down",
        "segment": "down",
        "messaging": "up",
        "dashboard": "down",
    }
    rates = {s.stage: (s.total, s.per_second) for s in snap.stages}
    assert rates == {
        "webhooks_accepted": (35.0, 5.0),
        "events_normalized": (0.0, 0.0),
        "events_applied": (None, None),
        "segment_evaluations": (None, None),
        "messages_sent": (12.0, 0.0),
    }
    assert [(r.reason, r.total, r.per_second) for r in snap.webhook_rejections] == [
        ("bad_signature", 6.0, 1.0),
        ("unknown_shop", 1.0, 0.25),
    ]
    assert [(e.channel, e.provider, e.status, e.total) for e in snap.provider_errors] == [
        ("line", "line", "timeout", 1.0),
        ("email", "smtp", "421", 2.0),
    ]
    assert snap.scope == "installation" and snap.dead_letters.count == 1
    assert [(g.tenant_id, g.operator, g.role, g.subject) for g in tokens] == [
        (None, True, "admin", "usr_op")
    ] * 2
    assert snap.consumer_lag == [] and snap.consumer_lag_error
    assert snap.model_dump(mode="json")["services"][1]["status"] == "down"


async def test_a_tenants_snapshot_holds_its_letters_and_no_installation_numbers(
    settings: OpsSettings,
) -> None:
    texts = {"ingest": [INGEST_T0], "messaging": [MESSAGING]}
    tokens: list[Grant] = []
    scraped: list[str] = []
    async with httpx.AsyncClient(transport=_transport(texts, tokens, scraped)) as http:
        snap = await operations_snapshot(http, settings, OpsScope("shop-a", "viewer", "usr_v"))
    (grant,) = tokens
    assert (grant.tenant_id, grant.operator, grant.role) == ("shop-a", False, "viewer")
    assert [x.tenant_id for x in snap.dead_letters.recent] == ["shop-a"]
    assert snap.scope == "tenant" and scraped == []  # no service's counters were read
    assert (snap.stages, snap.consumer_lag, snap.webhook_rejections, snap.provider_errors) == (
        [],
        [],
        [],
        [],
    )
    assert snap.consumer_lag_error == "not measured"  # not the broker's address
    assert {s.name: s.url for s in snap.services}["ingest"] == ""


def test_a_tenant_sees_whether_a_group_keeps_up_not_its_lag() -> None:
    rows = [
        ConsumerLag(group=f"t.{n}", name=n, topic=t, lag=lag, partitions=[])
        for n, t, lag in (("profile", "crm.events.v1", 999), ("segment", "crm.profiles.v1", 1000))
    ]
    states = pipeline_states(rows, 1000)
    assert [(p.name, p.state) for p in states] == [("profile", "ok"), ("segment", "behind")]
    assert "lag" not in states[0].model_dump()


def _exported_sample_names(modules: tuple[str, ...]) -> set[str]:
    for module in modules:
        importlib.import_module(module)
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def test_every_metric_the_view_reads_is_exported_by_a_service() -> None:
    modules = tuple(f"crm_{s}.metrics" for s in ("ingest", "profile", "segment", "messaging"))
    assert _exported_sample_names(modules) >= METRIC_NAMES


@pytest.fixture
def clean_gauges() -> Iterator[None]:
    yield
    exporter.CONSUMER_LAG.clear()


def _gauges() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        if f.name.startswith("crm_ops_")
        for s in f.samples
    }


def test_exporter_sets_lag_dead_letters_and_readiness(clean_gauges: None) -> None:
    health = [
        ServiceHealth(name="ingest", url="u", status="up", latency_ms=1.0, checks={}),
        ServiceHealth(name="profile", url="u", status="down", latency_ms=None, checks={}),
    ]
    part = PartitionLag(partition=0, committed=3, end=10, lag=7)
    lag = [
        ConsumerLag(
            group="t1.profile", name="profile", topic="crm.events.v1", lag=7, partitions=[part]
        )
    ]
    exporter.apply(health, DeadLetters(count=4, recent=[]), lag)
    gauges = _gauges()
    assert (
        gauges[
            (
                "crm_ops_consumer_lag_records",
                frozenset({("group", "profile"), ("topic", "crm.events.v1")}),
            )
        ]
        == 7
    )
    assert gauges[("crm_ops_dead_letters", frozenset())] == 4
    assert gauges[("crm_ops_service_up", frozenset({("service", "ingest")}))] == 1
    assert gauges[("crm_ops_service_up", frozenset({("service", "profile")}))] == 0
    exporter.apply(health, DeadLetters(count=None, recent=[], error="down"), [])
    assert not [k for k in _gauges() if k[0] == "crm_ops_consumer_lag_records"]


def _samples(metric: MetricWrapperBase) -> list[Sample]:
    return [s for family in metric.collect() for s in family.samples]


async def test_the_exporter_task_refreshes_until_cancelled(clean_gauges: None) -> None:
    nowhere = "http://127.0.0.1:1"
    settings = OpsSettings(
        ingest_url=nowhere,
        profile_url=nowhere,
        segment_url=nowhere,
        messaging_url=nowhere,
        dashboard_url=nowhere,
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        kafka_timeout_seconds=0.5,
        exporter_interval_seconds=0.1,
    )
    before = _samples(exporter.REFRESHED)[0].value
    task = exporter.start_exporter(settings)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while _samples(exporter.REFRESHED)[0].value == before:
        assert loop.time() < deadline and not task.done()
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    up = {s.labels["service"]: s.value for s in _samples(exporter.SERVICE_UP)}
    assert up == {"ingest": 0, "profile": 0, "segment": 0, "messaging": 0, "dashboard": 0}
    assert math.isnan(_samples(exporter.DEAD_LETTERS)[0].value)
