"""Helpers of the ingest integration tests: tenants made through the admin API, signed
webhooks, reading topics back, and ``run_service`` from tests/support."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from crm_common.events import decode_event, stable_event_id
from crm_ingest.topics import assign_from_start, behind

ROOT = Path(__file__).resolve().parents[4]


def _load_run_service() -> Any:
    """tests/support/service_process.py (on sys.path via the root conftest)."""
    import service_process

    return service_process


_services = _load_run_service()
ServiceProcess = _services.ServiceProcess
run_service = _services.run_service

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FIXTURES = ROOT / "tests" / "fixtures" / "shopify"


def placed_id(tenant_id: str, order_id: str, source: str = "shopify") -> str:
    """The canonical id of an order's placement: it names the order, not the delivery."""
    return stable_event_id(tenant_id, source, "order.placed", "once", order_id)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def create_tenant(url: str, **overrides: Any) -> dict[str, Any]:
    """A tenant with one shop and one secret; returns the 201 body plus shop and secret."""
    shop = overrides.pop("shop", f"{unique('shop')}.myshopify.com")
    secret = overrides.pop("secret", unique("secret"))
    body = {"name": "Test shop", "shop_domains": [shop], "webhook_secrets": [secret], **overrides}
    response = httpx.post(f"{url}/admin/tenants", json=body, headers=ADMIN, timeout=10)
    assert response.status_code == 201, response.text
    return {**response.json(), "shop": shop, "secret": secret}


def webhook_headers(
    body: bytes, *, shop: str, secret: str, topic: str, webhook_id: str
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": f"ev-{webhook_id}",
        "X-Shopify-Triggered-At": "2024-06-01T02:59:58.123Z",
        "X-Shopify-API-Version": "2024-10",
    }


def post_webhook(
    url: str, tenant: dict[str, Any], topic: str, body: bytes, webhook_id: str
) -> httpx.Response:
    headers = webhook_headers(
        body, shop=tenant["shop"], secret=tenant["secret"], topic=topic, webhook_id=webhook_id
    )
    return httpx.post(f"{url}/webhooks/shopify", content=body, headers=headers, timeout=10)


async def read_topic(
    infra: Any,
    logical: str,
    until: Callable[[list[Any]], bool],
    *,
    decode: Callable[[Any], Any] = lambda r: decode_event(r.value),
    keep: Callable[[Any], bool] = lambda _: True,
    timeout: float = 60.0,
) -> list[Any]:
    """Decoded records of a topic from the beginning, kept by ``keep``: read until
    ``until(kept)`` holds, then on to the end of every partition as of that moment
    (so anything published before what ``until`` waited for is included)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    kept: list[Any] = []
    try:
        partitions = await assign_from_start(consumer, infra.bootstrap, infra.topic(logical))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not until(kept):
            if loop.time() > deadline:
                raise AssertionError(f"{logical}: condition not met; kept {len(kept)} records")
            kept += await _fetch(consumer, decode, keep)
        ends = await consumer.end_offsets(partitions)
        while await behind(consumer, partitions, ends):
            kept += await _fetch(consumer, decode, keep)
    finally:
        await consumer.stop()
    return kept


async def _fetch(
    consumer: AIOKafkaConsumer, decode: Callable[[Any], Any], keep: Callable[[Any], bool]
) -> list[Any]:
    batches = await consumer.getmany(timeout_ms=300, max_records=5000)
    return [x for records in batches.values() for x in map(decode, records) if keep(x)]


async def events_of(
    infra: Any, tenant_id: str, until: Callable[[list[Any]], bool], timeout: float = 60.0
) -> list[Any]:
    """Canonical events of one tenant on crm.events.v1."""
    return await read_topic(
        infra, "crm.events.v1", until, keep=lambda e: e.tenant_id == tenant_id, timeout=timeout
    )
