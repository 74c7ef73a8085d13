"""Big inputs at ingest's doors: each completes exactly or is refused with a reason,
and nothing else is affected (100 small webhooks right after all succeed).

* a real-shaped 1.9 MB Shopify order (a B2B order of 1,450 lines) is accepted,
  normalized, and its order.placed carries every line and the exact total;
* a webhook over the door's 3 MiB limit is refused with 413 and the limit;
* an 800 KB webhook the normalizer cannot map is dead-lettered whole, with the
  reason, and the normalizer goes on;
* a 5 MB generic batch event (an order of 4,000 lines) is accepted and published
  exactly; a batch over the API's 8 MiB limit is refused with 413 and the limit;
* a CSV file holding a 4,000-line order imports it as one exact order.placed;
* then 100 small webhooks from the same shop are each answered 200 and normalized.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from ingest_it import create_tenant, events_of, fixture_bytes, post_webhook, read_topic, unique

from crm_common.kafka import dead_letter_from_bytes
from crm_ingest.raw_record import parse_raw_record

pytestmark = pytest.mark.infra
MiB = 1024 * 1024


def _big_order(lines: int, order_id: int) -> dict[str, Any]:
    """The fixture order with ``lines`` line items shaped like a B2B order's."""
    order = orjson.loads(fixture_bytes("order.json"))
    template = order["line_items"][0]
    items = []
    for n in range(lines):
        item = dict(template)
        item.update(
            id=10_000_000 + n,
            variant_id=20_000_000 + n,
            title=f"業務用 緑茶ティーバッグ 100袋入り ロット{n:05d}",
            name=f"業務用 緑茶ティーバッグ 100袋入り ロット{n:05d} - 2.5g x 100",
            sku=f"B2B-TEA-{n:06d}",
            price="1200.00",
            quantity=1,
            properties=[
                {
                    "name": "納品先",
                    "value": f"第{n % 40 + 1}倉庫 東京都江東区新木場{n % 9 + 1}丁目",
                },
                {"name": "ロット番号", "value": f"L{n:08d}-2026-12"},
                {"name": "備考", "value": "常温保管・直射日光を避けてください。" * 12},
            ],
        )
        items.append(item)
    total = Decimal("1200.00") * lines
    order.update(
        id=order_id,
        name=f"#B2B{order_id}",
        line_items=items,
        total_price=str(total),
        subtotal_price=str(total),
        total_line_items_price=str(total),
        total_discounts="0.00",
        total_tax="0.00",
        tax_lines=[],
        shipping_lines=[],
        discount_codes=[],
    )
    return order


def _generic_order(order_id: str, lines: int) -> dict[str, Any]:
    """A generic API order.placed of ``lines`` lines with long Japanese titles."""
    title = "業務用 玉露 特上 深蒸し 一番摘み 100g 袋入り 化粧箱なし 産地直送 " * 14
    items = [
        {
            "sku": f"G-{n:06d}",
            "title": f"{title}{n}",
            "quantity": 1 + n % 3,
            "unit_price": {"amount": "1500", "currency": "JPY"},
        }
        for n in range(lines)
    ]
    total = sum(Decimal(1500) * item["quantity"] for item in items)
    return {
        "event_id": f"client-{order_id}",
        "type": "order.placed",
        "occurred_at": "2026-11-30T10:00:00+09:00",
        "identity": {"email": "b2b@example.jp", "external_ids": {"makeshop": "m-b2b"}},
        "data": {
            "order_id": order_id,
            "placed_at": "2026-11-30T10:00:00+09:00",
            "currency": "JPY",
            "total": str(total),
            "lines": items,
        },
    }


def _csv_order(order_id: str, lines: int) -> bytes:
    header = "受注番号,受注日時,顧客ID,合計金額,商品コード,商品名,数量,単価"
    total = 980 * lines
    rows = [
        f"{order_id},2026/11/30 10:00,M-CSV,{total},TEA-{n:05d},煎茶ティーバッグ{n}号,1,980"
        for n in range(lines)
    ]
    return ("\n".join([header, *rows]) + "\n").encode()


async def _import_finished(url: str, headers: dict[str, str], import_id: str) -> dict[str, Any]:
    for _ in range(600):
        report = httpx.get(f"{url}/v1/imports/{import_id}", headers=headers, timeout=30).json()
        if report["status"] in ("completed", "failed"):
            return report
        await asyncio.sleep(0.2)
    raise AssertionError(f"import {import_id} did not finish")


def _raw_webhook_id(value: bytes) -> str | None:
    try:
        return parse_raw_record(value).webhook_id
    except (ValueError, KeyError, TypeError):
        return None


async def test_big_inputs_complete_or_are_refused_and_small_ones_flow_after(ingest, infra) -> None:
    tenant = create_tenant(ingest.url)
    tenant_id = tenant["tenant_id"]

    order = _big_order(1_450, 5_550_001)
    body = orjson.dumps(order)
    assert 1_800_000 < len(body) < 2_000_000, len(body)
    answer = post_webhook(ingest.url, tenant, "orders/create", body, unique("wh-big"))
    assert answer.status_code == 200, answer.text

    too_big = orjson.dumps(_big_order(3_000, 5_550_002))
    assert len(too_big) > 3 * MiB
    refused = post_webhook(ingest.url, tenant, "orders/create", too_big, unique("wh-huge"))
    assert refused.status_code == 413
    assert refused.json()["error"]["message"] == f"request body over {3 * MiB} bytes"

    poison = _big_order(620, 5_550_003)
    poison["line_items"][250]["quantity"] = "many"
    poison_body = orjson.dumps(poison)
    assert 700_000 < len(poison_body) < 900_000, len(poison_body)
    poison_id = unique("wh-poison")
    assert (
        post_webhook(ingest.url, tenant, "orders/create", poison_body, poison_id).status_code == 200
    )

    api = {"Authorization": f"Bearer {tenant['api_key']}", "X-Cart-Platform": "makeshop"}
    generic = _generic_order("G-4000", 4_000)
    batch_body = orjson.dumps({"events": [generic, _generic_order("G-1", 1)]})
    assert 5 * MiB < len(batch_body) < 6 * MiB, len(batch_body)
    batch = httpx.post(
        f"{ingest.url}/v1/events/batch",
        content=batch_body,
        headers={**api, "Content-Type": "application/json"},
        timeout=120,
    )
    assert batch.status_code == 207, batch.text
    assert [r["status"] for r in batch.json()["results"]] == ["accepted", "accepted"]
    over = orjson.dumps({"events": [_generic_order(f"G-X{n}", 4_000) for n in range(2)]})
    assert len(over) > 8 * MiB
    too_much = httpx.post(
        f"{ingest.url}/v1/events/batch",
        content=over,
        headers={**api, "Content-Type": "application/json"},
        timeout=120,
    )
    assert too_much.status_code == 413
    assert too_much.json()["error"]["message"] == f"request body over {8 * MiB} bytes"

    created = httpx.post(
        f"{ingest.url}/v1/imports?kind=orders&source=makeshop",
        content=_csv_order("C-4000", 4_000),
        headers=api,
        timeout=60,
    )
    assert created.status_code == 202, created.text
    report = await _import_finished(ingest.url, api, created.json()["import_id"])
    assert (report["status"], report["progress"]["events"]) == ("completed", 1), report

    small = orjson.loads(fixture_bytes("order.json"))
    answers = []
    for n in range(100):
        small.update(id=6_000_000 + n, name=f"#S{n}")
        webhook = unique(f"wh-small-{n}")
        answers.append(
            post_webhook(ingest.url, tenant, "orders/create", orjson.dumps(small), webhook)
        )
    assert [a.status_code for a in answers] == [200] * 100

    def placed(events: list[Any]) -> dict[str, Any]:
        return {e.data.order_id: e for e in events if e.type == "order.placed"}

    events = await events_of(infra, tenant_id, lambda es: len(placed(es)) >= 104, timeout=180)
    orders = placed(events)
    small_ids = {str(6_000_000 + n) for n in range(100)}
    assert set(orders) == {"5550001", "G-4000", "G-1", "C-4000", *small_ids}
    big = orders["5550001"]
    assert len(big.data.lines) == 1_450
    assert big.data.total == Decimal("1740000.00")
    assert sum(line.unit_price.amount * line.quantity for line in big.data.lines) == big.data.total
    five = orders["G-4000"]
    assert [line.title for line in five.data.lines] == [
        i["title"] for i in generic["data"]["lines"]
    ]
    assert five.data.total == Decimal(generic["data"]["total"])
    from_csv = orders["C-4000"]
    assert len(from_csv.data.lines) == 4_000
    assert from_csv.data.total == Decimal(980 * 4_000)
    assert from_csv.data.lines[3_999].title == "煎茶ティーバッグ3999号"

    (letter,) = await read_topic(
        infra,
        "crm.dlq.v1",
        lambda ls: len(ls) >= 1,
        decode=lambda r: dead_letter_from_bytes(r.value),
        keep=lambda x: _raw_webhook_id(x.value) == poison_id,
    )
    assert letter.error.endswith("line_items[250].quantity: not an integer: 'many'")
    assert parse_raw_record(letter.value).body == poison_body
    ready = httpx.get(f"{ingest.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
