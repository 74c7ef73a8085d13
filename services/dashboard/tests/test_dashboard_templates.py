"""Templates: list, create and edit email/SMS/LINE templates, errors at their part and
line, a preview rendered by messaging for a customer found by email; marketers save,
viewers read (server-side). Messaging and profile are faked at the HTTP boundary."""

from __future__ import annotations

import json

import httpx
import pytest
from dashboard_it import grant_of, signed_in

from crm_dashboard.clients import Fetched
from crm_dashboard.web.templates_pages import errors_by_part

pytestmark = pytest.mark.infra

WELCOME = {
    "template_id": "tpl_welcome",
    "version": 2,
    "name": "ようこそメール",
    "channel": "email",
    "parts": {
        "subject": "{{ profile.name }} 様、ようこそ",
        "html": "<p>{{ profile.name }} 様</p>",
        "text": "{{ profile.name }} 様",
    },
    "created_at": "2026-12-01T01:00:00Z",
}
PREVIEW = {
    "parts": {
        "subject": "山田 花子 様、ようこそ",
        "html": "<p>山田 花子 様</p>",
        "text": "山田 花子 様",
    },
    "missing_variables": ["coupon_code"],
    "links": [],
    "recommendations": [],
}
INVALID = {
    "error": {
        "code": "invalid_request",
        "message": "parts.html: line 3: unexpected end of template",
        "details": [
            {"path": "parts.html", "message": "line 3: unexpected end of template", "line": 3}
        ],
    }
}


def _created(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if "{% if" in body["parts"].get("html", ""):
        return httpx.Response(422, json=INVALID)
    return httpx.Response(201, json={**WELCOME, **body, "template_id": "tpl_new", "version": 1})


@pytest.fixture
def services(console):
    routes = console.fake.routes
    routes[("GET", "/v1/templates")] = (200, {"items": [WELCOME]})
    routes[("GET", "/v1/templates/tpl_welcome")] = (200, WELCOME)
    routes[("POST", "/v1/templates")] = _created
    routes[("PUT", "/v1/templates/tpl_welcome")] = lambda r: httpx.Response(
        200, json={**WELCOME, **json.loads(r.content), "version": 3}
    )
    routes[("GET", "/v1/profiles")] = (200, {"items": [{"profile_id": "p_tpl"}]})
    routes[("POST", "/v1/templates/tpl_welcome/preview")] = (200, PREVIEW)
    return console


def _sent(console, method: str, path: str) -> list[httpx.Request]:
    return [r for r in console.fake.calls if (r.method, r.url.path) == (method, path)]


async def test_a_marketer_writes_an_email_template(services) -> None:
    form = {
        "name": "カゴ落ちメール",
        "channel": "email",
        "part-subject": "お買い忘れはありませんか",
        "part-preheader": "",
        "part-html": "<p>{{ profile.name }} 様</p>",
        "part-text": "{{ profile.name }} 様",
    }
    async with signed_in(services, "marketer") as (client, csrf):
        listing = await client.get("/templates")
        blank = await client.get("/templates/new?channel=email")
        created = await client.post("/templates", data=form | {"csrf_token": csrf})
    assert listing.status_code == 200 and "ようこそメール" in listing.text
    assert 'href="/templates/tpl_welcome"' in listing.text
    assert 'id="part-html"' in blank.text and 'data-insert="{{ profile.name }}"' in blank.text
    assert (created.status_code, created.headers["location"]) == (303, "/templates/tpl_new?saved=1")
    post = _sent(services, "POST", "/v1/templates")[-1]
    assert json.loads(post.content) == {
        "name": "カゴ落ちメール",
        "channel": "email",
        "parts": {
            "subject": "お買い忘れはありませんか",
            "html": "<p>{{ profile.name }} 様</p>",
            "text": "{{ profile.name }} 様",
        },
    }
    assert grant_of(post, "messaging").role == "marketer"


async def test_errors_are_shown_at_their_part_and_line(services) -> None:
    form = {
        "name": "壊れたメール",
        "channel": "email",
        "part-subject": "件名",
        "part-html": "<p>\n{% if traits.orders_count %}\n",
    }
    async with signed_in(services, "marketer") as (client, csrf):
        answer = await client.post("/templates", data=form | {"csrf_token": csrf})
    html = answer.text
    assert answer.status_code == 422
    box = html.split('id="part-html-box"', 1)[1].split("</div>", 1)[0]
    assert 'data-line="3"' in box and "3 行目: unexpected end of template" in box
    assert "line 3" not in box  # messaging's own "line 3: " is not repeated
    assert "{% if traits.orders_count %}" in box  # what was typed is kept


async def test_preview_on_a_real_customer_and_a_new_version(services) -> None:
    async with signed_in(services, "marketer") as (client, csrf):
        page = await client.get("/templates/tpl_welcome", params={"q": "hanako@example.jp"})
        saved = await client.post(
            "/templates/tpl_welcome",
            data={"part-subject": "新しい件名", "part-text": "本文", "csrf_token": csrf},
        )
    assert page.status_code == 200
    assert 'data-profile="p_tpl"' in page.text and "山田 花子 様、ようこそ" in page.text
    assert 'sandbox=""' in page.text and "coupon_code" in page.text
    lookup = _sent(services, "GET", "/v1/profiles")[-1]
    assert lookup.url.params["email"] == "hanako@example.jp"
    preview = _sent(services, "POST", "/v1/templates/tpl_welcome/preview")[-1]
    assert json.loads(preview.content) == {"profile_id": "p_tpl"}
    assert saved.status_code == 303
    put = _sent(services, "PUT", "/v1/templates/tpl_welcome")[-1]
    assert json.loads(put.content) == {
        "name": "ようこそメール",
        "parts": {"subject": "新しい件名", "text": "本文"},
    }


async def test_a_viewer_reads_but_cannot_save(services) -> None:
    async with signed_in(services, "viewer") as (client, csrf):
        page = await client.get("/templates/tpl_welcome")
        blank = await client.get("/templates/new")
        before = len(services.fake.calls)
        created = await client.post("/templates", data={"channel": "sms", "csrf_token": csrf})
        saved = await client.post("/templates/tpl_welcome", data={"csrf_token": csrf})
    assert page.status_code == 200 and 'id="template-save"' not in page.text
    assert (blank.status_code, created.status_code, saved.status_code) == (403, 403, 403)
    assert services.fake.calls[before:] == []


def test_errors_by_part() -> None:
    failure = Fetched(
        error="x",
        details=[
            {"path": "parts.html", "line": 3, "message": "m"},
            {"path": "parts", "message": "template has no parts"},
        ],
    )
    assert errors_by_part(failure) == {
        "html": [{"path": "parts.html", "line": 3, "message": "m"}],
        "": [{"path": "parts", "message": "template has no parts"}],
    }
    assert errors_by_part(None) == {}


CAMPAIGN = {
    "id": "cmp_1",
    "name": "年末セール",
    "segment_id": "seg_1",
    "channel": "email",
    "template_id": "tpl_welcome",
    "throttle_per_minute": 600,
    "status": "draft",
    "send_at": "2026-12-24T01:00:00Z",
    "audience": 200,
    "enqueued": 50,
    "error": None,
    "started_at": None,
    "finished_at": None,
}


async def test_a_campaign_is_created_with_a_send_time_and_a_throttle(services) -> None:
    routes = services.fake.routes
    routes[("POST", "/v1/campaigns")] = (201, CAMPAIGN)
    routes[("GET", "/v1/campaigns/cmp_1")] = (200, CAMPAIGN)
    routes[("GET", "/v1/campaigns/cmp_1/stats")] = (
        200,
        {"totals": {"sent": 50, "delivered": 48, "opened": 10, "clicked": 3, "converted": 1}},
    )
    form = {
        "name": "年末セール",
        "segment_id": "seg_1",
        "channel": "email",
        "template_id": "tpl_welcome",
        "send_at": "2026-12-24T10:00",
        "throttle_per_minute": "600",
    }
    async with signed_in(services, "marketer") as (client, csrf):
        created = await client.post("/campaigns", data=form | {"csrf_token": csrf})
        page = await client.get("/campaigns/cmp_1")
    assert (created.status_code, created.headers["location"]) == (303, "/campaigns/cmp_1")
    post = _sent(services, "POST", "/v1/campaigns")[-1]
    assert json.loads(post.content) == {
        "name": "年末セール",
        "segment_id": "seg_1",
        "channel": "email",
        "template_id": "tpl_welcome",
        "send_at": "2026-12-24T10:00",  # the shop's wall time; messaging reads it so
        "throttle_per_minute": 600,
    }
    assert '<td id="campaign-send-at">2026-12-24 10:00</td>' in page.text  # in Tokyo
    assert '<td id="campaign-throttle">600</td>' in page.text
    assert 'value="50"' in page.text and "200" in page.text
