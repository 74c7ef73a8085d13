"""The generic cart event API: validate, record the canonical id as accepted and
enqueue the event on ``crm.events.v1`` in the request's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.outbox import enqueue
from crm_common.tenancy import Caller
from crm_ingest import metrics
from crm_ingest.config import EVENTS_TOPIC, SCHEMA
from crm_ingest.domain import parse_batch, parse_generic_event
from crm_ingest.repository import events as repo


@dataclass(frozen=True)
class Accepted:
    event_id: str
    status: str  # "accepted" | "duplicate"


async def accept_one(
    session: AsyncSession, caller: Caller, item: object, source: str, received_at: datetime
) -> Accepted:
    """Raises :class:`~crm_ingest.domain.InvalidEvent` with every problem found."""
    try:
        event = parse_generic_event(
            item, tenant_id=caller.tenant_id, source=source, received_at=received_at
        )
    except ValueError:
        metrics.REJECTED.labels("api", "invalid_event").inc()
        raise
    (result,) = await _store(session, caller.tenant_id, [event])
    return result


async def accept_batch(
    session: AsyncSession,
    caller: Caller,
    items: Sequence[object],
    source: str,
    received_at: datetime,
) -> dict[str, Any]:
    """The 207 report: one result per index, rejections with every (path, message).
    Raises :class:`~crm_ingest.domain.BatchTooLarge` over the limit."""
    accepted, rejected = parse_batch(
        items, tenant_id=caller.tenant_id, source=source, received_at=received_at
    )
    stored = await _store(session, caller.tenant_id, [event for _, event in accepted])
    results: dict[int, dict[str, Any]] = {
        index: {"index": index, "status": outcome.status, "event_id": outcome.event_id}
        for (index, _), outcome in zip(accepted, stored, strict=True)
    }
    for index, path, message in rejected:
        entry = results.setdefault(index, {"index": index, "status": "rejected", "errors": []})
        entry["errors"].append({"path": path, "message": message})
    metrics.REJECTED.labels("api", "invalid_event").inc(len({i for i, _, _ in rejected}))
    ordered = [results[i] for i in sorted(results)]
    return {
        "accepted": sum(1 for r in ordered if r["status"] == "accepted"),
        "duplicates": sum(1 for r in ordered if r["status"] == "duplicate"),
        "rejected": sum(1 for r in ordered if r["status"] == "rejected"),
        "results": ordered,
    }


async def _store(session: AsyncSession, tenant_id: str, events: Sequence[Any]) -> list[Accepted]:
    fresh = await repo.claim_accepted(session, tenant_id, [e.event_id for e in events])
    new_events = [e for e in events if e.event_id in fresh]
    await enqueue(session, SCHEMA, EVENTS_TOPIC, new_events)
    for event in new_events:
        metrics.ACCEPTED.labels("api", event.type).inc()
    return [
        Accepted(e.event_id, "accepted" if e.event_id in fresh else "duplicate") for e in events
    ]
