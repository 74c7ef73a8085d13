"""Settings (admin): sending rules, providers, RFM, API keys, webhook secrets, the shop
connection; the services faked at the HTTP boundary, the audit log on real Postgres."""

from __future__ import annotations

import json

import httpx
import pytest
from dashboard_it import grant_of, signed_in
from sqlalchemy import select

from crm_dashboard.tables import audit_log
from crm_dashboard.web.settings_forms import (
    FormError,
    caps_rows,
    messaging_from_form,
    providers_from_form,
    rfm_from_form,
)

pytestmark = pytest.mark.infra

MESSAGING = {
    "sender": {"from_name": "", "from_address": None, "reply_to": None},
    "frequency_caps": [{"channel": "email", "max_messages": 2, "window": "P7D"}],
    "quiet_hours": {"sms": {"start": "21:00:00", "end": "08:00:00"}},
    "quiet_hours_purposes": ["marketing"],
    "opt_in_channels": ["email", "sms", "line"],
    "sms": {
        "account_sid": "AC1",
        "auth_token": "********",
        "from_number": "+81501",
        "base_url": None,
    },
    "line": None,
    "tracking_ttl_days": 90,
    "attribution": {"email_days": 5.0, "sms_days": 5.0, "line_days": 5.0, "postal_dm_days": 30.0},
}
RFM = {
    "recency_days": [30, 60, 90, 180],
    "frequency_orders": [2, 3, 5, 10],
    "monetary": ["5000", "10000", "30000", "100000"],
    "currency": "JPY",
}
TENANT = {
    "tenant_id": "t",
    "shop_domains": ["tea.myshopify.com"],
    "disconnected_shop_domains": [],
    "webhook_secrets": [{"secret_id": "ws_old", "created_at": "2026-12-01T01:00:00Z"}],
    "api_keys": [{"key_id": "key_1", "created_at": "2026-12-01T01:00:00Z", "revoked_at": None}],
    "webhook_path": "/webhooks/shopify",
    "topics": ["checkouts/create", "orders/create"],
}
ADMIN_ROUTES = [
    ("/settings", {}),
    ("/settings/providers", {}),
    ("/settings/rfm", {}),
    ("/settings/api-keys", {}),
    ("/settings/api-keys/key_1/revoke", {}),
    ("/settings/webhook-secrets", {"secret": "a-new-secret-value"}),
    ("/settings/webhook-secrets/ws_old/revoke", {}),
    ("/settings/shop-domains", {"shop_domain": "x.myshopify.com"}),
]


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=json.loads(request.content))


@pytest.fixture
def services(console):
    routes = console.fake.routes
    routes[("GET", "/v1/settings")] = (200, MESSAGING)
    routes[("PUT", "/v1/settings")] = _echo
    routes[("GET", "/v1/settings/rfm")] = (200, RFM)
    routes[("PUT", "/v1/settings/rfm")] = _echo
    routes[("GET", "/v1/tenant")] = (200, TENANT)
    routes[("POST", "/v1/tenant/api-keys")] = (201, {"key_id": "key_2", "api_key": "crm_SHOWN"})
    routes[("DELETE", "/v1/tenant/api-keys/key_1")] = (204, None)
    routes[("POST", "/v1/tenant/webhook-secrets")] = (201, {"secret_id": "ws_new"})
    routes[("DELETE", "/v1/tenant/webhook-secrets/ws_old")] = (204, None)
    return console


def _sent(console, method: str, path: str) -> list[httpx.Request]:
    return [r for r in console.fake.calls if (r.method, r.url.path) == (method, path)]


async def _audit(console, action: str) -> list[tuple[str, str, str]]:
    await console.ctx.audit.flush()
    a = audit_log
    async with console.ctx.db.transaction() as session:
        rows = await session.execute(
            select(a.c.email, a.c.action, a.c.target)
            .where(a.c.tenant_id == console.tenant_id, a.c.action == action)
            .order_by(a.c.id)
        )
    return [tuple(r) for r in rows]


async def test_viewers_and_marketers_reach_no_settings(services) -> None:
    for role in ("viewer", "marketer"):
        async with signed_in(services, role) as (client, csrf):
            before = len(services.fake.calls)
            for path, form in ADMIN_ROUTES:
                assert (await client.get(path)).status_code in (403, 405), path
                answer = await client.post(path, data=form | {"csrf_token": csrf})
                assert answer.status_code == 403, (role, path)
            assert services.fake.calls[before:] == []


async def test_sending_rules_are_saved_whole_and_audited(services) -> None:
    form = {
        "from_name": "お茶の店",
        "from_address": "shop@tea.example",
        "cap-0-channel": "email",
        "cap-0-max": "3",
        "cap-0-days": "7",
        "cap-1-channel": "",
        "cap-1-max": "5",
        "cap-1-days": "0.5",
        "quiet-sms-start": "21:00",
        "quiet-sms-end": "08:00",
        "quiet-email-start": "22:00",
        "quiet-email-end": "07:00",
        "attribution-email_days": "3",
        "attribution-sms_days": "5",
        "attribution-line_days": "5",
        "attribution-postal_dm_days": "30",
    }
    async with signed_in(services, "admin") as (client, csrf):
        page = await client.get("/settings")
        answer = await client.post("/settings", data=form | {"csrf_token": csrf})
    put = _sent(services, "PUT", "/v1/settings")[-1]
    sent = json.loads(put.content)
    assert 'name="cap-0-days" value="7"' in page.text and 'value="21:00"' in page.text
    assert (answer.status_code, answer.headers["location"]) == (303, "/settings?saved=general")
    assert sent["sender"]["from_name"] == "お茶の店"
    assert sent["frequency_caps"] == [
        {"channel": "email", "max_messages": 3, "window": 604800},
        {"channel": None, "max_messages": 5, "window": 43200},
    ]
    assert sent["quiet_hours"] == {
        "email": {"start": "22:00", "end": "07:00"},
        "sms": {"start": "21:00", "end": "08:00"},
    }
    assert sent["sms"]["auth_token"] == "********"  # kept, never known to the console
    assert sent["opt_in_channels"] == ["email", "sms", "line"]
    assert grant_of(put, "messaging").role == "admin"
    fields = await _audit(services, "settings.changed")
    assert fields[-1] == ("admin@shop.test", "settings.changed", "messaging")


async def test_a_bad_form_is_answered_at_its_fields(services) -> None:
    form = {
        "cap-0-max": "two",
        "cap-0-days": "7",
        "quiet-sms-start": "9pm",
        "quiet-sms-end": "08:00",
    }
    async with signed_in(services, "admin") as (client, csrf):
        before = len(_sent(services, "PUT", "/v1/settings"))
        answer = await client.post("/settings", data=form | {"csrf_token": csrf})
    assert answer.status_code == 422
    assert "cap-0-max" in answer.text and "quiet-sms-start" in answer.text
    assert len(_sent(services, "PUT", "/v1/settings")) == before


async def test_an_api_key_is_shown_once_and_revoked(services) -> None:
    async with signed_in(services, "admin") as (client, csrf):
        created = await client.post("/settings/api-keys", data={"csrf_token": csrf})
        listing = await client.get("/settings/api-keys")
        revoked = await client.post("/settings/api-keys/key_1/revoke", data={"csrf_token": csrf})
    assert created.status_code == 201 and "crm_SHOWN" in created.text
    assert created.headers["cache-control"] == "no-store"
    assert "crm_SHOWN" not in listing.text and "key_1" in listing.text
    assert (revoked.status_code, revoked.headers["location"]) == (
        303,
        "/settings/api-keys?done=key_revoked",
    )
    (delete,) = _sent(services, "DELETE", "/v1/tenant/api-keys/key_1")
    grant = grant_of(delete, "ingest")
    assert (grant.tenant_id, grant.role, grant.operator) == (services.tenant_id, "admin", False)
    assert (await _audit(services, "api_key.created"))[-1][2] == "key_2"
    assert (await _audit(services, "api_key.revoked"))[-1][2] == "key_1"


async def test_connect_your_shop_and_rotate_a_secret(services) -> None:
    async with signed_in(services, "admin") as (client, csrf):
        page = await client.get("/settings/shop")
        short = await client.post(
            "/settings/webhook-secrets", data={"secret": "x", "csrf_token": csrf}
        )
        added = await client.post(
            "/settings/webhook-secrets", data={"secret": "a-new-secret-value", "csrf_token": csrf}
        )
        revoked = await client.post(
            "/settings/webhook-secrets/ws_old/revoke", data={"csrf_token": csrf}
        )
    assert "http://127.0.0.1:8001/webhooks/shopify" in page.text and "orders/create" in page.text
    assert "ws_old" in page.text and "tea.myshopify.com" in page.text
    assert short.status_code == 422
    assert (added.status_code, revoked.status_code) == (303, 303)
    (post,) = _sent(services, "POST", "/v1/tenant/webhook-secrets")
    assert json.loads(post.content) == {"secret": "a-new-secret-value"}
    assert (await _audit(services, "webhook_secret.added"))[-1][2] == "ws_new"
    audit_rows = await _audit(services, "webhook_secret.revoked")
    assert audit_rows[-1] == ("admin@shop.test", "webhook_secret.revoked", "ws_old")


def test_forms_keep_what_they_do_not_show() -> None:
    assert caps_rows(MESSAGING) == [
        {"channel": "email", "max": "2", "days": "7"},
        {"channel": "", "max": "", "days": ""},
    ]
    general = messaging_from_form(
        MESSAGING, {"cap-0-max": "2", "cap-0-days": "7", "cap-0-remove": "1"}
    )
    assert general["frequency_caps"] == [] and general["quiet_hours"] == {}
    assert general["opt_in_channels"] == MESSAGING["opt_in_channels"]
    kept = providers_from_form(MESSAGING, {"sms-account_sid": "AC2", "sms-from_number": "+81502"})
    assert kept["sms"] == {
        "account_sid": "AC2",
        "from_number": "+81502",
        "base_url": None,
        "auth_token": "********",
    }
    assert providers_from_form(MESSAGING, {"sms-remove": "1"})["sms"] is None
    with pytest.raises(FormError) as missing:
        providers_from_form(MESSAGING, {"line-base_url": "https://api.line.me"})
    assert missing.value.details == [
        {"path": "sms-account_sid", "message": "required"},
        {"path": "sms-from_number", "message": "required"},
        {"path": "line-channel_access_token", "message": "required"},
    ]
    rfm = rfm_from_form(
        RFM, {f"{a}-{i}": str(10 * (i + 1)) for a in RFM if a != "currency" for i in range(4)}
    )
    assert rfm["recency_days"] == [10, 20, 30, 40] and rfm["monetary"] == ["10", "20", "30", "40"]
    assert rfm["currency"] == "JPY"


PROFILE = {
    "profile_id": "p_audit",
    "identifiers": [{"kind": "email", "value": "hanako@example.jp"}],
    "consents": {},
    "suppressions": [],
    "attributes": {},
    "traits": {},
}


def _csv_reply(request: httpx.Request) -> httpx.Response:
    body = b"email\nhanako@example.jp\n"
    return httpx.Response(200, content=body, headers={"content-type": "text/csv"})


async def test_the_audit_log_records_who_saw_and_took_what(services) -> None:
    routes = services.fake.routes
    routes[("GET", "/v1/profiles/p_audit")] = (200, PROFILE)
    routes[("GET", "/v1/segments/seg_a/members")] = _csv_reply
    routes[("GET", "/v1/dm-batches/dm_1/download")] = _csv_reply
    routes[("GET", "/v1/call-list")] = (200, {"items": []})
    async with signed_in(services, "marketer") as (client, csrf):
        viewed = await client.get("/customers/p_audit")
        missing = await client.get("/customers/p_nobody")
        exported = await client.get("/segments/seg_a/members.csv")
        printed = await client.post("/dm/dm_1/download", data={"csrf_token": csrf})
        calls = await client.get("/calls")
        refused = await client.get("/audit")
    assert [a.status_code for a in (viewed, missing, exported, printed, calls)] == [
        200,
        404,
        200,
        200,
        200,
    ]
    assert refused.status_code == 403
    marketer = "marketer@shop.test"
    assert (await _audit(services, "customer.viewed"))[-1] == (
        marketer,
        "customer.viewed",
        "p_audit",
    )
    assert all(t != "p_nobody" for _, _, t in await _audit(services, "customer.viewed"))
    assert (await _audit(services, "segment.members_exported"))[-1][::2] == (marketer, "seg_a")
    assert (await _audit(services, "dm.downloaded"))[-1][::2] == (marketer, "dm_1")
    assert (await _audit(services, "calls.viewed"))[-1][0] == marketer

    async with signed_in(services, "admin") as (client, _):
        everything = await client.get("/audit")
        only_views = await client.get("/audit", params={"action": "customer.viewed"})
        by_marketer = await client.get("/audit", params={"email": "MARKETER@"})
        tomorrow = await client.get("/audit", params={"since": "2999-01-01"})
        export = await client.get("/audit.csv", params={"action": "dm.downloaded"})
    assert everything.status_code == 200
    assert 'data-action="customer.viewed"' in everything.text
    assert 'data-action="dm.downloaded"' in everything.text
    assert "hanako@example.jp" not in everything.text  # ids, never the customer's data
    assert 'data-action="dm.downloaded"' not in only_views.text
    assert "p_audit" in only_views.text
    assert "admin@shop.test" not in by_marketer.text.split("<table", 1)[1]
    assert 'data-action="' not in tomorrow.text
    lines = export.text.lstrip("\ufeff").splitlines()
    assert export.headers["content-type"].startswith("text/csv")
    assert lines[0] == "at,email,role,action,target,detail"
    assert lines[1:] and all(",dm.downloaded,dm_1," in line for line in lines[1:])
    assert (await _audit(services, "audit.exported"))[-1][0] == "admin@shop.test"


async def test_the_audit_log_is_the_tenants_own(services) -> None:
    other = type("Someone", (), {})()
    other.tenant_id, other.subject = services.other_tenant_id, "u_other"
    other.role, other.email = "admin", "admin@other.test"
    services.ctx.audit.record(other, "customer.viewed", "p_other_tenant")
    await services.ctx.audit.flush()
    async with signed_in(services, "admin") as (client, _):
        page = await client.get("/audit")
        export = await client.get("/audit.csv")
    assert "p_other_tenant" not in page.text and "p_other_tenant" not in export.text
