"""The customer page as a marketer reads it: grouped facts under ja/en labels, money
and dates in the tenant's currency and time zone, one timeline line per fact."""

from __future__ import annotations

import pytest
from dashboard_it import signed_in

from crm_dashboard.customer_view import Line, groups, timeline

pytestmark = pytest.mark.infra

PROFILE = {
    "profile_id": "p_read",
    "resolved_from_alias": False,
    "identifiers": [
        {"kind": "email", "value": "hanako@example.jp"},
        {"kind": "shopify", "value": "shopify:42"},
    ],
    "consents": {
        "email": {"state": "subscribed", "source": "shopify", "at": "2026-11-01T00:00:00Z"},
        "sms": {"state": "unsubscribed", "source": "shopify", "at": "2026-11-02T15:30:00Z"},
    },
    "suppressions": [],
    "attributes": {
        "last_name": "山田",
        "first_name": "花子",
        "phone": "+819012345678",
        "address": {"postal_code": "100-0001", "prefecture": "東京都", "city": "千代田区"},
    },
    "traits": {
        "currency": "JPY",
        "orders_count": 3,
        "total_spent": "12710",
        "average_order_value": "4237",
        "last_order_at": "2026-11-30T16:00:00Z",
        "rfm_rank": "A",
        "rfm_recency": 5,
        "f_stage": "F3+",
        "churn_risk": "0.25",
        "last_opened_at": "2026-12-01T01:00:00Z",
        "subscription_status": "none",
        "subscription_cycle": 0,
        "loyalty_tier": "gold",
        # as profile answers them: flattened bookkeeping and free-form properties
        "acquisition_source_name": "web",
        "acquisition_utm_source": "instagram",
        "consent_email": "subscribed",
        "contactable_email": True,
        "has_email": True,
        "deleted": False,
        "properties": {"note": "フリガナ: ヤマダ ハナコ"},
    },
}
UPSERT = {
    "type": "customer.upserted",
    "occurred_at": "2026-12-01T02:00:00Z",
    "source": "shopify",
    "summary": {"fields": ["email", "first_name"], "consents": []},
}
TIMELINE = [
    {**UPSERT, "event_id": "e1"},
    {**UPSERT, "event_id": "e2"},
    {**UPSERT, "event_id": "e3"},
    {
        "event_id": "e4",
        "type": "order.placed",
        "occurred_at": "2026-11-30T16:00:00Z",
        "source": "shopify",
        "summary": {"order_id": "o1", "order_number": "1037", "total": "2710", "currency": "JPY"},
    },
    {
        "event_id": "e5",
        "type": "message.opened",
        "occurred_at": "2026-11-29T00:00:00Z",
        "source": "messaging",
        "summary": {"channel": "email", "message_id": "m1"},
    },
]


def _routes(console) -> None:  # type: ignore[no-untyped-def]
    routes = console.fake.routes
    routes[("GET", "/v1/profiles/p_read")] = (200, PROFILE)
    routes[("GET", "/v1/profiles/p_read/timeline")] = (200, {"items": TIMELINE})
    routes[("GET", "/v1/profiles/p_read/orders")] = (200, {"items": []})
    routes[("GET", "/v1/profiles/p_read/segments")] = (200, {"segments": []})
    routes[("GET", "/v1/messages")] = (200, {"items": []})
    routes[("GET", "/v1/journeys")] = (200, {"items": []})


def _section(html: str, key: str) -> str:
    start = html.index(f'<section id="group-{key}">')
    return html[start : html.index("</section>", start)]


async def test_a_marketer_reads_the_customer_in_japanese(console) -> None:
    _routes(console)
    async with signed_in(console, "marketer") as (client, _):
        page = await client.get("/customers/p_read")
    html = page.text
    assert page.status_code == 200
    assert "山田 花子" in html.split("</h1>", 1)[0]
    contact = _section(html, "contact")
    assert "メールアドレス" in contact and "hanako@example.jp" in contact
    assert "〒100-0001 東京都 千代田区" in contact
    purchases = _section(html, "purchases")
    assert ("累計購入額" in purchases and "￥12,710" in purchases) or "¥12,710" in purchases
    assert "2026-12-01 01:00" in purchases  # 16:00 UTC is the next day in Tokyo
    assert "離反リスク" in _section(html, "rfm") and "25.0%" in _section(html, "rfm")
    assert "最終開封" in _section(html, "engagement")
    assert "定期購入" not in html  # never subscribed: not shown
    assert "loyalty_tier" in _section(html, "other")
    assert "web / instagram" in purchases
    assert "contactable_email" not in html and "フリガナ" not in html
    assert "同意済み" in html and "配信停止" in html
    rows = html.split('id="timeline"', 1)[1].split("</table>", 1)[0]
    assert rows.count('data-type="customer.upserted"') == 1 and "×3" in rows
    assert "注文 #1037 ¥2,710" in rows
    assert "メール を開封" in rows
    assert "customer.upserted" not in rows.replace('data-type="customer.upserted"', "")


async def test_the_customer_page_in_english(console) -> None:
    _routes(console)
    async with signed_in(console, "viewer") as (client, csrf):
        await client.post("/lang", data={"lang": "en", "next": "/", "csrf_token": csrf})
        page = await client.get("/customers/p_read")
    html = page.text
    assert "Total spent" in _section(html, "purchases") and "¥12,710" in html
    assert "Churn risk" in html and "Contact" in html
    assert "Order #1037 ¥2,710" in html and "Customer details updated" in html


def test_groups_and_timeline_lines() -> None:
    found = {g.key: [r.label for r in g.rows] for g in groups(PROFILE)}
    assert list(found) == ["contact", "purchases", "rfm", "engagement", "other"]
    assert found["contact"] == ["Name", "Email", "Phone", "Address"]
    assert found["other"] == ["loyalty_tier"]  # no bookkeeping, no free-form properties
    purchases = {r.label: r.value for g in groups(PROFILE) if g.key == "purchases" for r in g.rows}
    assert purchases["Acquired through"] == {"source_name": "web", "utm_source": "instagram"}
    assert "Subscription" not in found["engagement"]
    lines = timeline(TIMELINE)
    assert [(x.type, x.times) for x in lines] == [
        ("customer.upserted", 3),
        ("order.placed", 1),
        ("message.opened", 1),
    ]
    assert lines[1] == Line(
        "2026-11-30T16:00:00Z",
        "order.placed",
        "order.placed",
        {"number": "1037", "amount": "2710", "currency": "JPY"},
    )
    apart = timeline([TIMELINE[0], TIMELINE[3], TIMELINE[1]])
    assert [x.times for x in apart] == [1, 1, 1]  # only repeats in a row are one fact
