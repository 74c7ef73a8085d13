"""What remote HTTP adapters share: one call, classified for retries."""

from __future__ import annotations

import time
from typing import Any

import httpx

from crm_messaging import metrics
from crm_messaging.domain.backoff import OutcomeClass, ProviderOutcome, classify
from crm_messaging.sending.channels.base import SendResult


async def call(
    client: httpx.AsyncClient, provider: str, method: str, url: str, **kwargs: Any
) -> tuple[httpx.Response | None, SendResult | None]:
    """(response, None) on 2xx; (response or None, failure) otherwise."""
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        metrics.PROVIDER_ERRORS.labels(provider, "timeout").inc()
        outcome = ProviderOutcome(timed_out=True)
        return None, SendResult(OutcomeClass.TRANSIENT, outcome, error="timeout")
    except httpx.TransportError as exc:
        metrics.PROVIDER_ERRORS.labels(provider, "connection").inc()
        outcome = ProviderOutcome(connection_error=True)
        error = f"connection:{type(exc).__name__}"
        return None, SendResult(OutcomeClass.TRANSIENT, outcome, error=error)
    finally:
        metrics.PROVIDER_SECONDS.labels(provider).observe(time.perf_counter() - started)
    outcome = ProviderOutcome(
        status=response.status_code, retry_after=response.headers.get("retry-after")
    )
    kind = classify(outcome)
    if kind is OutcomeClass.SUCCESS:
        return response, None
    metrics.PROVIDER_ERRORS.labels(provider, str(response.status_code)).inc()
    return response, SendResult(kind, outcome, error=f"http_{response.status_code}")
