"""One look at the whole flow: health, rates, lag, dead letters, rejections, provider errors.

Every part is gathered concurrently and independently: a service or Kafka that
does not answer shows up in the snapshot (status ``down``, ``None`` values, an
``error`` string), never as an exception. What is gathered depends on the scope
(:mod:`crm_dashboard.ops.scope`): a tenant's snapshot never holds another tenant's
letters or the installation-wide numbers, so no template can show them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from crm_dashboard.ops.dlq import dead_letters
from crm_dashboard.ops.lag import consumer_lag
from crm_dashboard.ops.models import ConsumerLag, OperationsSnapshot, PipelineState
from crm_dashboard.ops.probes import describe_error, probe_service, scrape_metrics
from crm_dashboard.ops.sampler import MetricsSampler, Observation
from crm_dashboard.ops.scope import OpsScope
from crm_dashboard.ops.settings import SERVICES, OpsSettings
from crm_dashboard.ops.stages import STAGES, provider_errors, stage_rates, webhook_rejections

# The process-wide sampler: rates are measured between this call and the previous one.
DEFAULT_SAMPLER = MetricsSampler()
_SCRAPED = tuple(dict.fromkeys([*(s.service for s in STAGES), "ingest", "messaging"]))


async def operations_snapshot(
    http: httpx.AsyncClient,
    settings: OpsSettings,
    scope: OpsScope,
    *,
    sampler: MetricsSampler | None = None,
) -> OperationsSnapshot:
    """Health of the five services, dead letters of ``scope`` and, per consumer group,
    whether it keeps up; for the installation also events per second per stage,
    consumer lag per group and topic, webhook rejections by reason and provider errors."""
    if not scope.installation:
        return await _tenant_snapshot(http, settings, scope)
    sampler = sampler or DEFAULT_SAMPLER
    taken_at = datetime.now(UTC)
    health, texts, lag, letters = await asyncio.gather(
        asyncio.gather(*(probe_service(http, settings, name) for name in SERVICES)),
        asyncio.gather(*(scrape_metrics(http, settings, name) for name in _SCRAPED)),
        _lag(settings),
        dead_letters(http, settings, scope),
    )
    observed: dict[str, Observation | None] = {
        name: sampler.observe(name, text) if text is not None else None
        for name, text in zip(_SCRAPED, texts, strict=True)
    }
    rows, lag_error = lag
    return OperationsSnapshot(
        taken_at=taken_at,
        scope="installation",
        services=list(health),
        stages=stage_rates(observed),
        consumer_lag=rows,
        consumer_lag_error=lag_error,
        pipeline=pipeline_states(rows, settings.behind_records),
        dead_letters=letters,
        webhook_rejections=webhook_rejections(observed.get("ingest")),
        provider_errors=provider_errors(observed.get("messaging")),
    )


async def _tenant_snapshot(
    http: httpx.AsyncClient, settings: OpsSettings, scope: OpsScope
) -> OperationsSnapshot:
    taken_at = datetime.now(UTC)
    health, lag, letters = await asyncio.gather(
        asyncio.gather(*(probe_service(http, settings, name) for name in SERVICES)),
        _lag(settings),
        dead_letters(http, settings, scope),
    )
    rows, lag_error = lag
    return OperationsSnapshot(
        taken_at=taken_at,
        scope="tenant",
        services=[s.model_copy(update={"url": ""}) for s in health],
        stages=[],
        consumer_lag=[],
        consumer_lag_error="not measured" if lag_error else None,
        pipeline=pipeline_states(rows, settings.behind_records),
        dead_letters=letters,
        webhook_rejections=[],
        provider_errors=[],
    )


def pipeline_states(rows: list[ConsumerLag], behind_records: int) -> list[PipelineState]:
    """Each group and topic: "behind" from ``behind_records`` records of lag on."""
    return [
        PipelineState(
            name=r.name, topic=r.topic, state="behind" if r.lag >= behind_records else "ok"
        )
        for r in rows
    ]


async def _lag(settings: OpsSettings) -> tuple[list[ConsumerLag], str | None]:
    try:
        rows = await asyncio.wait_for(
            consumer_lag(settings.kafka), timeout=settings.kafka_timeout_seconds
        )
    except Exception as exc:  # Kafka down or slow: the rest of the view still matters
        return [], describe_error(exc)
    return rows, None
