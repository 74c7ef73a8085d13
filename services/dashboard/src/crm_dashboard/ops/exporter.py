"""Operations gauges on the dashboard's own /metrics, for Prometheus and Grafana.

Consumer lag per group, the dead-letter count and each service's readiness are not
counters any one service owns, so the dashboard measures them (the same code as the
console's Operations page) every ``DASHBOARD_EXPORTER_INTERVAL_SECONDS`` and
exports them. Wire it in the dashboard's ``setup``::

    runtime.background.append(exporter.start_exporter())

Several dashboard replicas export the same values; dashboards use ``max by``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import httpx
from prometheus_client import Gauge

from crm_dashboard.ops.dlq import dead_letters
from crm_dashboard.ops.lag import consumer_lag
from crm_dashboard.ops.models import ConsumerLag, DeadLetters, ServiceHealth
from crm_dashboard.ops.probes import probe_service
from crm_dashboard.ops.scope import EXPORTER
from crm_dashboard.ops.settings import SERVICES, OpsSettings

log = logging.getLogger(__name__)

CONSUMER_LAG = Gauge(
    "crm_ops_consumer_lag_records",
    "Records not yet processed, per consumer group (run prefix stripped) and logical topic",
    ["group", "topic"],
)
DEAD_LETTERS = Gauge("crm_ops_dead_letters", "Letters on crm.dlq.v1, replayed or not")
SERVICE_UP = Gauge(
    "crm_ops_service_up", "1 when /healthz and /readyz of the service answer 200", ["service"]
)
REFRESHED = Gauge("crm_ops_refreshed_timestamp_seconds", "When the ops gauges were last measured")


async def refresh(http: httpx.AsyncClient, settings: OpsSettings) -> None:
    """Measure once and set the gauges (what cannot be measured shows as no data)."""
    health, letters = await asyncio.gather(
        asyncio.gather(*(probe_service(http, settings, name) for name in SERVICES)),
        dead_letters(http, settings, EXPORTER, limit=0),
    )
    try:
        lag: list[ConsumerLag] | None = await asyncio.wait_for(
            consumer_lag(settings.kafka), timeout=settings.kafka_timeout_seconds
        )
    except Exception as exc:
        log.warning("consumer lag not measured", extra={"error": repr(exc)})
        lag = None
    apply(list(health), letters, lag)


def apply(health: list[ServiceHealth], letters: DeadLetters, lag: list[ConsumerLag] | None) -> None:
    """Set the gauges from measured values (synchronous: a scrape never sees half)."""
    for service in health:
        SERVICE_UP.labels(service.name).set(1 if service.status == "up" else 0)
    DEAD_LETTERS.set(math.nan if letters.count is None else letters.count)
    # Groups that went away must not linger, and an unknown lag is no data, not a stale one.
    CONSUMER_LAG.clear()
    for row in lag or []:
        CONSUMER_LAG.labels(row.name, row.topic).set(row.lag)
    REFRESHED.set(time.time())


async def run_forever(settings: OpsSettings | None = None) -> None:
    """Refresh the gauges until cancelled."""
    settings = settings or OpsSettings()
    async with httpx.AsyncClient() as http:
        while True:
            try:
                await refresh(http, settings)
            except Exception as exc:  # measured again next round
                log.warning("ops gauges not refreshed", extra={"error": repr(exc)})
            await asyncio.sleep(settings.exporter_interval_seconds)


def start_exporter(settings: OpsSettings | None = None) -> asyncio.Task[None]:
    """Start :func:`run_forever` as a task (cancel it on shutdown)."""
    return asyncio.create_task(run_forever(settings), name="ops-exporter")
