"""The raw record ingest puts on ``crm.raw.v1``: a small versioned JSON envelope
around the webhook body exactly as received.

``{"v": 1, "kind": "shopify.webhook", "tenant_id", "shop_domain", "topic",
"webhook_id", "event_id", "triggered_at", "api_version", "received_at", "currency",
"timezone", "headers": {...}, "body": "<raw body, verified UTF-8 JSON text>"}``

The tenant's currency and time zone at reception travel along, so normalizing is a
pure function of the record (and a replay normalizes it the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from crm_common.events import stable_event_id
from crm_ingest.domain import RawWebhook, TenantContext

VERSION = 1
KIND = "shopify.webhook"


@dataclass(frozen=True, slots=True)
class RawRecord:
    tenant_id: str
    currency: str
    timezone: str
    shop_domain: str
    topic: str
    webhook_id: str
    received_at: datetime
    body: bytes
    headers: dict[str, str]
    event_id: str | None = None
    triggered_at: str | None = None
    api_version: str | None = None

    @property
    def record_id(self) -> str:
        """Stable per (shop, webhook id): every redelivery of a webhook shares it."""
        return stable_event_id("shopify-raw", self.shop_domain, self.webhook_id)

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "v": VERSION,
                "kind": KIND,
                "tenant_id": self.tenant_id,
                "currency": self.currency,
                "timezone": self.timezone,
                "shop_domain": self.shop_domain,
                "topic": self.topic,
                "webhook_id": self.webhook_id,
                "event_id": self.event_id,
                "triggered_at": self.triggered_at,
                "api_version": self.api_version,
                "received_at": self.received_at.isoformat(),
                "headers": self.headers,
                "body": self.body.decode(),
            }
        )


def parse_raw_record(value: bytes) -> RawRecord:
    """The envelope back; ValueError/KeyError/TypeError on anything malformed."""
    doc: dict[str, Any] = orjson.loads(value)
    if doc.get("v") != VERSION or doc.get("kind") != KIND:
        raise ValueError(f"unknown raw record version/kind: {doc.get('v')!r}/{doc.get('kind')!r}")
    return RawRecord(
        tenant_id=doc["tenant_id"],
        currency=doc["currency"],
        timezone=doc["timezone"],
        shop_domain=doc["shop_domain"],
        topic=doc["topic"],
        webhook_id=doc["webhook_id"],
        received_at=datetime.fromisoformat(doc["received_at"]),
        body=doc["body"].encode(),
        headers=dict(doc.get("headers") or {}),
        event_id=doc.get("event_id"),
        triggered_at=doc.get("triggered_at"),
        api_version=doc.get("api_version"),
    )


def to_webhook(record: RawRecord) -> tuple[RawWebhook, TenantContext]:
    """The domain's view of a raw record (the body parsed, timestamps aware)."""
    body = orjson.loads(record.body)
    if not isinstance(body, dict):
        raise ValueError("body: expected a JSON object")
    webhook = RawWebhook(
        shop_domain=record.shop_domain,
        topic=record.topic,
        webhook_id=record.webhook_id,
        received_at=record.received_at,
        body=body,
        event_id=record.event_id,
        triggered_at=_aware(record.triggered_at),
        api_version=record.api_version,
    )
    context = TenantContext(record.tenant_id, record.currency, record.timezone)
    return webhook, context


def _aware(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None  # a malformed header is not worth losing the webhook over
    return moment if moment.tzinfo is not None else None
