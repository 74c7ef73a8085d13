"""The normalizer: ``crm.raw.v1`` -> canonical events on ``crm.events.v1`` (outbox).

Normalizing is pure and deterministic, so it runs in the runner's *decode* step: a
payload that cannot be normalized fails the same way on every attempt, and a decode
failure is dead-lettered at once (with the reason naming the field) instead of after
the runner's retries. The runner's dedup id is the raw record id (shop + webhook
id), so Shopify's redeliveries and our own restarts yield one set of events; it is
recorded only when the batch commits, so a replayed dead letter is processed.
Different deliveries of one fact (two subscriptions, a replay tool) give the same
canonical ids (:mod:`crm_ingest.domain.facts`), and the ids already accepted are
not published again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database
from crm_common.events import Event
from crm_common.kafka import ConsumerRunner, Message, Producer
from crm_common.outbox import enqueue_rows, outbox_row
from crm_common.settings import KafkaSettings
from crm_ingest import metrics
from crm_ingest.config import EVENTS_TOPIC, NORMALIZER_GROUP, RAW_TOPIC, SCHEMA
from crm_ingest.domain import NormalizationError, RawWebhook, TenantContext, normalize_shopify
from crm_ingest.domain.facts import payloads, told
from crm_ingest.raw_record import parse_raw_record, to_webhook
from crm_ingest.repository import events as events_repo

Normalize = Callable[[RawWebhook, TenantContext], list[Event]]


@dataclass(frozen=True, slots=True)
class Normalized:
    record_id: str
    topic: str
    events: list[Event]


def make_decoder(normalize: Normalize = normalize_shopify) -> Callable[[bytes], Normalized]:
    """Raw record bytes -> its canonical events; ValueError (dead-lettered) otherwise."""

    def decode(value: bytes) -> Normalized:
        try:
            record = parse_raw_record(value)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a raw record: {type(exc).__name__}: {exc}") from exc
        try:
            webhook, tenant = to_webhook(record)
            events = normalize(webhook, tenant)
        except NormalizationError as exc:
            raise ValueError(f"{record.topic}: {exc.reason}") from exc
        except Exception as exc:  # a mapping bug must dead-letter, not stop the runner
            raise ValueError(f"{record.topic}: {type(exc).__name__}: {exc}") from exc
        return Normalized(record.record_id, record.topic, events)

    return decode


def _record_id(message: Message) -> str:
    return str(message.payload.record_id)


async def handle(session: AsyncSession, messages: Sequence[Message]) -> None:
    """Enqueue every new raw record's events in the batch's transaction, each fact
    once: a fact another delivery already told (the same order posted under another
    webhook id) is claimed in ``accepted_events`` and not published again."""
    facts = [told(e, e.received_at) for m in messages for e in m.payload.events]
    events = await events_repo.claim_news(session, [f.events for f in facts])
    known = payloads(facts)
    rows = [outbox_row(EVENTS_TOPIC, e, known.get(id(e))) for e in events]
    await enqueue_rows(session, SCHEMA, rows)
    for event in events:
        metrics.NORMALIZED.labels(event.type).inc()
    metrics.DUPLICATE_FACTS.labels("webhook").inc(len(facts) - len(events))


def build_normalizer(
    db: Database,
    producer: Producer,
    kafka: KafkaSettings,
    normalize: Normalize = normalize_shopify,
    **options: Any,
) -> ConsumerRunner:
    return ConsumerRunner(
        group_id=NORMALIZER_GROUP,
        topics=[kafka.topic(RAW_TOPIC)],
        kafka=kafka,
        db=db,
        schema=SCHEMA,
        handler=handle,
        dlq_producer=producer,
        decode=make_decoder(normalize),
        event_id=_record_id,
        **options,
    )
