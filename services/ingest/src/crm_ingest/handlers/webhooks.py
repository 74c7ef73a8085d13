"""Shopify webhooks: verify, then put the raw record on ``crm.raw.v1`` and wait for
the broker's acknowledgement (acks=all) before the caller answers 200.

``app/uninstalled`` then disconnects the shop (:func:`crm_ingest.handlers.tenants.
uninstall_shop`): a disconnected shop takes only :data:`AFTER_UNINSTALL` topics,
which Shopify still sends (signed with the secret the uninstall retired); any other
topic is refused with 401, whoever signed it."""

from __future__ import annotations

import base64
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from crm_common.events import short_hash
from crm_ingest import metrics
from crm_ingest.config import RAW_TOPIC
from crm_ingest.context import IngestContext
from crm_ingest.domain import supported_topics
from crm_ingest.handlers import tenants as tenant_admin
from crm_ingest.handlers.errors import BadInput, Unauthorized
from crm_ingest.raw_record import RawRecord
from crm_ingest.repository.tenants import ShopTenant

log = logging.getLogger(__name__)

_SUPPORTED = supported_topics()
UNINSTALL_TOPIC = "app/uninstalled"
AFTER_UNINSTALL = frozenset(
    {UNINSTALL_TOPIC, "shop/redact", "customers/redact", "customers/data_request"}
)
"""Topics a shop that uninstalled the app still sends: the mandatory privacy webhooks
(Shopify sends ``shop/redact`` 48 hours after the uninstall) and a redelivered
uninstall."""


class _SampledLog:
    """A warning per ignored topic at most every ``every`` seconds (the counter
    ``crm_ingest_webhooks_ignored_total`` has them all): a shop subscribed to a topic we
    do not map would otherwise put a log line in front of every answer."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._last: dict[str, tuple[float, int]] = {}

    def note(self, topic: str, tenant_id: str) -> None:
        now = time.monotonic()
        last, skipped = self._last.get(topic, (-self.every, 0))
        if now - last < self.every:
            self._last[topic] = (last, skipped + 1)
            return
        if len(self._last) >= 1000:
            self._last.clear()
        self._last[topic] = (now, 0)
        extra = {"topic": topic, "tenant_id": tenant_id, "not_logged_since": skipped}
        log.warning("ignored webhook topic", extra=extra)


_IGNORED_LOG = _SampledLog()


@dataclass(frozen=True)
class Delivery:
    """One POST as received: the X-Shopify-* headers (lower-cased names) and the body."""

    headers: Mapping[str, str]
    body: bytes
    received_at: datetime

    def header(self, name: str) -> str | None:
        value = self.headers.get(f"x-shopify-{name}")
        return value.strip() if value else None


async def receive_shopify(ctx: IngestContext, delivery: Delivery) -> str:
    """``"accepted"`` once the raw record is acknowledged, ``"ignored"`` for topics the
    normalizer does not map. Raises Unauthorized or BadInput; nothing is stored then."""
    tenant = await _verified_tenant(ctx, delivery)
    body = _json_object(delivery.body)
    topic, webhook_id = _required(delivery, "topic"), _required(delivery, "webhook-id")
    if not tenant.connected and topic not in AFTER_UNINSTALL:
        raise Unauthorized("shop disconnected: the app was uninstalled", "shop_disconnected")
    if topic not in _SUPPORTED:
        metrics.IGNORED_TOPICS.labels(topic).inc()
        _IGNORED_LOG.note(topic, tenant.tenant_id)
        return "ignored"
    record = _record(delivery, tenant, topic, webhook_id)
    await ctx.producer.send(
        ctx.producer.topic(RAW_TOPIC), record.to_bytes(), key=_key(record, body)
    )
    metrics.ACCEPTED.labels("webhook", topic).inc()
    if topic == UNINSTALL_TOPIC and tenant.connected:
        await _disconnect(ctx, tenant, record.shop_domain)
    return "accepted"


async def _disconnect(ctx: IngestContext, tenant: ShopTenant, shop_domain: str) -> None:
    """After the uninstall itself is on the raw topic: if this fails, the caller
    answers 500 and Shopify's retry (still accepted) disconnects again."""
    async with ctx.db.transaction() as session:
        await tenant_admin.uninstall_shop(session, tenant.tenant_id, shop_domain)
    ctx.shops.invalidate()
    log.info("shop disconnected: app uninstalled", extra={"tenant_id": tenant.tenant_id})


async def _verified_tenant(ctx: IngestContext, delivery: Delivery) -> ShopTenant:
    shop, signature = delivery.header("shop-domain"), delivery.header("hmac-sha256")
    if not shop:
        raise Unauthorized("missing X-Shopify-Shop-Domain", "missing_shop")
    if not signature:
        raise Unauthorized("missing X-Shopify-Hmac-Sha256", "missing_signature")
    tenant = await ctx.shops.get(shop.lower())
    if tenant is None or tenant.status != "active":
        raise Unauthorized("unknown shop domain", "unknown_shop")
    accepted = tenant.secrets if tenant.connected else tenant.secrets + tenant.retired
    if not verify_signature(delivery.body, signature, accepted):
        raise Unauthorized("webhook signature does not verify", "bad_signature")
    return tenant


def sign(body: bytes, secret: str) -> str:
    """Shopify's X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.digest(secret.encode(), body, "sha256")).decode()


def verify_signature(body: bytes, signature: str, secrets: tuple[str, ...]) -> bool:
    """True if any active secret signs ``body`` as ``signature`` (constant-time compare;
    every secret is tried, so timing does not tell which one matched)."""
    presented = signature.encode()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(sign(body, secret).encode(), presented)
    return matched


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"body is not valid JSON: {exc}", "bad_json") from exc
    if not isinstance(parsed, dict):
        raise BadInput("body must be a JSON object", "bad_json")
    return parsed


def _required(delivery: Delivery, name: str) -> str:
    value = delivery.header(name)
    if not value:
        raise BadInput(f"missing X-Shopify-{name.title()}", f"missing_{name.replace('-', '_')}")
    return value


def _record(delivery: Delivery, tenant: ShopTenant, topic: str, webhook_id: str) -> RawRecord:
    return RawRecord(
        tenant_id=tenant.tenant_id,
        currency=tenant.currency,
        timezone=tenant.timezone,
        shop_domain=(delivery.header("shop-domain") or "").lower(),
        topic=topic,
        webhook_id=webhook_id,
        received_at=delivery.received_at,
        body=delivery.body,
        headers={k: v for k, v in delivery.headers.items() if k != "x-shopify-hmac-sha256"},
        event_id=delivery.header("event-id"),
        triggered_at=delivery.header("triggered-at"),
        api_version=delivery.header("api-version"),
    )


def _key(record: RawRecord, body: dict[str, Any]) -> str:
    """tenant + shop + customer id when the body shows it, else the webhook id."""
    customer = body.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else body.get("customer_id")
    if customer_id is None and record.topic.startswith("customers/"):
        customer_id = body.get("id")
    who = f"c:{customer_id}" if customer_id else f"w:{short_hash(record.webhook_id)}"
    return f"{record.tenant_id}:{record.shop_domain}:{who}"
