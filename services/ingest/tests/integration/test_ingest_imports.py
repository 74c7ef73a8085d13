"""CSV imports: UTF-8 and Shift_JIS, rejected rows with line numbers, duplicates
dropped, orders grouped, a 4,000-line order and one over the cap, the same facts
through several uploads, a 20,000-row file, and a crash resumed from the last commit."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from ingest_it import create_tenant, events_of
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.infra

CUSTOMERS = (
    "会員ID,メールアドレス,姓,名,電話番号,都道府県,郵便番号\n"
    "M1,Taro@Example.jp,山田,太郎,090-1234-5678,東京都,100-0001\n"
    "M2,not-an-email,佐藤,花子,,大阪,530-0001\n"
    "M1,Taro@Example.jp,山田,太郎,090-1234-5678,東京都,100-0001\n"
    "Ｍ３,ｊｉｒｏ@example.jp,鈴木,次郎,０３-１２３４-５６７８,北海道,０６０-０００１\n"
    "M3,jiro@example.jp,鈴木,次郎,03-1234-5678,北海道,060-0001\n"
)


def _auth(tenant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant['api_key']}"}


async def _finished(url: str, tenant: dict[str, Any], import_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/v1/imports/{import_id}", headers=_auth(tenant), timeout=30).json()
        if body["status"] in ("completed", "failed"):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"import {import_id} not finished: {body}")


@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
async def test_customer_csv_in_either_encoding(ingest, infra, encoding) -> None:
    tenant = create_tenant(ingest.url)
    data = CUSTOMERS.encode("cp932" if encoding == "shift_jis" else "utf-8")
    if encoding == "utf-8":  # multipart upload, encoding detected
        created = httpx.post(
            f"{ingest.url}/v1/imports?kind=customers",
            files={"file": ("customers.csv", data, "text/csv")},
            headers=_auth(tenant),
        )
    else:  # raw body, encoding given
        created = httpx.post(
            f"{ingest.url}/v1/imports?kind=customers&encoding=shift_jis",
            content=data,
            headers={**_auth(tenant), "X-Cart-Platform": "makeshop"},
        )
    assert created.status_code == 202

    report = await _finished(ingest.url, tenant, created.json()["import_id"])

    assert (report["status"], report["encoding"]) == (
        "completed",
        "utf-8" if encoding == "utf-8" else "cp932",
    )
    assert report["progress"] == {
        "rows_read": 5,
        "accepted": 2,
        "rejected": 1,
        "duplicates": 2,
        "events": 2,
    }
    assert report["rejected_rows"]["items"] == [
        {"line": 3, "reason": "メールアドレス: not an email address: 'not-an-email'"}
    ]
    events = await events_of(infra, tenant["tenant_id"], lambda es: len(es) >= 2)
    found = sorted((e.data.email, e.data.phone, e.data.address.prefecture) for e in events)
    assert found == [
        ("jiro@example.jp", "+81312345678", "北海道"),
        ("taro@example.jp", "+819012345678", "東京都"),
    ]
    source = "csv" if encoding == "utf-8" else "makeshop"
    assert {e.source for e in events} == {source}


async def test_order_rows_group_into_orders(ingest, infra) -> None:
    tenant = create_tenant(ingest.url)
    csv_text = (
        "受注番号,受注日時,メールアドレス,合計金額,商品コード,商品名,数量,単価\n"
        "1001,2024/06/01 10:00,a@example.jp,3300,TEA-1,煎茶,2,1100\n"
        "1001,2024/06/01 10:00,a@example.jp,3300,TEA-2,ほうじ茶,1,1100\n"
        "1002,2024/06/02 11:30,b@example.jp,abc,TEA-1,煎茶,1,1100\n"
        "1003,2024/06/03 09:15,b@example.jp,1100,TEA-1,煎茶,1,1100\n"
    )
    created = httpx.post(
        f"{ingest.url}/v1/imports?kind=orders", content=csv_text.encode(), headers=_auth(tenant)
    )

    report = await _finished(ingest.url, tenant, created.json()["import_id"])

    assert report["progress"] == {
        "rows_read": 4,
        "accepted": 3,
        "rejected": 1,
        "duplicates": 0,
        "events": 2,
    }
    assert [r["line"] for r in report["rejected_rows"]["items"]] == [4]
    events = await events_of(infra, tenant["tenant_id"], lambda es: len(es) >= 2)
    orders = sorted((e.data.order_id, [ln.sku for ln in e.data.lines]) for e in events)
    assert orders == [("1001", ["TEA-1", "TEA-2"]), ("1003", ["TEA-1"])]


def _order_rows(order_id: str, lines: int, customer: str) -> tuple[list[str], Decimal]:
    prices = [Decimal(980 + 10 * (i % 9)) for i in range(lines)]
    quantities = [1 + i % 3 for i in range(lines)]
    total = sum((p * q for p, q in zip(prices, quantities, strict=True)), Decimal(0))
    rows = [
        f"{order_id},2024/06/01 10:00,{customer},{total},TEA-{i:05d},煎茶ティーバッグ{i}号,"
        f"{quantities[i]},{prices[i]}"
        for i in range(lines)
    ]
    return rows, total


async def _probed_import(url: str, tenant: dict[str, Any], import_id: str) -> tuple[Any, float]:
    """Wait for the import while timing ``/healthz``: the worst answer time while the
    import ran (an event loop blocked by CPU work answers late)."""
    worst, deadline = 0.0, time.monotonic() + 300
    while time.monotonic() < deadline:
        started = time.monotonic()
        assert httpx.get(f"{url}/healthz", timeout=300).status_code == 200
        worst = max(worst, time.monotonic() - started)
        body = httpx.get(f"{url}/v1/imports/{import_id}", headers=_auth(tenant), timeout=300).json()
        if body["status"] in ("completed", "failed"):
            return body, worst
        await asyncio.sleep(0.05)
    raise AssertionError(f"import {import_id} not finished")


async def test_a_4000_line_order_imports_exactly_and_one_over_the_cap_is_rejected(
    ingest, infra
) -> None:
    tenant = create_tenant(ingest.url)
    big, big_total = _order_rows("L-4000", 4_000, "M1")
    over, _ = _order_rows("X-5001", 5_001, "M2")
    first, _ = _order_rows("S-1", 1, "M3")
    last, _ = _order_rows("S-2", 1, "M3")
    header = "受注番号,受注日時,顧客ID,合計金額,商品コード,商品名,数量,単価"
    body = "\n".join([header, *first, *big, *over, *last]) + "\n"
    started = time.monotonic()
    created = httpx.post(
        f"{ingest.url}/v1/imports?kind=orders&encoding=shift_jis",
        content=body.encode("cp932"),
        headers=_auth(tenant),
        timeout=60,
    )

    report, worst_healthz = await _probed_import(ingest.url, tenant, created.json()["import_id"])
    elapsed = time.monotonic() - started

    print(f"9,003-row import: {elapsed:.1f}s, slowest /healthz {worst_healthz:.3f}s")
    assert report["status"] == "completed", report
    assert report["progress"] == {
        "rows_read": 9_003,
        "accepted": 4_002,
        "rejected": 1,
        "duplicates": 0,
        "events": 3,
    }
    assert report["rejected_rows"]["items"] == [
        {
            "line": 4_003,
            "reason": "order 'X-5001' has 5,001 lines; at most 5,000 lines per order are accepted",
        }
    ]
    # The event loop kept answering (grouping on it stalled it for 144 s at 4,000 lines);
    # the bound is loose on purpose: it tells "off the loop" from "on it", not speed.
    assert worst_healthz < 15.0
    events = await events_of(infra, tenant["tenant_id"], lambda es: len(es) >= 3, timeout=120)
    orders = {e.data.order_id: e for e in events}
    assert sorted(orders) == ["L-4000", "S-1", "S-2"]
    placed = orders["L-4000"]
    assert placed.type == "order.placed"
    assert len(placed.data.lines) == 4_000
    assert placed.data.total == big_total
    assert sum(ln.unit_price.amount * ln.quantity for ln in placed.data.lines) == big_total
    assert placed.data.lines[3_999].title == "煎茶ティーバッグ3999号"


ORDERS = "受注番号,受注日時,メールアドレス,合計金額,入金状況,商品コード,商品名,数量,単価\n"
ORDER_1001 = (
    "1001,2024/06/01 10:00,a@example.jp,3300,入金済み,TEA-1,煎茶,2,1100\n"
    "1001,2024/06/01 10:00,a@example.jp,3300,入金済み,TEA-2,ほうじ茶,1,1100\n"
)


def _upload_orders(url: str, tenant: dict[str, Any], csv_text: str, name: str) -> str:
    created = httpx.post(
        f"{url}/v1/imports?kind=orders",
        files={"file": (name, csv_text.encode(), "text/csv")},
        headers=_auth(tenant),
        timeout=30,
    )
    assert created.status_code == 202, created.text
    return str(created.json()["import_id"])


async def test_the_same_orders_through_two_uploads_are_placed_once(ingest, infra) -> None:
    tenant = create_tenant(ingest.url)
    first = (
        ORDERS + ORDER_1001 + "1002,2024/06/02 11:30,b@example.jp,2200,入金待ち,TEA-3,玉露,1,2200\n"
    )
    second = (  # a later export: new orders around them, 1002 paid with a coupon
        ORDERS
        + "0999,2024/05/31 09:00,c@example.jp,1100,入金済み,TEA-1,煎茶,1,1100\n"
        + ORDER_1001
        + "1002,2024/06/02 11:30,b@example.jp,2000,入金済み,TEA-3,玉露,1,2200\n"
        + "1003,2024/06/03 08:00,c@example.jp,0,入金済み,GIFT-1,試供品,1,0\n"
    )

    reports = []
    for csv_text, name in (
        (first, "orders.csv"),
        (second, "orders-2024-06.csv"),
        (second, "again.csv"),
    ):
        import_id = _upload_orders(ingest.url, tenant, csv_text, name)
        reports.append(await _finished(ingest.url, tenant, import_id))

    assert [r["progress"]["events"] for r in reports] == [2, 3, 0]
    assert [r["progress"]["accepted"] for r in reports] == [3, 5, 5]
    events = await events_of(
        infra, tenant["tenant_id"], lambda es: len({e.event_id for e in es}) >= 5
    )
    placed: dict[str, set[str]] = {}
    for e in (e for e in events if e.type == "order.placed"):
        placed.setdefault(e.data.order_id, set()).add(e.event_id)
    assert {order: len(ids) for order, ids in placed.items()} == {
        "0999": 1,
        "1001": 1,
        "1002": 1,
        "1003": 1,
    }
    assert {
        e.data.total for e in events if e.type == "order.placed" and e.data.order_id == "1002"
    } == {Decimal("2200")}
    [update] = {e.event_id: e for e in events if e.type == "order.updated"}.values()
    assert (update.data.order_id, update.data.total, update.data.financial_status) == (
        "1002",
        Decimal("2000"),
        "入金済み",
    )
    assert update.occurred_at > update.data.placed_at  # stamped with the later upload: it wins
    assert {e.data.total for e in events if e.data.order_id == "1003"} == {Decimal("0")}


async def test_customers_imported_again_publish_only_what_changed(ingest, infra) -> None:
    tenant = create_tenant(ingest.url)
    changed = CUSTOMERS.replace("鈴木,次郎,03-1234-5678", "鈴木,次郎,03-9999-0000")

    reports = []
    for csv_text in (CUSTOMERS, changed):
        created = httpx.post(
            f"{ingest.url}/v1/imports?kind=customers",
            content=csv_text.encode(),
            headers=_auth(tenant),
        )
        reports.append(await _finished(ingest.url, tenant, created.json()["import_id"]))

    assert [r["progress"]["events"] for r in reports] == [2, 1]
    events = await events_of(
        infra, tenant["tenant_id"], lambda es: len({e.event_id for e in es}) >= 3
    )
    phones = sorted(
        (e.data.customer_id, e.data.phone) for e in {e.event_id: e for e in events}.values()
    )
    assert phones == [("M1", "+819012345678"), ("M3", "+81312345678"), ("M3", "+81399990000")]


def _big_customers(rows: int) -> bytes:
    lines = ["会員ID,メールアドレス,姓,名,電話番号,都道府県"]
    for i in range(rows):
        lines.append(f"C{i},user{i}@example.jp,山田,太郎{i % 50},090{i:08d},東京都")
        if i % 1000 == 999:  # one exact duplicate per thousand
            lines.append(lines[-1])
    return ("\n".join(lines) + "\n").encode("cp932")


async def test_twenty_thousand_rows_survive_a_crash_mid_import(ingest, infra) -> None:
    tenant = create_tenant(ingest.url)
    created = httpx.post(
        f"{ingest.url}/v1/imports?kind=customers",
        content=_big_customers(20_000),
        headers=_auth(tenant),
        timeout=60,
    )
    import_id = created.json()["import_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for the first committed chunk
        report = httpx.get(f"{ingest.url}/v1/imports/{import_id}", headers=_auth(tenant)).json()
        if report["progress"]["rows_read"] > 0:
            break
        await asyncio.sleep(0.05)
    ingest.kill()
    ingest.start()  # a stale import is taken over after INGEST_IMPORT_STALE_SECONDS

    report = await _finished(ingest.url, tenant, import_id, timeout=180)

    assert report["status"] == "completed"
    assert report["progress"] == {
        "rows_read": 20_020,
        "accepted": 20_000,
        "rejected": 0,
        "duplicates": 20,
        "events": 20_000,
    }
    events = await events_of(infra, tenant["tenant_id"], lambda es: len(es) >= 20_000, timeout=120)
    assert len({e.event_id for e in events}) == 20_000  # the relay may re-publish a batch
    # Committed chunks were not redone after the crash: one outbox row per event.
    assert await _outbox_rows(infra, tenant["tenant_id"]) == (20_000, 20_000)


async def _outbox_rows(infra: Any, tenant_id: str) -> tuple[int, int]:
    engine = create_async_engine(infra.pg_url())
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT count(*), count(DISTINCT event_id) FROM ingest.outbox "
                        "WHERE topic = 'crm.events.v1' AND key LIKE :prefix"
                    ),
                    {"prefix": f"{tenant_id}:%"},
                )
            ).one()
            return int(row[0]), int(row[1])
    finally:
        await engine.dispose()
