"""The console in a real browser against real processes fed by the load generator.

ingest, profile, segment, messaging and the dashboard run as processes (the console
signs a token per call with the called service's own key); a tenant is created through
ingest's admin API and fed ~150 customers by ``crm_ingest.loadgen``; one unmappable
order makes a dead letter.
Then, in headless Chromium: sign in, find a customer, build a segment whose live
preview count equals the segment API's, start a journey from a template, replay the
dead letter; a viewer's crafted POSTs are refused by the server (403). Settings: an
admin saves sending rules, creates an API key (shown once, it works) and revokes it,
rotates the webhook secret (webhooks signed with the old one are refused after), reads
the audit log; a viewer is offered none of it and refused it by the server. Every page
is saved to ``artifacts/screenshots/<page>.png``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.infra, pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
REPEATERS = {"all": [{"trait": "orders_count", "op": ">=", "value": 2}]}

if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed at /usr/bin/chromium", allow_module_level=True)


def _settled(stack: Any) -> int:
    """Wait until profiles exist and the repeat-buyer count stops moving."""
    search = "/v1/profiles/search?limit=1"
    stack.poll(lambda: stack.api("profile", "GET", search).json().get("items"))
    seen: list[int] = []

    def steady() -> bool:
        seen.append(stack.preview_count(REPEATERS))
        return len(seen) >= 4 and seen[-1] == seen[-4] and seen[-1] > 0

    stack.poll(steady, timeout=240, every=1.0)
    return seen[-1]


async def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def _sign_in(page: Any, base: str, stack: Any, email: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#tenant", stack.tenant_id)
    await page.fill("#email", email)
    await page.fill("#password", stack.password)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(f"{base}/")


async def test_console_in_a_browser(stack: Any) -> None:
    from playwright.async_api import async_playwright

    repeaters = _settled(stack)
    letter = stack.poll(lambda: _pending_letter(stack), timeout=120)
    base = stack.url("dashboard")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            admin = await browser.new_page(viewport={"width": 1280, "height": 900})
            admin.on("console", lambda msg: print("browser console:", msg.text))
            await admin.goto(f"{base}/login")
            await _shot(admin, "login")
            await _sign_in(admin, base, stack, "owner@browser.test")
            await _overview_and_rfm(admin, base)
            await _find_customer(admin, base, stack)
            segment_id = await _build_segment(admin, base, stack, repeaters)
            journey_id = await _start_journey(admin, base, stack)
            await _other_pages(admin, base, stack, segment_id)
            await _replay(admin, base, stack, letter)
            viewer_page = await (await browser.new_context()).new_page()
            await _viewer_is_refused(viewer_page, base, stack, journey_id)
        finally:
            await browser.close()


def _pending_letter(stack: Any) -> tuple[int, int] | None:
    letters = stack.admin("GET", "/admin/dlq?limit=1000").json()["letters"]
    ours = [
        (x["dlq_partition"], x["dlq_offset"])
        for x in letters
        if x["consumer"] == "ingest-normalizer" and "quantity" in x["error"] and not x["replayed"]
    ]
    return ours[0] if ours else None


async def _overview_and_rfm(page: Any, base: str) -> None:
    assert await page.text_content("#kpi-customers") not in (None, "", "0")
    await _shot(page, "overview")
    await page.goto(f"{base}/rfm")
    assert await page.locator("svg.heat rect").count() == 25
    await _shot(page, "rfm")


async def _find_customer(page: Any, base: str, stack: Any) -> None:
    first = stack.api("profile", "GET", "/v1/profiles/search?limit=1").json()["items"][0]
    profile = stack.api("profile", "GET", f"/v1/profiles/{first['profile_id']}").json()
    email = next(i["value"] for i in profile["identifiers"] if i["kind"] == "email")
    await page.goto(f"{base}/customers")
    await page.fill("#q", email)
    await page.press("#q", "Enter")
    link = page.locator(f"#results a[href='/customers/{profile['profile_id']}']")
    await link.wait_for()
    await _shot(page, "customers")
    await link.click()
    await page.locator("#timeline").wait_for()
    assert email in await page.content()
    await _shot(page, "customer")


async def _until_text(
    page: Any, selector: str, pattern: re.Pattern[str], timeout: float = 30
) -> str:
    for _ in range(int(timeout / 0.2)):
        text = ((await page.text_content(selector)) or "").strip()
        if pattern.match(text):
            return text
        await page.wait_for_timeout(200)
    raise AssertionError(f"{selector} never matched {pattern.pattern}")


async def _build_segment(page: Any, base: str, stack: Any, repeaters: int) -> str:
    await page.goto(f"{base}/segments/new")
    await page.fill("#name", "Repeat buyers (browser test)")
    await page.fill(".c-value", "2")  # the first row: trait orders_count >= 2
    try:
        # Polled from here, not with wait_for_function: that evaluates its predicate
        # with eval in the page, which the console's CSP (no 'unsafe-eval') refuses.
        await _until_text(page, "#preview-count", re.compile(r"^[0-9]+$"))
    except Exception:
        await _shot(page, "segment_new_failed")
        raise AssertionError(await page.text_content("#preview") or "") from None
    shown = int((await page.text_content("#preview-count") or "").strip())
    assert json.loads(await page.input_value("#definition")) == REPEATERS
    assert shown == stack.preview_count(REPEATERS) == repeaters
    await _shot(page, "segment_new")
    await page.click("#save-button")
    await page.wait_for_url(re.compile(r".*/segments/[^/]+$"))
    segment_id = page.url.rsplit("/", 1)[1]
    assert (await page.text_content("#segment-size") or "").replace(",", "") == str(repeaters)
    await _shot(page, "segment")
    await page.goto(f"{base}/segments")
    await page.locator(f"#segments a[href='/segments/{segment_id}']").wait_for()
    await _shot(page, "segments")
    return segment_id


async def _start_journey(page: Any, base: str, stack: Any) -> str:
    await page.goto(f"{base}/journeys")
    await page.click("button[data-template='abandoned_checkout']")
    await page.wait_for_url(re.compile(r".*/journeys/[^/]+$"))
    journey_id = page.url.rsplit("/", 1)[1]
    await page.click("#journey-start")
    await page.locator("#journey-status.status-live").wait_for()
    assert stack.api("messaging", "GET", f"/v1/journeys/{journey_id}").json()["status"] == "live"
    await _shot(page, "journey")
    await page.goto(f"{base}/journeys")
    await _shot(page, "journeys")
    return journey_id


async def _other_pages(page: Any, base: str, stack: Any, segment_id: str) -> None:
    body = {
        "name": "Thank-you mail",
        "segment_id": segment_id,
        "channel": "email",
        "template": {"subject": "ありがとうございます", "text": "またのご利用をお待ちしています。"},
    }
    created = stack.api("messaging", "POST", "/v1/campaigns", json=body)
    assert created.status_code == 201, created.text
    await page.goto(f"{base}/campaigns/{created.json()['id']}")
    await _shot(page, "campaign")
    for name, path in (("dm", "/dm"), ("calls", "/calls"), ("users", "/users")):
        answer = await page.goto(f"{base}{path}")
        assert answer.status == 200, path
        await _shot(page, name)


async def _replay(page: Any, base: str, stack: Any, letter: tuple[int, int]) -> None:
    await page.goto(f"{base}/operations")
    assert int(await page.text_content("#dlq-pending") or "0") >= 1
    await _shot(page, "operations")
    # Only this test's letter: the run's DLQ is shared with every other test module.
    await page.select_option("#replay-consumer", "ingest-normalizer")
    await page.fill("#replay-since", stack.bad_order_sent_at.strftime("%Y-%m-%dT%H:%M:%S"))
    await page.click("#replay-button")
    await page.locator("#replay-result").wait_for()
    assert re.sub(r"\D", "", await page.text_content("#replay-result") or "") == "1"
    letters = stack.admin("GET", "/admin/dlq?limit=1000").json()["letters"]
    mine = [x for x in letters if (x["dlq_partition"], x["dlq_offset"]) == letter]
    assert [x["replayed"] for x in mine] == [True]
    await _shot(page, "operations_replayed")


async def _viewer_is_refused(page: Any, base: str, stack: Any, journey_id: str) -> None:
    await _sign_in(page, base, stack, "viewer@browser.test")
    await page.goto(f"{base}/journeys/{journey_id}")
    assert await page.locator("#journey-pause").count() == 0  # not offered ...
    token = await page.input_value("input[name=csrf_token] >> nth=0")
    crafted = {  # ... and refused by the server when crafted anyway
        f"/journeys/{journey_id}/pause": {},
        "/segments": {"name": "x", "definition": json.dumps(REPEATERS)},
        "/operations/replay": {},
        "/journey-templates/abandoned_checkout/install": {},
    }
    for path, form in crafted.items():
        answer = await page.request.post(f"{base}{path}", form=form | {"csrf_token": token})
        assert answer.status == 403, path
    assert stack.api("messaging", "GET", f"/v1/journeys/{journey_id}").json()["status"] == "live"
    await _shot(page, "journey_as_viewer")


# --- Settings (issue 16): an admin's keys, secrets and sending rules; a viewer's none ---

CUSTOMER = ROOT / "tests" / "fixtures" / "shopify" / "customer.json"


def _webhook_with(stack: Any, secret: str) -> int:
    """A customers/update webhook signed with ``secret`` for the stack's shop."""
    body = CUSTOMER.read_bytes()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Shop-Domain": f"{stack.tenant_id}.myshopify.com",
        "X-Shopify-Topic": "customers/update",
        "X-Shopify-Webhook-Id": f"browser-settings-{uuid.uuid4().hex}",
        "X-Shopify-API-Version": "2024-10",
    }
    url = f"{stack.url('ingest')}/webhooks/shopify"
    return httpx.post(url, content=body, headers=headers, timeout=30).status_code


def _key_answers(stack: Any, api_key: str) -> int:
    """404 when the key authenticates (no such import), 401 when it does not."""
    headers = {"Authorization": f"Bearer {api_key}"}
    url = f"{stack.url('ingest')}/v1/imports/imp_none"
    return httpx.get(url, headers=headers, timeout=30).status_code


def _api_key_ids(stack: Any) -> list[str]:
    tenant = stack.admin("GET", f"/admin/tenants/{stack.tenant_id}").json()
    return [k["key_id"] for k in tenant["api_keys"]]


async def test_settings_in_a_browser(stack: Any) -> None:
    from playwright.async_api import async_playwright

    base = stack.url("dashboard")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            admin = await browser.new_page(viewport={"width": 1280, "height": 900})
            await _sign_in(admin, base, stack, "owner@browser.test")
            await _sending_rules(admin, base, stack)
            key_id = await _create_and_revoke_a_key(admin, base, stack)
            await _rotate_the_webhook_secret(admin, base, stack)
            await _audit_log(admin, base)
            await _write_and_preview_a_template(admin, base, stack)
            viewer = await (await browser.new_context()).new_page()
            await _viewer_has_no_settings(viewer, base, stack, key_id)
        finally:
            await browser.close()


async def _sending_rules(page: Any, base: str, stack: Any) -> None:
    await page.click("#nav-settings")
    await page.wait_for_url(f"{base}/settings")
    await page.fill("#from_name", "ブラウザ茶舗")
    await page.fill("#cap-0-max", "3")
    await page.fill("#cap-0-days", "7")
    await page.fill("#quiet-sms-start", "21:00")
    await page.fill("#quiet-sms-end", "08:00")
    await page.click("#settings-save")
    await page.locator("#saved").wait_for()
    stored = stack.api("messaging", "GET", "/v1/settings").json()
    assert stored["sender"]["from_name"] == "ブラウザ茶舗"
    assert [c["max_messages"] for c in stored["frequency_caps"]] == [3]
    assert stored["quiet_hours"]["sms"]["start"].startswith("21:00")
    await _shot(page, "settings")
    for name in ("providers", "rfm"):
        answer = await page.goto(f"{base}/settings/{name}")
        assert answer.status == 200, name
        await _shot(page, f"settings_{name}")


async def _create_and_revoke_a_key(page: Any, base: str, stack: Any) -> str:
    await page.goto(f"{base}/settings/api-keys")
    before = _api_key_ids(stack)
    await page.click("#create-key")
    await page.locator("#new-key-value").wait_for()
    api_key = ((await page.text_content("#new-key-value")) or "").strip()
    (key_id,) = set(_api_key_ids(stack)) - set(before)
    assert api_key.startswith("crm_") and _key_answers(stack, api_key) == 404
    await _shot(page, "settings_api_key_created")
    await page.goto(f"{base}/settings/api-keys")
    assert api_key not in await page.content()  # shown once
    await page.click(f"#revoke-{key_id}")
    await page.locator("#done").wait_for()
    assert _key_answers(stack, api_key) == 401
    await _shot(page, "settings_api_keys")
    return key_id


async def _rotate_the_webhook_secret(page: Any, base: str, stack: Any) -> None:
    old_secret, new_secret = "browser-webhook-secret", "browser-rotated-secret-0123"
    await page.goto(f"{base}/settings/shop")
    url = ((await page.text_content("#webhook-url")) or "").strip()
    assert url == f"{stack.url('ingest')}/webhooks/shopify"
    assert await page.locator("#topics code", has_text="checkouts/create").count() == 1
    old_ids = await page.locator("#webhook-secrets tr[data-secret]").evaluate_all(
        "rows => rows.map(r => r.dataset.secret)"
    )
    await page.fill("#secret", new_secret)
    await page.click("#add-secret")
    await page.locator("#done").wait_for()
    assert (_webhook_with(stack, old_secret), _webhook_with(stack, new_secret)) == (200, 200)
    for secret_id in old_ids:
        await page.click(f"#revoke-{secret_id}")
        await page.locator("#done").wait_for()
    assert (_webhook_with(stack, old_secret), _webhook_with(stack, new_secret)) == (401, 200)
    assert new_secret not in await page.content()
    await _shot(page, "settings_shop")


async def _audit_log(page: Any, base: str) -> None:
    await page.goto(f"{base}/audit")
    actions = await page.locator("#audit tr[data-action]").evaluate_all(
        "rows => rows.map(r => r.dataset.action)"
    )
    expected = {"settings.changed", "api_key.created", "api_key.revoked"}
    assert expected | {"webhook_secret.added", "webhook_secret.revoked"} <= set(actions)
    await _shot(page, "audit")


async def _viewer_has_no_settings(page: Any, base: str, stack: Any, key_id: str) -> None:
    await _sign_in(page, base, stack, "viewer@browser.test")
    assert await page.locator("#nav-settings").count() == 0  # not offered ...
    for path in ("/settings", "/settings/api-keys", "/settings/shop", "/audit"):
        answer = await page.goto(f"{base}{path}")
        assert answer.status == 403, path
    await page.goto(f"{base}/customers")
    token = await page.input_value("input[name=csrf_token] >> nth=0")
    keys_before = _api_key_ids(stack)
    crafted = {  # ... and refused by the server when crafted anyway
        "/settings/api-keys": {},
        "/settings/webhook-secrets": {"secret": "viewer-made-secret"},
        "/settings": {"from_name": "viewer"},
        f"/settings/api-keys/{key_id}/revoke": {},
    }
    for path, form in crafted.items():
        answer = await page.request.post(f"{base}{path}", form=form | {"csrf_token": token})
        assert answer.status == 403, path
    assert _api_key_ids(stack) == keys_before
    assert _webhook_with(stack, "viewer-made-secret") == 401
    sender = stack.api("messaging", "GET", "/v1/settings").json()["sender"]
    assert sender["from_name"] == "ブラウザ茶舗"
    await _shot(page, "settings_as_viewer")


async def _write_and_preview_a_template(page: Any, base: str, stack: Any) -> None:
    first = stack.api("profile", "GET", "/v1/profiles/search?limit=1").json()["items"][0]
    profile = stack.api("profile", "GET", f"/v1/profiles/{first['profile_id']}").json()
    email = next(i["value"] for i in profile["identifiers"] if i["kind"] == "email")
    await page.goto(f"{base}/templates")
    await page.click("#new-email")
    await page.fill("#t-name", "お知らせメール(ブラウザ)")
    await page.fill("#part-subject", "様へのお知らせ")
    await page.focus("#part-subject")
    await page.keyboard.press("Home")
    await page.click("button.insert[data-insert='{{ profile.name }}']")  # the picker
    broken = "<p>いつもありがとうございます。</p>\n{% if traits.orders_count %}\n"
    await page.fill("#part-html", broken)
    await page.click("#template-save")
    await page.locator(".field-error[data-line]").first.wait_for()  # at its line
    assert "行目" in ((await page.text_content("#part-html-box")) or "")
    await _shot(page, "template_error")
    await page.fill("#part-html", "<p>{{ profile.name }} 様、いつもありがとうございます。</p>")
    await page.click("#template-save")
    await page.locator("#saved").wait_for()
    template_id = page.url.split("/templates/", 1)[1].split("?", 1)[0]
    saved = stack.api("messaging", "GET", f"/v1/templates/{template_id}").json()
    assert saved["parts"]["subject"] == "{{ profile.name }}様へのお知らせ"
    await page.fill("#preview-q", email)
    await page.click("#preview-button")
    await page.locator("#preview").wait_for()
    assert await page.get_attribute("#preview", "data-profile") == profile["profile_id"]
    subject = ((await page.text_content("#preview-subject")) or "").strip()
    assert subject.endswith("様へのお知らせ") and "{{" not in subject
    srcdoc = await page.get_attribute("#preview-html", "srcdoc") or ""
    assert "いつもありがとうございます" in srcdoc and "{{" not in srcdoc
    shown = page.frame_locator("#preview-html").get_by_text("いつもありがとうございます")
    await shown.wait_for()  # drawn in the sandboxed frame, not only in its attribute
    await _shot(page, "template")
    await page.goto(f"{base}/templates")
    await _shot(page, "templates")
    await page.goto(f"{base}/customers/{profile['profile_id']}")  # as a marketer reads it
    assert email in ((await page.text_content("#group-contact")) or "")
    assert await page.locator("#group-purchases, #timeline tr[data-type]").count() >= 1
    await _shot(page, "customer_grouped")
