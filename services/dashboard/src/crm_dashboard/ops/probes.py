"""HTTP probes of the services: /healthz, /readyz and /metrics.

A service that does not answer is ``down``; nothing here raises for that.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from crm_dashboard.ops.models import ServiceHealth
from crm_dashboard.ops.settings import OpsSettings


def describe_error(exc: Exception) -> str:
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"[:200]


async def probe_service(http: httpx.AsyncClient, settings: OpsSettings, name: str) -> ServiceHealth:
    """Liveness (with its round-trip time) and readiness of one service."""
    url = settings.url(name)
    timeout = settings.http_timeout_seconds
    started = time.perf_counter()
    try:
        live = await http.get(f"{url}/healthz", timeout=timeout)
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        ready = await http.get(f"{url}/readyz", timeout=timeout)
    except httpx.HTTPError as exc:
        return ServiceHealth(
            name=name, url=url, status="down", latency_ms=None, checks={}, error=describe_error(exc)
        )
    if live.status_code != 200:
        error = f"/healthz answered {live.status_code}"
        return ServiceHealth(
            name=name, url=url, status="down", latency_ms=latency_ms, checks={}, error=error
        )
    checks = _checks(ready)
    if ready.status_code == 200:
        return ServiceHealth(name=name, url=url, status="up", latency_ms=latency_ms, checks=checks)
    error = f"/readyz answered {ready.status_code}"
    return ServiceHealth(
        name=name, url=url, status="unready", latency_ms=latency_ms, checks=checks, error=error
    )


def _checks(response: httpx.Response) -> dict[str, str]:
    try:
        body: Any = response.json()
    except ValueError:
        return {}
    checks = body.get("checks") if isinstance(body, dict) else None
    return {str(k): str(v) for k, v in checks.items()} if isinstance(checks, dict) else {}


async def scrape_metrics(http: httpx.AsyncClient, settings: OpsSettings, name: str) -> str | None:
    """The Prometheus text of one service, or None when it does not answer."""
    try:
        response = await http.get(
            f"{settings.url(name)}/metrics",
            headers=settings.metrics_headers(),
            timeout=settings.http_timeout_seconds,
        )
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None
