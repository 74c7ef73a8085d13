"""Every page renders from the services' answers, and a failing service becomes an
error panel for its widget (never a crash); Japanese by default for Asia/Tokyo."""

from __future__ import annotations

import json

import httpx
import pytest
from dashboard_it import CSRF, grant_of, sign_in, signed_in

pytestmark = pytest.mark.infra

OVERVIEW = {
    "currency": "JPY",
    "customers": 1500,
    "buyers": 900,
    "repeat_buyers": 300,
    "f2_conversion_rate": "0.3333",
    "average_ltv": "12500",
    "revenue_by_month": [
        {"month": "2026-10", "revenue": "120000", "orders": 40},
        {"month": "2026-11", "revenue": "98000", "orders": 31},
    ],
    "ltv_by_source": [
        {"source": "instagram", "customers": 10, "average_ltv": "9000", "revenue": "90000"}
    ],
}
RFM = {
    "grid": [
        {"r": r, "f": f, "customers": r * f, "revenue": str(r * f * 1000)}
        for r in range(1, 6)
        for f in range(1, 6)
    ],
    "ranks": [
        {"rank": k, "customers": n, "revenue": "1000"}
        for k, n in zip("ABCDE", [5, 10, 20, 30, 35], strict=True)
    ],
    "thresholds": {},
}
MOVES = {
    "since": "2026-10-01",
    "moves": [
        {"from_rank": "B", "to_rank": "A", "customers": 4},
        {"from_rank": "A", "to_rank": "A", "customers": 7},
        {"from_rank": "A", "to_rank": "C", "customers": 2},
        {"from_rank": None, "to_rank": "E", "customers": 9},
    ],
}
PROFILE = {
    "profile_id": "p_1",
    "resolved_from_alias": False,
    "identifiers": [{"kind": "email", "value": "hanako@example.jp"}],
    "consents": {
        "email": {"state": "subscribed", "source": "shopify", "at": "2026-11-01T00:00:00Z"}
    },
    "suppressions": [],
    "attributes": {"last_name": "山田", "first_name": "花子"},
    "traits": {"orders_count": 3, "rfm_rank": "A", "f_stage": "F3+"},
}


def route(console, method: str, path: str, status: int, body) -> None:  # type: ignore[no-untyped-def]
    console.fake.routes[(method, path)] = (status, body)


async def test_overview_and_rfm_pages_draw_charts_and_tables(console) -> None:
    route(console, "GET", "/v1/analytics/overview", 200, OVERVIEW)
    route(console, "GET", "/v1/analytics/rfm", 200, RFM)
    route(console, "GET", "/v1/analytics/rank-movement", 200, MOVES)
    async with signed_in(console, "viewer") as (client, _):
        overview = await client.get("/")
        rfm = await client.get("/rfm?since=2026-10-01")
    assert overview.status_code == 200
    assert '<span class="value" id="kpi-customers">1,500</span>' in overview.text
    assert "33.3%" in overview.text and "<svg" in overview.text and "instagram" in overview.text
    assert "F2 転換率" in overview.text  # the Tokyo tenant reads Japanese by default
    assert rfm.status_code == 200
    assert "上昇: 4 · 維持: 7 · 下降: 2" in rfm.text
    asked = [r for r in console.fake.calls if r.url.path == "/v1/analytics/rank-movement"]
    assert asked[-1].url.params["since"] == "2026-10-01"


async def test_a_failing_service_is_an_error_panel_not_a_crash(console) -> None:
    route(
        console,
        "GET",
        "/v1/analytics/overview",
        503,
        {"error": {"code": "x", "message": "database down"}},
    )
    async with signed_in(console, "viewer") as (client, _):
        page = await client.get("/")
        segments = await client.get("/segments")  # segment routes are not faked: 404s
        journeys = await client.get("/journeys")
    assert page.status_code == 200
    assert 'class="panel error" role="alert"' in page.text and "database down" in page.text
    assert segments.status_code == 200 and 'role="alert"' in segments.text
    assert journeys.status_code == 200 and 'role="alert"' in journeys.text


async def test_customer_search_and_customer_page(console) -> None:
    route(console, "GET", "/v1/profiles", 200, {"items": [PROFILE]})
    route(console, "GET", "/v1/profiles/p_1", 200, PROFILE)
    route(
        console,
        "GET",
        "/v1/profiles/p_1/timeline",
        200,
        {
            "items": [
                {
                    "event_id": "e1",
                    "type": "order.placed",
                    "occurred_at": "2026-11-02T10:00:00Z",
                    "source": "shopify",
                    "summary": {"total": "5000"},
                },
            ]
        },
    )
    route(console, "GET", "/v1/profiles/p_1/orders", 200, {"items": []})
    route(
        console,
        "GET",
        "/v1/profiles/p_1/segments",
        200,
        {
            "profile_id": "p_1",
            "segments": [
                {
                    "segment_id": "s1",
                    "name": "優良顧客",
                    "kind": "dynamic",
                    "entered_at": "2026-11-03T00:00:00Z",
                },
            ],
        },
    )
    route(console, "GET", "/v1/messages", 200, {"items": [], "next_cursor": None})
    route(
        console,
        "GET",
        "/v1/journeys",
        200,
        {"items": [{"id": "j1", "name": "カゴ落ち", "status": "live"}]},
    )
    route(
        console,
        "GET",
        "/v1/journeys/j1/runs",
        200,
        {
            "items": [
                {
                    "run_id": "r1",
                    "status": "active",
                    "current_step_id": "wait_1",
                    "entered_at": "2026-11-04T00:00:00Z",
                }
            ]
        },
    )
    async with signed_in(console, "viewer") as (client, _):
        found = await client.get("/customers?q=hanako@example.jp")
        page = await client.get("/customers/p_1")
    assert '<a href="/customers/p_1">p_1</a>' in found.text
    lookup = [r for r in console.fake.calls if r.url.path == "/v1/profiles"][-1]
    assert lookup.url.params["email"] == "hanako@example.jp"
    assert page.status_code == 200
    shown = ("山田 花子", "同意済み", "F3+", "優良顧客", "注文 ¥5,000", "カゴ落ち", "wait_1")
    for text in shown:
        assert text in page.text, text


async def test_english_on_request_and_for_tenants_outside_japan(console) -> None:
    route(console, "GET", "/v1/analytics/overview", 200, OVERVIEW)
    async with signed_in(console, "viewer") as (client, csrf):
        switched = await client.post("/lang", data={"lang": "en", "next": "/", "csrf_token": csrf})
        page = await client.get("/")
    assert (switched.status_code, switched.headers["location"]) == (303, "/")
    assert "F2 conversion rate" in page.text and '<html lang="en">' in page.text


async def test_every_form_carries_the_session_csrf_token(console) -> None:
    route(console, "GET", "/v1/segments", 200, {"segments": [{"id": "s1", "name": "n"}]})
    route(
        console,
        "GET",
        "/v1/segment-templates",
        200,
        {
            "templates": [
                {
                    "key": "dormant",
                    "name_ja": "休眠",
                    "name_en": "Dormant",
                    "description_ja": "",
                    "description_en": "",
                    "definition": {"all": []},
                },
            ]
        },
    )
    async with signed_in(console, "admin") as (client, csrf):
        for path in ("/segments", "/segments/new", "/users"):
            tokens = CSRF.findall((await client.get(path)).text)
            assert len(tokens) >= 3 and set(tokens) == {csrf}, path


async def test_journey_validation_errors_are_shown_by_step_path(console) -> None:
    journey = {"id": "j9", "name": "Welcome", "status": "draft", "version": 1, "definition": {}}
    problem = {"path": "steps[1].wait.duration", "message": "not an ISO 8601 duration"}
    route(console, "GET", "/v1/journeys/j9", 200, journey)
    route(console, "GET", "/v1/journeys/j9/stats", 200, {"id": "j9", "totals": {}, "steps": []})
    error = {"code": "invalid_journey", "message": "invalid journey", "details": [problem]}
    route(console, "PUT", "/v1/journeys/j9", 422, {"error": error})
    draft = '{"trigger": {"kind": "event"}, "steps": [{"id": "a"}, {"id": "b"}]}'
    async with signed_in(console, "marketer") as (client, csrf):
        saved = await client.post(
            "/journeys/j9/definition", data={"definition": draft, "csrf_token": csrf}
        )
        broken = await client.post(
            "/journeys/j9/definition", data={"definition": "{not json", "csrf_token": csrf}
        )
    assert saved.status_code == 422
    assert "<code>steps[1].wait.duration</code> not an ISO 8601 duration" in saved.text
    assert "&#34;steps&#34;: [{&#34;id&#34;: &#34;a&#34;}" in saved.text  # the draft is kept
    assert broken.status_code == 422 and "definition: not JSON" in broken.text


async def test_members_csv_and_call_outcomes_go_through_the_services(console) -> None:
    csv_body = "profile_id,entered_at\np_1,2026-11-01T00:00:00+00:00\n"
    console.fake.routes[("GET", "/v1/segments/s1/members")] = lambda request: httpx.Response(
        200, text=csv_body, headers={"content-type": "text/csv"}
    )
    route(console, "POST", "/v1/call-list/e1/outcome", 201, {"entry_id": "e1", "seq": 1})
    async with signed_in(console, "marketer") as (client, csrf):
        exported = await client.get("/segments/s1/members.csv")
        outcome = await client.post(
            "/calls/e1/outcome", data={"outcome": "no_answer", "note": "", "csrf_token": csrf}
        )
    assert (exported.status_code, exported.text) == (200, csv_body)
    assert exported.headers["content-disposition"] == 'attachment; filename="segment-s1.csv"'
    assert (outcome.status_code, outcome.headers["location"]) == (303, "/calls?recorded=1")
    sent = [r for r in console.fake.calls if r.url.path == "/v1/call-list/e1/outcome"][-1]
    assert json.loads(sent.content) == {"outcome": "no_answer", "note": None}


async def test_tenants_outside_japan_read_english_by_default(console) -> None:
    route(console, "GET", "/v1/analytics/overview", 200, OVERVIEW)
    async with console.client() as client:
        await sign_in(client, console.other_tenant_id, "admin@shop.test")
        page = await client.get("/")
    assert '<html lang="en">' in page.text and "F2 conversion rate" in page.text
    asked = [r for r in console.fake.calls if r.url.path == "/v1/analytics/overview"][-1]
    assert grant_of(asked, "profile").tenant_id == console.other_tenant_id


async def test_operations_page_offers_replay_to_admins_only(console) -> None:
    async with signed_in(console, "viewer") as (client, _):
        as_viewer = await client.get("/operations")
    async with signed_in(console, "admin") as (client, _):
        as_admin = await client.get("/operations")
    assert as_viewer.status_code == as_admin.status_code == 200
    assert 'id="services"' in as_viewer.text and 'id="pipeline"' in as_viewer.text
    # Installation-wide numbers are an operator's (crm_dashboard.ops.scope).
    assert 'id="lag"' not in as_admin.text and 'id="stages"' not in as_admin.text
    assert 'id="replay-button"' not in as_viewer.text
    assert 'id="replay-button"' in as_admin.text
