"""CSV imports: UTF-8 and Shift_JIS, rejected rows with line numbers, duplicates
dropped, orders grouped, a 20,000-row file, and a crash resumed from the last commit."""

from __future__ import annotations

import asyncio
import time
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
