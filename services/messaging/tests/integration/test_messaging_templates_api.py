"""Template CRUD with validation, preview with real data, idempotent enqueue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from messaging_it import Harness, until
from messaging_it import person_traits as traits

from crm_common.events import Identity, Money, OrderData, OrderLine, OrderPlaced
from crm_messaging.tables import orders

pytestmark = pytest.mark.infra


def _order(tenant_id: str, order_id: str, email: str, products: list[str]) -> OrderPlaced:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    lines = [
        OrderLine(
            product_id=p,
            title=f"商品{p}",
            quantity=1,
            unit_price=Money(amount=Decimal(1000), currency="JPY"),
        )
        for p in products
    ]
    return OrderPlaced(
        event_id=f"op-{tenant_id}-{order_id}",
        tenant_id=tenant_id,
        source="test",
        occurred_at=now,
        received_at=now,
        identity=Identity(email=email),
        data=OrderData(
            order_id=order_id, placed_at=now, currency="JPY", total=Decimal(1000), lines=lines
        ),
    )


async def test_template_validation_names_the_part_and_line(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant()
    bad = await h.client.post(
        "/v1/templates",
        json={
            "name": "broken",
            "channel": "email",
            "parts": {"subject": "hi", "html": "<p>ok</p>\n{% for x in items %}\n<p>{{ x }}</p>"},
        },
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "invalid_request"
    assert [(d["path"], d["line"]) for d in error["details"]] == [("parts.html", 3)]
    assert error["message"].startswith("parts.html: line 3: ")
    missing = await h.client.post(
        "/v1/templates",
        json={"name": "sms", "channel": "sms", "parts": {"body": "x"}},
        headers=tenant.headers,
    )
    assert [(d["path"], d["message"]) for d in missing.json()["error"]["details"]] == [
        ("parts.text", "required part is missing"),
        ("parts.body", "unknown part"),
    ]


async def test_template_versions_enqueue_and_delete(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant()
    await h.profiles(tenant, {"tv-1": traits(601)})
    created = await h.client.post(
        "/v1/templates",
        json={
            "template_id": "welcome",
            "name": "Welcome",
            "channel": "email",
            "parts": {"subject": "v1", "text": "one"},
        },
        headers=tenant.headers,
    )
    assert (created.status_code, created.json()["version"]) == (201, 1)
    updated = await h.client.put(
        "/v1/templates/welcome",
        json={"parts": {"subject": "v2", "text": "two"}},
        headers=tenant.headers,
    )
    assert (updated.json()["version"], updated.json()["name"]) == (2, "Welcome")
    body = {"source_id": "w-1", "profile_id": "tv-1", "channel": "email", "template_id": "welcome"}
    first = await h.client.post(
        "/v1/messages", json=body | {"source_kind": "manual"}, headers=tenant.headers
    )
    again = await h.client.post(
        "/v1/messages", json=body | {"source_kind": "manual"}, headers=tenant.headers
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["message_id"] == again.json()["message_id"]
    assert (first.json()["template_id"], first.json()["template_version"]) == ("welcome", 2)
    wrong = await h.client.post(
        "/v1/messages",
        json=body | {"source_kind": "manual", "channel": "sms", "source_id": "w-2"},
        headers=tenant.headers,
    )
    assert (wrong.status_code, wrong.json()["error"]["details"][0]["path"]) == (422, "template_id")
    listed = await h.client.get("/v1/templates", headers=tenant.headers)
    assert [(t["template_id"], t["version"]) for t in listed.json()["items"]] == [("welcome", 2)]
    assert (
        await h.client.delete("/v1/templates/welcome", headers=tenant.headers)
    ).status_code == 204
    assert (await h.client.get("/v1/templates/welcome", headers=tenant.headers)).status_code == 404
    # The queued message keeps its pinned version and is still sent.
    await h.dispatch()
    assert (await h.message(tenant, first.json()["message_id"]))["state"] == "sent"
    events = await h.events(
        tenant.tenant_id, lambda found: "message.sent" in {e.type for e in found}
    )
    assert [e.type for e in events] == ["message.queued", "message.sent"]


async def test_preview_renders_real_data_recommendations_and_reports_missing(
    harness: Harness,
) -> None:
    h = harness
    tenant = await h.tenant()
    await h.profiles(tenant, {"pv-1": traits(701, rfm_rank="A")})
    history = [
        ("o1", "hanako701@example.jp", ["A"]),
        ("o2", "x1@example.jp", ["A", "B"]),
        ("o3", "x2@example.jp", ["A", "C"]),
        ("o4", "x3@example.jp", ["A", "B"]),
        ("o5", "x4@example.jp", ["D"]),
    ]
    for order_id, email, products in history:
        await h.producer.send_event(
            "crm.events.v1", _order(tenant.tenant_id, order_id, email, products)
        )

    async def consumed() -> bool:
        async with h.db.transaction() as s:
            rows = await s.execute(orders.select().where(orders.c.tenant_id == tenant.tenant_id))
            return len(rows.all()) == len(history)

    await until(consumed)
    await h.client.post(
        "/v1/templates",
        json={
            "template_id": "reco",
            "name": "Reco",
            "channel": "line",
            "parts": {
                "text": "{{ profile.last_name }}様 ({{ traits.rfm_rank }}) "
                "{% for r in recommendations %}{{ r.title }} {% endfor %}"
                "{{ coupon_code }} {{ profile.nickname }}"
            },
        },
        headers=tenant.headers,
    )
    preview = await h.client.post(
        "/v1/templates/reco/preview", json={"profile_id": "pv-1"}, headers=tenant.headers
    )
    assert preview.status_code == 200
    assert preview.json() == {
        "parts": {"text": "山田様 (A) 商品B 商品C 商品D  "},
        "missing_variables": ["coupon_code", "profile.nickname"],
        "links": [],
        "recommendations": [
            {"product_id": "B", "title": "商品B"},
            {"product_id": "C", "title": "商品C"},
            {"product_id": "D", "title": "商品D"},
        ],
    }
    unknown = await h.client.post(
        "/v1/templates/reco/preview", json={"profile_id": "nobody"}, headers=tenant.headers
    )
    assert unknown.status_code == 404


async def test_send_log_pages_with_a_cursor_and_metrics_are_exposed(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant()
    await h.profiles(tenant, {"log-1": traits(801, consent_email="never")})
    ids = set()
    for n in range(5):
        m = await h.enqueue(
            tenant,
            source_id=f"log-{n}",
            profile_id="log-1",
            channel="email",
            template={"subject": "s", "text": "t"},
        )
        ids.add(m["message_id"])
    await h.dispatch()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"profile_id": "log-1", "status": "skipped", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await h.client.get("/v1/messages", params=params, headers=tenant.headers)).json()
        seen += [m["message_id"] for m in page["items"]]
        assert {(m["state"], m["reason"]) for m in page["items"]} <= {("skipped", "no_consent")}
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (len(seen), set(seen)) == (5, ids)
    bad = await h.client.get("/v1/messages", params={"cursor": "!!"}, headers=tenant.headers)
    assert (bad.status_code, bad.json()["error"]["details"][0]["path"]) == (422, "query.cursor")
    unauthorized = await h.client.get("/v1/messages")
    assert unauthorized.status_code == 401
    metrics = (await h.client.get("/metrics")).text
    assert 'crm_messaging_messages_total{channel="email",reason="no_consent",state="skipped"}' in (
        metrics
    )
    assert "crm_messaging_queued_to_sent_seconds_bucket" in metrics
    assert "crm_messaging_provider_call_seconds_bucket" in metrics
