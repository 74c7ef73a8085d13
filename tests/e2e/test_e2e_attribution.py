"""Campaign results end to end, across real processes, with exact attribution numbers.

signed Shopify webhooks -> ingest -> profile -> segment (tags) -> messaging campaigns
-> local SMTP / postal DM batch; opens and clicks through the tracking links found in
the received emails; orders as Shopify webhooks -> profile.activity -> attribution.
The messaging clock moves through its clock file; order times ride on the orders.

Script (email: 5 days after an open or click; postal DM: 30 days after export):
- A, B, C get the spring email; D gets the postal DM (exported one hour in).
- A opens, B clicks (two hours in); C never reacts.
- C orders a day later: not credited (no open). A orders three days after opening
  (credited, 120.50; the webhook is delivered twice: counted once). B orders six days
  after clicking: outside the window. D orders twenty days after the DM: credited (300).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from e2e_journey_helpers import ClockFile, order, person, signed
from messaging_providers import SmtpServer
from service_process import run_service

pytestmark = [pytest.mark.infra, pytest.mark.slow]

ADMIN = {"Authorization": "Bearer e2e-admin"}
PUBLIC = "http://crm.example"
EMAIL = {
    "subject": "{{ profile.last_name }}様 春のセール",
    "text": "https://shop.example.jp/spring",
    "html": '<p>春のセール</p><a href="https://shop.example.jp/spring">見る</a>',
}


class Shop:
    def __init__(self, infra: Any, services: dict[str, Any], smtp: SmtpServer, clock: ClockFile):
        self.infra, self.smtp, self.clock = infra, smtp, clock
        self.ingest, self.segment, self.messaging = (
            services["ingest"],
            services["segment"],
            services["messaging"],
        )
        self.shop, self.secret = f"e2e-a-{uuid.uuid4().hex[:8]}.myshopify.com", "e2e-secret"
        created = httpx.post(
            f"{self.ingest.url}/admin/tenants",
            headers=ADMIN,
            json={"name": "E2E", "shop_domains": [self.shop], "webhook_secrets": [self.secret]},
        ).json()
        self.tenant_id = created["tenant_id"]
        self.key = {"Authorization": f"Bearer {created['api_key']}"}

    def webhook(self, topic: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        headers = signed(body, self.shop, self.secret, topic)
        answer = httpx.post(f"{self.ingest.url}/webhooks/shopify", content=body, headers=headers)
        assert answer.status_code == 200, answer.text

    def api(self, method: str, url: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, url, headers=self.key, timeout=10, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer.json()

    async def messaging_db(self, query: str) -> int:
        """A count from the messaging schema (only to know the consumers caught up)."""
        conn = await asyncpg.connect(self.infra.pg_url(driver="postgresql"))
        try:
            return int(await conn.fetchval(query, self.tenant_id))
        finally:
            await conn.close()

    def order(self, customer: dict[str, Any], total: str, *, twice: bool = False) -> None:
        body = order(customer, self.clock.now())
        body["total_price"] = total
        for _ in range(2 if twice else 1):
            self.webhook("orders/create", body)

    def tracking_paths(self, email: str) -> tuple[str, str]:
        (received,) = self.smtp.to(email)
        html = received.message.get_body(("html",)).get_content()
        (pixel,) = re.findall(rf'src="{PUBLIC}(/t/o/[^"]+)"', html)
        (click,) = re.findall(rf'href="{PUBLIC}(/t/c/[^"]+)"', html)
        return pixel, click


@pytest.fixture(scope="module")
async def shop(infra: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shop]:
    smtp = SmtpServer()
    smtp.start()
    clock = ClockFile(Path(tmp_path_factory.mktemp("clock")) / "now")
    env = {"INGEST_ADMIN_TOKEN": "e2e-admin", "SEGMENT_SWEEP_SECONDS": "1"}
    messaging_env = {
        **env,
        "MESSAGING_FAKE_CLOCK_FILE": str(clock.path),
        "MESSAGING_SMTP_PORT": str(smtp.port),
        "MESSAGING_PUBLIC_URL": PUBLIC,
        "MESSAGING_DEFAULT_FROM_ADDRESS": "shop@mail.example.jp",
    }
    try:
        with (
            run_service("ingest", infra, env) as ingest,
            run_service("profile", infra, env) as profile,
            run_service("segment", infra, env) as segment,
            run_service("messaging", infra, messaging_env) as messaging,
        ):
            services = {"ingest": ingest, "profile": profile, "segment": segment}
            s = Shop(infra, {**services, "messaging": messaging}, smtp, clock)
            # Postal DMs need no opt-in here (Shopify has no postal consent to bring).
            settings = {
                "quiet_hours": {},
                "frequency_caps": [],
                "opt_in_channels": ["email", "sms", "line"],
            }
            url = f"{messaging.url}/v1/settings"
            await wait(lambda: httpx.put(url, json=settings, headers=s.key).status_code == 200)
            segments = f"{segment.url}/v1/segments"
            await wait(lambda: httpx.get(segments, headers=s.key).status_code == 200)
            yield s
    finally:
        smtp.stop()


async def wait(fetch: Callable[[], Any], timeout: float = 90.0) -> Any:
    """Poll without blocking the event loop: the test session's other services (the
    in-process messaging app of the integration tests, holding the outbox relay's lock)
    must keep running while this test waits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError("condition not met before the deadline")


def _segment(s: Shop, tag: str) -> str:
    definition = {"trait": "tags", "op": "contains", "value": tag}
    body = {"name": f"tag {tag}", "definition": definition}
    return str(s.api("POST", f"{s.segment.url}/v1/segments", json=body)["id"])


async def _members(s: Shop, segment_id: str, count: int) -> None:
    url = f"{s.segment.url}/v1/segments/{segment_id}/members"
    await wait(lambda: len(s.api("GET", url)["members"]) == count)


def _campaign(s: Shop, segment_id: str, channel: str, template: dict[str, str]) -> str:
    body = {"name": f"{channel} spring", "segment_id": segment_id, "channel": channel}
    created = s.api("POST", f"{s.messaging.url}/v1/campaigns", json={**body, "template": template})
    s.api("POST", f"{s.messaging.url}/v1/campaigns/{created['id']}/schedule")
    return str(created["id"])


async def _equals(count: Any, expected: int) -> bool:
    return bool(await count == expected)


def _stats(s: Shop, campaign_id: str) -> dict[str, Any]:
    return dict(s.api("GET", f"{s.messaging.url}/v1/campaigns/{campaign_id}/stats"))


async def test_attribution_numbers_are_exact_for_a_scripted_scenario(shop: Shop) -> None:
    s = shop
    spring, dm = _segment(s, "spring"), _segment(s, "dm")
    a, b, c = (person(700 + n, tags="spring") for n in range(3))
    d = person(703, tags="dm")
    for customer in (a, b, c, d):
        s.webhook("customers/create", customer)
    await _members(s, spring, 3)
    await _members(s, dm, 1)
    # Messaging has the contacts and memberships before the campaigns freeze audiences.
    recipients = "SELECT count(*) FROM messaging.recipients WHERE tenant_id = $1"
    assert await wait(lambda: _equals(s.messaging_db(recipients), 4))
    memberships = (
        "SELECT count(*) FROM messaging.journey_memberships WHERE tenant_id = $1 AND state = 'in'"
    )
    assert await wait(lambda: _equals(s.messaging_db(memberships), 4))

    mail = _campaign(s, spring, "email", EMAIL)
    postal = _campaign(s, dm, "postal_dm", {"text": "春の新作のご案内"})
    await wait(lambda: all(s.smtp.to(x["email"]) for x in (a, b, c)))
    batches_url = f"{s.messaging.url}/v1/dm-batches"
    (batch,) = await wait(
        lambda: [x for x in s.api("GET", batches_url)["items"] if x["items"] == 1]
    )

    s.clock.advance(timedelta(hours=1))
    exported = httpx.get(f"{batches_url}/{batch['batch_id']}/download", headers=s.key)
    assert exported.status_code == 200
    s.clock.advance(timedelta(hours=1))
    pixel_a, _ = s.tracking_paths(a["email"])
    _, click_b = s.tracking_paths(b["email"])
    assert httpx.get(f"{s.messaging.url}{pixel_a}").status_code == 200
    clicked = httpx.get(f"{s.messaging.url}{click_b}")
    assert (clicked.status_code, clicked.headers["location"]) == (
        302,
        "https://shop.example.jp/spring",
    )
    await wait(
        lambda: _stats(s, mail)["totals"]["clicked"] == 1 == _stats(s, mail)["totals"]["opened"]
    )

    s.clock.advance(timedelta(days=1))
    s.order(c, "50.00")  # never opened
    s.clock.advance(timedelta(days=2))
    s.order(a, "120.50", twice=True)  # three days after the open
    s.clock.advance(timedelta(days=3))
    s.order(b, "80.00")  # six days after the click
    s.clock.advance(timedelta(days=14))
    s.order(d, "300.00")  # twenty days after the DM went to print
    judged = "SELECT count(*) FROM messaging.attributions WHERE tenant_id = $1"
    assert await wait(lambda: _equals(s.messaging_db(judged), 4))

    assert _stats(s, mail) == {
        "id": mail,
        "totals": {
            "sent": 3,
            "delivered": 3,
            "opened": 1,
            "clicked": 1,
            "converted": 1,
            "revenue": "120.5",
            "skipped": {},
        },
    }
    assert _stats(s, postal) == {
        "id": postal,
        "totals": {
            "sent": 1,
            "delivered": 1,
            "opened": 0,
            "clicked": 0,
            "converted": 1,
            "revenue": "300",
            "skipped": {},
        },
    }
    for campaign_id in (mail, postal):
        done = s.api("GET", f"{s.messaging.url}/v1/campaigns/{campaign_id}")
        assert done["status"] == "completed"
