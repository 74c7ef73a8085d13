"""Journeys end to end, across real processes, driven as a shop would drive them:

signed Shopify webhooks -> ingest -> profile (profile.activity, profile.changed)
-> segment (segment.entered) -> messaging journeys -> SMTP / LINE / DM batch / call list,
with the messaging clock moved through its clock file.

1. Abandoned checkout: a checkout without an order gets exactly one recovery email
   (its link leads to Shopify's recovery URL) after the wait; a checkout followed by
   its order gets none.
2. Win-back escalation: a dormant customer who never reacts walks email x3 -> LINE ->
   postal DM batch -> call list; one who buys stops after the first email.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_journey_helpers import ClockFile, checkout, order, person, poll, signed
from messaging_providers import ProviderServer, SmtpServer
from service_process import run_service

pytestmark = [pytest.mark.infra, pytest.mark.slow]

ADMIN = {"Authorization": "Bearer e2e-admin"}
# Four freshly started services on a shared 2-core machine: generous deadlines.
DEADLINE = 240.0
LINE = {"channel_access_token": "line-token"}


@dataclass
class Stack:
    ingest: Any
    profile: Any
    segment: Any
    messaging: Any
    smtp: SmtpServer
    provider: ProviderServer
    clock: ClockFile
    shop: str
    secret: str
    key: dict[str, str]

    def webhook(self, topic: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        answer = httpx.post(
            f"{self.ingest.url}/webhooks/shopify",
            content=body,
            headers=signed(body, self.shop, self.secret, topic),
        )
        assert answer.status_code == 200, answer.text

    def api(self, method: str, url: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, url, headers=self.key, timeout=10, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def profile_id(self, email: str) -> str:
        def found() -> Any:
            items = httpx.get(
                f"{self.profile.url}/v1/profiles", params={"email": email}, headers=self.key
            ).json()["items"]
            return items[0]["profile_id"] if items else None

        return str(poll(found, timeout=DEADLINE))

    def wait(self, fetch: Callable[[], Any], journey_id: str) -> Any:
        """``poll`` with this test's deadline; on timeout the journey's runs say where
        everyone is and why."""
        try:
            return poll(fetch, timeout=DEADLINE)
        except AssertionError as exc:
            url = f"{self.messaging.url}/v1/journeys/{journey_id}/runs"
            raise AssertionError(f"{exc}; runs: {self.api('GET', url)['items']}") from exc

    def run(self, journey_id: str, profile_id: str) -> Any:
        url = f"{self.messaging.url}/v1/journeys/{journey_id}/runs"
        items = self.api("GET", url, params={"profile_id": profile_id})["items"]
        return items[0] if items else None

    def template(self, template_id: str, channel: str, **parts: str) -> None:
        body = {"template_id": template_id, "name": template_id, "channel": channel, "parts": parts}
        self.api("POST", f"{self.messaging.url}/v1/templates", json=body)

    def install(self, key: str, **body: Any) -> str:
        url = f"{self.messaging.url}/v1/journey-templates/{key}/install"
        journey_id = str(self.api("POST", url, json=body)["id"])
        self.api("POST", f"{self.messaging.url}/v1/journeys/{journey_id}/start")
        return journey_id


@pytest.fixture(scope="module")
def stack(infra: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    smtp, provider = SmtpServer(), ProviderServer()
    smtp.start()
    provider.start()
    clock = ClockFile(Path(tmp_path_factory.mktemp("clock")) / "now")
    env = {
        "INGEST_ADMIN_TOKEN": "e2e-admin",
        "SEGMENT_SWEEP_SECONDS": "1",
        # Topics (and consumer groups) of our own: an in-process messaging app of the
        # integration tests may be running in this session on the run's topics with a
        # clock of its own, and would take a share of our events. Still under the
        # run's prefix, so the session's cleanup deletes them.
        "KAFKA_TOPIC_PREFIX": f"{infra.topic_prefix}journeys.",
    }
    messaging_env = {
        **env,
        "MESSAGING_FAKE_CLOCK_FILE": str(clock.path),
        "MESSAGING_SMTP_PORT": str(smtp.port),
        "MESSAGING_LINE_API_URL": provider.url,
        "MESSAGING_SMS_API_URL": provider.url,
        "MESSAGING_DEFAULT_FROM_ADDRESS": "shop@mail.example.jp",
    }
    with ExitStack() as stack:
        services = [
            stack.enter_context(run_service(name, infra, env))
            for name in ("ingest", "profile", "segment")
        ]
        messaging = stack.enter_context(run_service("messaging", infra, messaging_env))
        shop, secret = f"e2e-j-{uuid.uuid4().hex[:8]}.myshopify.com", "e2e-secret"
        created = httpx.post(
            f"{services[0].url}/admin/tenants",
            headers=ADMIN,
            json={"name": "E2E", "shop_domains": [shop], "webhook_secrets": [secret]},
        ).json()
        key = {"Authorization": f"Bearer {created['api_key']}"}
        settings = {
            "quiet_hours": {},
            "frequency_caps": [],
            "opt_in_channels": ["email", "sms", "line"],
            "line": LINE,
        }
        settings_url = f"{messaging.url}/v1/settings"
        poll(lambda: httpx.put(settings_url, json=settings, headers=key).status_code == 200)
        poll(lambda: httpx.get(f"{services[2].url}/v1/segments", headers=key).status_code == 200)
        yield Stack(*services, messaging, smtp, provider, clock, shop, secret, key)
    smtp.stop()
    provider.stop()


def _link(stack: Stack, text: str) -> str:
    (link,) = re.findall(r"https?://[^/\s]+/t/c/\S+", text)
    return re.sub(r"^https?://[^/]+", stack.messaging.url, link)


def test_checkout_without_order_gets_one_recovery_email_and_with_order_none(
    stack: Stack,
) -> None:
    s = stack
    s.template(
        "recovery",
        "email",
        subject="お買い忘れはありませんか",
        text="こちらから: {{ recovery_url }}",
    )
    journey = s.install("abandoned_checkout", template_ids={"email": "recovery"})
    abandoner, buyer = person(1), person(2)
    abandoned = checkout(abandoner, s.clock.now())
    completed = checkout(buyer, s.clock.now())
    s.webhook("checkouts/create", abandoned)
    s.webhook("checkouts/create", completed)
    s.webhook("orders/create", order(buyer, s.clock.now(), of_checkout=completed))
    a, b = s.profile_id(abandoner["email"]), s.profile_id(buyer["email"])
    s.wait(lambda: (s.run(journey, b) or {}).get("status") == "goal_reached", journey)
    waiting = s.wait(lambda: s.run(journey, a), journey)
    assert (waiting["status"], waiting["current_step_id"]) == ("active", "wait")

    s.clock.advance(timedelta(hours=3, minutes=1))
    s.wait(lambda: s.smtp.to(abandoner["email"]), journey)
    s.wait(lambda: (s.run(journey, a) or {}).get("status") == "completed", journey)
    (mail,) = s.smtp.to(abandoner["email"])
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    click = httpx.get(_link(s, text))
    assert (click.status_code, click.headers["location"]) == (
        302,
        abandoned["abandoned_checkout_url"],
    )
    assert s.smtp.to(buyer["email"]) == []
    assert s.run(journey, b)["exit_reason"] == "goal:purchase"


def _line_id(n: int) -> str:
    return "U" + f"{9_100_000 + n:032x}"


def _line_contact(s: Stack, customer: dict[str, Any], n: int) -> None:
    """The shop's LINE integration tells us the person's LINE id and LINE consent."""
    event = {
        "event_id": f"line-{customer['id']}",
        "type": "customer.upserted",
        "occurred_at": s.clock.now().isoformat(),
        "identity": {"email": customer["email"]},
        "data": {
            "email": customer["email"],
            "properties": {"line_user_id": _line_id(n)},
            "consents": [{"channel": "line", "state": "subscribed"}],
        },
    }
    s.api("POST", f"{s.ingest.url}/v1/events", json=event)


def test_winback_escalates_to_the_call_list_and_stops_for_a_buyer(stack: Stack) -> None:
    s = stack
    tag = f"dormant{uuid.uuid4().hex[:6]}"
    definition = {"all": [{"trait": "tags", "op": "contains", "value": tag}]}
    segment = s.api(
        "POST", f"{s.segment.url}/v1/segments", json={"name": tag, "definition": definition}
    )
    for step in ("email_1", "email_2", "email_3"):
        s.template(
            f"winback_{step}", "email", subject=f"お久しぶりです ({step})", text="また来てね"
        )
    s.template("winback_line", "line", text="LINEでお知らせ")
    s.template("winback_sms", "sms", text="SMSでお知らせ")
    s.template("winback_dm", "postal_dm", body="DM")
    s.template("winback_call", "call", script="お電話でご案内")
    journey = s.install("winback_escalation", segment_id=segment["id"])
    silent, buyer = person(11, tags=tag), person(12, tags=tag)
    s.webhook("customers/create", silent)
    s.webhook("customers/create", buyer)
    _line_contact(s, silent, 11)
    quiet, active = s.profile_id(silent["email"]), s.profile_id(buyer["email"])
    s.wait(
        lambda: len(s.smtp.to(silent["email"])) == 1 and len(s.smtp.to(buyer["email"])) == 1,
        journey,
    )
    s.webhook("orders/create", order(buyer, s.clock.now() + timedelta(seconds=1)))
    s.wait(lambda: (s.run(journey, active) or {}).get("status") == "goal_reached", journey)

    for emails in (2, 3):
        s.clock.advance(timedelta(days=7, minutes=1))
        s.wait(lambda n=emails: len(s.smtp.to(silent["email"])) == n, journey)
    s.clock.advance(timedelta(days=7, minutes=1))
    s.wait(lambda: s.provider.calls_for("line", _line_id(11)), journey)
    s.clock.advance(timedelta(days=7, minutes=1))
    batches = s.wait(lambda: s.api("GET", f"{s.messaging.url}/v1/dm-batches")["items"], journey)
    s.clock.advance(timedelta(days=21, minutes=1))
    calls = s.wait(lambda: s.api("GET", f"{s.messaging.url}/v1/call-list")["items"], journey)
    run = s.wait(lambda: (r := s.run(journey, quiet)) and r["status"] == "completed" and r, journey)

    assert [b["items"] for b in batches] == [1]
    assert [(c["profile_id"], c["phone"]) for c in calls] == [(quiet, silent["phone"])]
    assert len(s.smtp.to(silent["email"])) == 3 and len(s.smtp.to(buyer["email"])) == 1
    assert len(s.provider.calls_for("line", _line_id(11))) == 1
    sent = [(e["step_id"], e["detail"]["channel"]) for e in run["history"] if e["action"] == "sent"]
    assert sent == [
        ("email_1", "email"),
        ("email_2", "email"),
        ("email_3", "email"),
        ("line", "line"),
        ("dm", "postal_dm"),
        ("call", "call"),
    ]
    assert s.run(journey, active)["exit_reason"] == "goal:purchase"
