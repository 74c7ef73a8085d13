"""Load generator: a realistic shop's Shopify webhooks, signed and posted to ingest.

    python -m crm_ingest.loadgen --url http://127.0.0.1:8001 --admin-token dev-admin-token \\
        --customers 500 --days 365 --seed 1 --concurrency 16

Creates a tenant through the admin API (or uses --tenant/--shop/--secret), then sends
every webhook of the generated history in time order at the given concurrency.
Deterministic for a seed (the webhook ids too, so a rerun is deduplicated).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import Any

import httpx
import orjson
import typer

from crm_ingest.handlers.webhooks import sign
from crm_ingest.loadgen_shop import Shop, Webhook

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    url: str = typer.Option("http://127.0.0.1:8001", help="ingest base URL"),
    admin_token: str = typer.Option("dev-admin-token", envvar="INGEST_ADMIN_TOKEN"),
    customers: int = typer.Option(500, min=1),
    days: int = typer.Option(365, min=1),
    seed: int = typer.Option(1),
    concurrency: int = typer.Option(16, min=1),
    tenant: str | None = typer.Option(None, help="existing tenant id (with --shop, --secret)"),
    shop: str | None = typer.Option(None),
    secret: str | None = typer.Option(None),
    until: str | None = typer.Option(
        None,
        help="last day of the history (YYYY-MM-DD); default today, so 'last 30 days' "
        "segments have members",
    ),
) -> None:
    """Generate a shop's history and post it as signed Shopify webhooks."""
    end = date.fromisoformat(until) if until else datetime.now(UTC).date()
    history = Shop(seed, customers, days, datetime.combine(end, clock_time(), UTC)).webhooks()
    if tenant is None:
        tenant, shop, secret, api_key = _create_tenant(url, admin_token, seed)
        typer.echo(f"tenant {tenant}  shop {shop}  api key {api_key}")
    elif not (shop and secret):
        raise typer.BadParameter("--tenant needs --shop and --secret")
    started = time.perf_counter()
    statuses = asyncio.run(_send(url, shop, secret, history, concurrency))
    elapsed = time.perf_counter() - started
    typer.echo(f"sent {len(history)} webhooks in {elapsed:.1f}s ({len(history) / elapsed:.0f}/s)")
    for topic, count in sorted(Counter(w.topic for w in history).items()):
        typer.echo(f"  {topic:<20} {count}")
    typer.echo(f"answers: {dict(sorted(Counter(statuses).items()))}")
    typer.echo(f"tenant_id={tenant}")


def _create_tenant(url: str, admin_token: str, seed: int) -> tuple[str, str, str, str]:
    shop = f"tea-{seed}-{int(time.time())}.myshopify.com"
    secret = f"loadgen-secret-{seed}-{time.time_ns()}"
    response = httpx.post(
        f"{url}/admin/tenants",
        json={"name": f"お茶の店 {seed}", "shop_domains": [shop], "webhook_secrets": [secret]},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    return body["tenant_id"], shop, secret, body["api_key"]


async def _send(
    url: str, shop: str, secret: str, history: list[Webhook], concurrency: int
) -> list[int]:
    queue: asyncio.Queue[Webhook] = asyncio.Queue()
    for webhook in history:
        queue.put_nowait(webhook)
    statuses: list[int] = []
    async with httpx.AsyncClient(timeout=30) as client:
        workers = [_worker(client, url, shop, secret, queue, statuses) for _ in range(concurrency)]
        await asyncio.gather(*workers)
    return statuses


async def _worker(
    client: httpx.AsyncClient,
    url: str,
    shop: str,
    secret: str,
    queue: asyncio.Queue[Webhook],
    statuses: list[int],
) -> None:
    while not queue.empty():
        webhook = queue.get_nowait()
        body = orjson.dumps(webhook.body)
        response = await client.post(
            f"{url}/webhooks/shopify", content=body, headers=headers(webhook, shop, secret, body)
        )
        statuses.append(response.status_code)


def headers(webhook: Webhook, shop: str, secret: str, body: bytes) -> dict[str, Any]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Topic": webhook.topic,
        "X-Shopify-Webhook-Id": webhook.webhook_id,
        "X-Shopify-Event-Id": webhook.webhook_id,
        "X-Shopify-Triggered-At": webhook.at.isoformat(),
        "X-Shopify-API-Version": "2024-10",
    }


if __name__ == "__main__":
    app()
