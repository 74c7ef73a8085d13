"""The load generator and its own record of what the system accepted.

A shop's signed Shopify webhooks (crm_ingest.loadgen_shop's tea shop) go to both
webhook fronts in turn, paced over the run; generic batches (``/v1/events/batch``)
and one orders CSV import come through the API; a journey (an email on a customer's
first order) and, late in the run, an email campaign to a segment of buyers send to
the local sinks. A request that fails (a front killed, a broker or PostgreSQL down)
is retried as a cart platform would, with the same ids, on the other front; only an
answer of acceptance puts the fact in the record.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson

from crm_ingest.loadgen import headers as webhook_headers
from crm_ingest.loadgen_shop import Shop, Webhook

RETRY_FOR = 300.0  # seconds a request is retried before it counts as refused
TEMPLATE_JOURNEY = "chaos_thanks"
TEMPLATE_CAMPAIGN = "chaos_news"


@dataclass
class Order:
    email: str
    total: Decimal
    placed_at: datetime


@dataclass
class Record:
    """What the generator knows was accepted (the checker's expectations)."""

    tenant_id: str = ""
    api_key: str = ""
    orders: dict[str, Order] = field(default_factory=dict)  # accepted, by order id
    cancelled: set[str] = field(default_factory=set)
    refunds: dict[str, Decimal] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    segment_id: str = ""
    journey_id: str = ""
    campaign_id: str = ""
    import_id: str = ""

    def expected_profiles(self) -> dict[str, tuple[int, Decimal, datetime]]:
        """email -> (orders_count, total_spent, last order) as the shop's books say."""
        out: dict[str, tuple[int, Decimal, datetime]] = {}
        for order_id, order in self.orders.items():
            if order_id in self.cancelled:
                continue
            net = max(order.total - self.refunds.get(order_id, Decimal(0)), Decimal(0))
            count, spent, last = out.get(order.email, (0, Decimal(0), order.placed_at))
            out[order.email] = (count + 1, spent + net, max(last, order.placed_at))
        return out

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class Load:
    fronts: list[str]
    messaging: str
    segment: str
    admin_token: str
    seed: int
    customers: int
    log: Callable[[str], None]
    record: Record = field(default_factory=Record)
    shop: str = ""
    secret: str = ""

    # -- set-up ------------------------------------------------------------------
    async def setup(self, client: httpx.AsyncClient) -> None:
        self.shop = f"chaos-{self.seed}-{int(time.time())}.myshopify.com"
        self.secret = f"chaos-secret-{time.time_ns()}"
        body = {"name": "カオス茶舗", "shop_domains": [self.shop], "webhook_secrets": [self.secret]}
        created = await self._call(
            client, "POST", "/admin/tenants", json=body, admin=True, ok=(201,)
        )
        self.record.tenant_id, self.record.api_key = created["tenant_id"], created["api_key"]
        settings = {"quiet_hours": {}, "frequency_caps": [], "opt_in_channels": ["email"]}
        await self._call(client, "PUT", f"{self.messaging}/v1/settings", json=settings)
        for template_id, subject in ((TEMPLATE_JOURNEY, "ご注文ありがとうございます"),):
            await self._template(client, template_id, subject)
        await self._template(client, TEMPLATE_CAMPAIGN, "新茶のお知らせ")
        buyers = {"trait": "orders_count", "op": ">=", "value": 1}
        segment = await self._call(
            client,
            "POST",
            f"{self.segment}/v1/segments",
            json={"name": "購入者", "definition": buyers},
            ok=(200, 201, 202),
        )
        self.record.segment_id = segment.get("segment_id") or segment["id"]
        journey = await self._call(
            client,
            "POST",
            f"{self.messaging}/v1/journeys",
            json={"name": "初回購入お礼", "definition": _journey()},
            ok=(201,),
        )
        self.record.journey_id = journey["id"]
        await self._call(client, "POST", f"{self.messaging}/v1/journeys/{journey['id']}/start")
        self.log(
            f"tenant {self.record.tenant_id}, segment {self.record.segment_id}, "
            f"journey {self.record.journey_id}"
        )

    async def _template(self, client: httpx.AsyncClient, template_id: str, subject: str) -> None:
        body = {
            "template_id": template_id,
            "name": template_id,
            "channel": "email",
            "parts": {"subject": subject, "text": "いつもありがとうございます。"},
        }
        await self._call(client, "POST", f"{self.messaging}/v1/templates", json=body, ok=(201,))

    async def campaign(self, client: httpx.AsyncClient) -> None:
        body = {
            "name": "新茶キャンペーン",
            "segment_id": self.record.segment_id,
            "channel": "email",
            "template_id": TEMPLATE_CAMPAIGN,
        }
        made = await self._call(
            client, "POST", f"{self.messaging}/v1/campaigns", json=body, ok=(201,)
        )
        self.record.campaign_id = made.get("campaign_id") or made["id"]
        await self._call(
            client, "POST", f"{self.messaging}/v1/campaigns/{self.record.campaign_id}/schedule"
        )
        self.log(f"campaign {self.record.campaign_id} scheduled")

    # -- traffic -------------------------------------------------------------------
    async def run(self, seconds: float, concurrency: int = 6) -> None:
        """Every webhook of the shop paced over ``seconds``, batches every ~10 s, the CSV
        import at 40 % and the campaign at 70 % of the run."""
        end = datetime.now(UTC) - timedelta(hours=1)
        history = Shop(self.seed, self.customers, 60, end).webhooks()
        queue: asyncio.Queue[tuple[int, Webhook] | None] = asyncio.Queue(maxsize=concurrency)
        async with httpx.AsyncClient(timeout=20) as client:
            await self.setup(client)
            senders = [asyncio.create_task(self._sender(client, queue)) for _ in range(concurrency)]
            side = asyncio.create_task(self._side_traffic(client, seconds))
            started = time.monotonic()
            for n, webhook in enumerate(history):
                due = started + seconds * n / len(history)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await queue.put((n, webhook))
            for _ in senders:
                await queue.put(None)
            await asyncio.gather(*senders, side)
        self.log(
            f"load done: answers {dict(self.record.answers)}; {len(self.record.refused)} refused"
        )

    async def _side_traffic(self, client: httpx.AsyncClient, seconds: float) -> None:
        started, batch, imported, campaigned = time.monotonic(), 0, False, False
        while (elapsed := time.monotonic() - started) < seconds:
            await self._batch(client, batch)
            batch += 1
            if not imported and elapsed > 0.4 * seconds:
                imported = True
                await self._csv_import(client)
            if not campaigned and elapsed > 0.7 * seconds:
                campaigned = True
                await self.campaign(client)
            await asyncio.sleep(10)
        if not imported:
            await self._csv_import(client)
        if not campaigned:
            await self.campaign(client)

    async def _sender(
        self, client: httpx.AsyncClient, queue: asyncio.Queue[tuple[int, Webhook] | None]
    ) -> None:
        while (item := await queue.get()) is not None:
            n, webhook = item
            await self._webhook(client, n, webhook)

    async def _webhook(self, client: httpx.AsyncClient, n: int, webhook: Webhook) -> None:
        body = orjson.dumps(webhook.body)
        head = webhook_headers(webhook, self.shop, self.secret, body)
        deadline, attempt = time.monotonic() + RETRY_FOR, 0
        while time.monotonic() < deadline:
            front = self.fronts[(n + attempt) % len(self.fronts)]
            try:
                answer = await client.post(f"{front}/webhooks/shopify", content=body, headers=head)
                status = answer.status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                self.record.answers["webhook 200"] += 1
                self._accepted(webhook)
                return
            self.record.answers[f"webhook {status or 'no answer'} (retried)"] += 1
            if 400 <= status < 500 and status not in (408, 429):
                break
            attempt += 1
            await asyncio.sleep(min(5.0, 0.25 * 2**attempt))
        self.record.refused.append(f"{webhook.topic} {webhook.webhook_id}")

    def _accepted(self, webhook: Webhook) -> None:
        body = webhook.body
        if webhook.topic == "orders/create":
            placed = datetime.fromisoformat(body["created_at"])
            order = Order(body["email"], Decimal(body["total_price"]), placed)
            self.record.orders[str(body["id"])] = order
        elif webhook.topic == "orders/cancelled":
            self.record.cancelled.add(str(body["id"]))
        elif webhook.topic == "refunds/create":
            amount = sum((Decimal(t["amount"]) for t in body["transactions"]), Decimal(0))
            self.record.refunds[str(body["order_id"])] = amount

    async def _batch(self, client: httpx.AsyncClient, n: int) -> None:
        now = datetime.now(UTC) - timedelta(minutes=5)
        events = [_generic_order(n, i, now) for i in range(10)]
        report = await self._call(
            client,
            "POST",
            "/v1/events/batch",
            json={"events": events},
            ok=(207,),
            extra={"X-Cart-Platform": "makeshop"},
        )
        for event, result in zip(events, report["results"], strict=True):
            if result["status"] in ("accepted", "duplicate"):
                self.record.answers["batch event accepted"] += 1
                data = event["data"]
                order = Order(event["identity"]["email"], Decimal(data["total"]), now)
                self.record.orders[data["order_id"]] = order
            else:
                self.record.refused.append(f"batch {data['order_id']}: {result}")

    async def _csv_import(self, client: httpx.AsyncClient) -> None:
        placed = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0, second=0)
        rows = ["order_id,placed_at,email,total"]
        orders = {
            f"CSV-{self.seed}-{i}": Order(f"csv-{i}@chaos.example.jp", Decimal(1080 + i), placed)
            for i in range(40)
        }
        stamp = placed.strftime("%Y-%m-%d %H:%M:%S+00:00")
        rows += [f"{k},{stamp},{o.email},{o.total}" for k, o in orders.items()]
        answer = await self._call(
            client,
            "POST",
            "/v1/imports?kind=orders",
            content=("\n".join(rows) + "\n").encode(),
            ok=(202,),
        )
        self.record.import_id = answer["import_id"]
        self.record.orders.update(orders)
        self.log(f"CSV import {self.record.import_id} queued (40 orders)")

    # -- HTTP with retries ---------------------------------------------------------
    async def _call(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        admin: bool = False,
        ok: tuple[int, ...] = (200,),
        extra: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """``path`` (on a front when relative) until an answer in ``ok``; retried with
        backoff across fronts while services, brokers or the database are down."""
        token = self.admin_token if admin else self.record.api_key
        head = {"Authorization": f"Bearer {token}", **(extra or {})}
        deadline, attempt, last = time.monotonic() + RETRY_FOR, 0, ""
        while time.monotonic() < deadline:
            url = path if path.startswith("http") else self.fronts[attempt % 2] + path
            try:
                answer = await client.request(method, url, headers=head, **kwargs)
                if answer.status_code in ok:
                    return answer.json() if answer.content else {}
                last = f"{answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            attempt += 1
            await asyncio.sleep(min(5.0, 0.25 * 2**attempt))
        raise RuntimeError(f"{method} {path} never succeeded: {last}")


def _journey() -> dict[str, Any]:
    return {
        "trigger": {"kind": "event", "event_type": "order.placed", "key_field": "data.order_id"},
        "re_entry": {"kind": "once"},
        "steps": [
            {"kind": "send", "id": "thanks", "channel": "email", "template_id": TEMPLATE_JOURNEY}
        ],
    }


def _generic_order(batch: int, i: int, now: datetime) -> dict[str, Any]:
    order_id = f"B-{batch}-{i}"
    return {
        "event_id": f"chaos-{order_id}",
        "type": "order.placed",
        "occurred_at": now.isoformat(),
        "identity": {"email": f"batch-{batch % 7}-{i}@chaos.example.jp"},
        "data": {
            "order_id": order_id,
            "placed_at": now.isoformat(),
            "currency": "JPY",
            "total": str(2000 + batch * 10 + i),
            "lines": [],
        },
    }
