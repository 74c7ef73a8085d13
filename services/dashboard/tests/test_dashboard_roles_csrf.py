"""CSRF on every POST and role checks on every mutating route, on the server."""

from __future__ import annotations

import time

import pytest
from dashboard_it import grant_of, signed_in

pytestmark = pytest.mark.infra

REPEATERS = '{"all": [{"trait": "orders_count", "op": ">=", "value": 2}]}'
SEGMENT = {"name": "Repeaters", "definition": REPEATERS}
MUTATIONS = [
    ("/segments", SEGMENT),
    ("/segment-templates/dormant/install", {}),
    ("/segments/seg_1/archive", {}),
    ("/journey-templates/abandoned_checkout/install", {"name": "x"}),
    ("/journeys/j1/start", {}),
    ("/journeys/j1/pause", {}),
    ("/journeys/j1/definition", {"definition": "{}"}),
    ("/campaigns", {"name": "c", "segment_id": "s", "channel": "email", "template_id": "t"}),
    ("/campaigns/c1/schedule", {}),
    ("/dm/b1/download", {"encoding": "cp932"}),
    ("/calls/e1/outcome", {"outcome": "reached"}),
    ("/operations/replay", {}),
    ("/users", {"email": "new@shop.test", "role": "admin", "password": "long enough"}),
]


async def test_a_viewer_changes_nothing_even_with_a_valid_csrf_token(console) -> None:
    async with signed_in(console, "viewer") as (client, csrf):
        before = len(console.fake.calls)
        for path, form in MUTATIONS:
            answer = await client.post(path, data=form | {"csrf_token": csrf})
            assert answer.status_code == 403, path
    assert console.fake.calls[before:] == []  # no service was asked to change anything


async def test_a_marketer_cannot_replay_dead_letters_or_manage_users(console) -> None:
    async with signed_in(console, "marketer") as (client, csrf):
        for path, form in MUTATIONS[-2:]:
            answer = await client.post(path, data=form | {"csrf_token": csrf})
            assert answer.status_code == 403, path
        assert (await client.get("/users")).status_code == 403


async def test_every_post_needs_the_session_csrf_token(console) -> None:
    async with signed_in(console, "admin") as (client, csrf):
        before = len(console.fake.calls)
        for token in (None, "forged", csrf[:-1]):
            form = SEGMENT | ({"csrf_token": token} if token else {})
            answer = await client.post("/segments", data=form)
            assert answer.status_code == 403
            assert "The form expired" in answer.text or "フォーム" in answer.text
        preview = await client.post(
            "/api/segments/preview", json={"definition": {"all": []}}, headers={"X-CSRF-Token": "x"}
        )
        assert preview.status_code == 403
    assert console.fake.calls[before:] == []


async def test_a_marketer_creates_a_segment(console) -> None:
    created = {"id": "seg_new", "name": "Repeaters"}
    console.fake.routes[("POST", "/v1/segments")] = (201, created)
    async with signed_in(console, "marketer") as (client, csrf):
        answer = await client.post("/segments", data=SEGMENT | {"csrf_token": csrf})
    assert (answer.status_code, answer.headers["location"]) == (303, "/segments/seg_new")
    sent = [r for r in console.fake.calls if r.url.path == "/v1/segments" and r.method == "POST"]
    grant = grant_of(sent[-1], "segment")
    assert (grant.tenant_id, grant.role, grant.operator) == (console.tenant_id, "marketer", False)
    assert grant.expires_at - time.time() <= 60


async def test_an_admin_adds_a_user_of_its_own_tenant(console) -> None:
    async with signed_in(console, "admin") as (client, csrf):
        form = {"email": "late@shop.test", "role": "viewer", "password": "long enough"}
        answer = await client.post("/users", data=form | {"csrf_token": csrf})
        assert answer.status_code == 303
        page = await client.get("/users")
        again = await client.post("/users", data=form | {"csrf_token": csrf})
    assert "late@shop.test" in page.text
    assert again.status_code == 422


async def test_every_answer_carries_the_security_headers(console) -> None:
    async with signed_in(console, "admin") as (client, _):
        for path in ("/login", "/", "/segments/new", "/operations", "/static/console.css"):
            answer = await client.get(path)
            csp = answer.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp, path
            assert "'unsafe-inline'" not in csp, path
            assert answer.headers["x-frame-options"] == "DENY", path
            assert answer.headers["x-content-type-options"] == "nosniff", path
        docs = await client.get("/docs")
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
