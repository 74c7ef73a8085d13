"""The generic cart event API: validate, claim the fact's ids as accepted and
enqueue what is new on ``crm.events.v1`` in the request's transaction.

An event that could never be published (larger encoded than one record,
``KAFKA_MAX_MESSAGE_BYTES``) is rejected at its index with its size and the limit;
the rest of the batch is accepted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.outbox import OutboxRow, enqueue_rows, outbox_row, oversized
from crm_common.tenancy import Caller
from crm_ingest import metrics
from crm_ingest.config import EVENTS_TOPIC, SCHEMA
from crm_ingest.domain import InvalidEvent, parse_batch, parse_generic_event
from crm_ingest.domain.facts import Told, told
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
    fact, row = _told(event)
    problem = _too_large(row)
    if problem is not None:
        metrics.REJECTED.labels("api", "too_large").inc()
        raise InvalidEvent([("(root)", problem)])
    (result,) = await _store(session, [fact], [row])
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
    parsed, rejected = parse_batch(
        items, tenant_id=caller.tenant_id, source=source, received_at=received_at
    )
    accepted, facts, rows = [], [], []
    for index, event in parsed:
        fact, row = _told(event)
        problem = _too_large(row)
        if problem is None:
            accepted.append(index)
            facts.append(fact)
            rows.append(row)
        else:
            rejected.append((index, "(root)", problem))
    stored = await _store(session, facts, rows)
    results: dict[int, dict[str, Any]] = {
        index: {"index": index, "status": outcome.status, "event_id": outcome.event_id}
        for index, outcome in zip(accepted, stored, strict=True)
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


def _told(event: Any) -> tuple[Told, OutboxRow]:
    """The fact's tellings and the event's outbox row (encoded once, for the size
    check and for the outbox)."""
    fact = told(event, event.received_at)
    return fact, outbox_row(EVENTS_TOPIC, event, fact.payload)


async def _store(
    session: AsyncSession, facts: Sequence[Told], rows: Sequence[OutboxRow]
) -> list[Accepted]:
    """Publish each event's fact unless told before; per event, the id published
    (an ``order.placed`` whose order changed since is published as ``order.updated``)
    or, for a fact told before, ``duplicate`` with the fact's id. ``rows``: each
    fact's first telling, encoded."""
    news = await repo.claim_news(session, [f.events for f in facts])
    encoded = {id(f.events[0]): row for f, row in zip(facts, rows, strict=True)}
    await enqueue_rows(
        session, SCHEMA, [encoded.get(id(e)) or outbox_row(EVENTS_TOPIC, e) for e in news]
    )
    published = {id(e) for e in news}
    results = []
    for fact in facts:
        group = fact.events
        new = next((e for e in group if id(e) in published), None)
        if new is not None:
            metrics.ACCEPTED.labels("api", new.type).inc()
        results.append(
            Accepted(new.event_id, "accepted") if new else Accepted(group[0].event_id, "duplicate")
        )
    metrics.DUPLICATE_FACTS.labels("api").inc(len(facts) - len(news))
    return results


def _too_large(row: OutboxRow) -> str | None:
    """Why ``row`` can never be published (the outbox's own size check), or None."""
    refused = oversized(EVENTS_TOPIC, row)
    if refused is None:
        return None
    return (
        f"the event is {refused.size:,} bytes encoded; "
        f"at most {refused.limit:,} bytes per event are accepted"
    )
