"""Dead letters through ingest's API (GET /admin/dlq, POST /admin/dlq/replay), with a
token minted per call for the viewer's scope: ingest answers with the tenant's own
letters (replays only those), or every letter for an operator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from crm_dashboard.ops.models import DeadLetterEntry, DeadLetters, ReplayResult
from crm_dashboard.ops.probes import describe_error
from crm_dashboard.ops.scope import OpsScope
from crm_dashboard.ops.settings import OpsSettings

# Reading the whole DLQ topic takes a moment when it is long; more than a probe.
_DLQ_TIMEOUT = 30.0


async def dead_letters(
    http: httpx.AsyncClient, settings: OpsSettings, scope: OpsScope, limit: int | None = None
) -> DeadLetters:
    """How many letters of ``scope`` crm.dlq.v1 holds and the newest ``limit`` of them."""
    limit = settings.recent_dead_letters if limit is None else limit
    try:
        response = await http.get(
            f"{settings.url('ingest')}/admin/dlq",
            params={"limit": limit},
            headers=settings.dlq_headers(scope),
            timeout=max(_DLQ_TIMEOUT, settings.http_timeout_seconds),
        )
    except httpx.HTTPError as exc:
        return DeadLetters(count=None, recent=[], error=describe_error(exc))
    if response.status_code != 200:
        return DeadLetters(count=None, recent=[], error=_answer_error(response))
    try:
        body: dict[str, Any] = response.json()
        recent = [DeadLetterEntry.model_validate(x) for x in body["letters"]]
        return DeadLetters(count=int(body["count"]), recent=recent)
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        return DeadLetters(count=None, recent=[], error=f"unexpected answer: {describe_error(exc)}")


async def replay_dead_letters(
    http: httpx.AsyncClient,
    settings: OpsSettings,
    scope: OpsScope,
    consumers: Sequence[str] | None = None,
    *,
    since: datetime | None = None,
) -> ReplayResult:
    """Re-publish dead letters of ``scope`` not replayed yet to their original topics
    (ingest refuses unless the scope's role is admin).

    ``consumers``: only the letters of these consumer groups (as the letters name
    them, e.g. ``ingest-normalizer``); None replays every letter. ``since``: only
    letters that failed at or after this aware time. Ingest replays each letter at
    most once, so pressing the button twice is harmless.
    """
    bodies: list[dict[str, Any]] = [{"consumer": c} for c in consumers] if consumers else [{}]
    if since is not None:
        bodies = [{**b, "since": since.isoformat()} for b in bodies]
    replayed = 0
    for body in bodies:
        try:
            response = await http.post(
                f"{settings.url('ingest')}/admin/dlq/replay",
                json=body,
                headers=settings.dlq_headers(scope),
                timeout=max(_DLQ_TIMEOUT, settings.http_timeout_seconds),
            )
        except httpx.HTTPError as exc:
            return ReplayResult(replayed=replayed or None, error=describe_error(exc))
        if response.status_code != 200:
            return ReplayResult(replayed=replayed or None, error=_answer_error(response))
        replayed += int(response.json()["replayed"])
    return ReplayResult(replayed=replayed)


def _answer_error(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.reason_phrase
    return f"ingest answered {response.status_code}: {message}"[:300]
