"""The erasure consumer: ``privacy.redact_requested`` and ``tenant.redact_requested``
from crm.events.v1 (group ``ingest-erasure``), whoever produced them: ingest's own
normalizer (Shopify ``customers/redact``, ``shop/redact``) or profile
(``DELETE /v1/profiles/{id}``). Other records are decoded no further than their
type. What is erased: :mod:`crm_ingest.handlers.erasure`."""

from __future__ import annotations

from typing import Any

from crm_common.db import Database
from crm_common.erasure import decode_only
from crm_common.kafka import ConsumerRunner, Producer
from crm_common.settings import KafkaSettings
from crm_ingest.config import EVENTS_TOPIC, SCHEMA
from crm_ingest.handlers.erasure import handle

ERASURE_GROUP = "ingest-erasure"


def build_erasure_consumer(
    db: Database, producer: Producer, kafka: KafkaSettings, **options: Any
) -> ConsumerRunner:
    return ConsumerRunner(
        group_id=ERASURE_GROUP,
        topics=[kafka.topic(EVENTS_TOPIC)],
        kafka=kafka,
        db=db,
        schema=SCHEMA,
        handler=handle,
        dlq_producer=producer,
        decode=decode_only(),
        **options,
    )
