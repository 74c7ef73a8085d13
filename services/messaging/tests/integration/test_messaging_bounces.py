"""Email bounces and complaints: VERP envelope sender, raw DSNs, the ESP webhook."""

from __future__ import annotations

import logging
import uuid
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

import pytest
from messaging_it import Harness, Tenant
from messaging_it import person_traits as traits
from messaging_providers import Received, SmtpServer

from crm_messaging.domain.ids import lifecycle_event_id

pytestmark = pytest.mark.infra
logging.getLogger("mail.log").setLevel(logging.WARNING)

SENDER = {"from_name": "Shop", "from_address": "shop@shop.example.jp"}
MAIL = {"subject": "セール", "text": "こんにちは"}


async def _sent_email(
    h: Harness, smtp: SmtpServer, tenant: Tenant, n: int, source: str
) -> tuple[str, Received]:
    await h.profiles(tenant, {f"p{n}": traits(n)})
    m = await h.enqueue(
        tenant, source_id=source, profile_id=f"p{n}", channel="email", template=MAIL
    )
    await h.dispatch()
    assert (await h.message(tenant, m["message_id"]))["state"] == "sent"
    [received] = smtp.to(f"hanako{n}@example.jp")
    return str(m["message_id"]), received


def _dsn(to: str, received: Received, status: str, action: str) -> bytes:
    """A bounce as an MTA writes it: multipart/report with the returned headers."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.jp"
    report["To"] = to
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("This is the mail system at host mx.example.jp.\n", "plain"))
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.jp"
    per_recipient["Final-Recipient"] = "rfc822; " + received.rcpt_tos[0]
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = f"smtp; 550 {status} mailbox problem"
    delivery = Message()
    delivery["Content-Type"] = "message/delivery-status"
    delivery.set_payload([per_message, per_recipient])
    report.attach(delivery)
    headers = received.data.split(b"\r\n\r\n", 1)[0].decode()
    report.attach(MIMEText(headers + "\n", "rfc822-headers"))
    return report.as_bytes()


async def _post_dsn(h: Harness, tenant: Tenant, body: bytes, kind: str = "message/rfc822") -> Any:
    headers = {**tenant.headers, "Content-Type": kind}
    return await h.client.post("/v1/providers/email/dsn", content=body, headers=headers)


def _of(events: list[Any], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]


async def test_envelope_sender_uses_the_tenant_bounce_domain(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    tenant = await h.tenant(sender={**SENDER, "bounce_domain": "bounces.shop.example.jp"})
    mid, received = await _sent_email(h, smtp_server, tenant, 931, "verp")
    assert received.mail_from == f"bounce+{mid}@bounces.shop.example.jp"
    assert str(received.message["Message-ID"]) == f"<{mid}@shop.example.jp>"


async def test_hard_dsn_to_the_verp_address_publishes_a_hard_bounce(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    tenant = await h.tenant(sender=SENDER)
    mid, received = await _sent_email(h, smtp_server, tenant, 932, "hard")
    body = _dsn(received.mail_from, received, "5.1.1", "failed")
    response = await _post_dsn(h, tenant, body)
    event_id = lifecycle_event_id(mid, "message.bounced", "hard")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "message_id": mid,
        "event": "message.bounced",
        "event_id": event_id,
        "bounce_type": "hard",
        "smtp_status": "5.1.1",
    }
    message = await h.message(tenant, mid)
    assert (message["state"], message["bounce"]) == ("sent", "hard:5.1.1")
    events = await h.events(tenant.tenant_id, lambda es: bool(_of(es, "message.bounced")))
    [bounced] = _of(events, "message.bounced")
    assert (bounced.event_id, bounced.data.message_id, bounced.data.profile_id) == (
        event_id,
        mid,
        "p932",
    )
    assert (bounced.data.channel.value, bounced.data.reason) == ("email", "hard:5.1.1")


async def test_soft_dsn_found_by_the_returned_message_id(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    tenant = await h.tenant(sender=SENDER)
    mid, received = await _sent_email(h, smtp_server, tenant, 933, "soft")
    # Forwarded to a mailbox: no VERP address left, only the returned headers.
    body = _dsn("postmaster@shop.example.jp", received, "4.2.2", "delayed")
    response = await _post_dsn(h, tenant, body, "text/plain")
    assert response.status_code == 200, response.text
    event_id = lifecycle_event_id(mid, "message.bounced", "soft", "4.2.2")
    assert (response.json()["bounce_type"], response.json()["event_id"]) == ("soft", event_id)
    message = await h.message(tenant, mid)
    assert (message["state"], message["bounce"]) == ("sent", "soft:4.2.2")
    events = await h.events(tenant.tenant_id, lambda es: bool(_of(es, "message.bounced")))
    [bounced] = _of(events, "message.bounced")
    # "soft:<status>": the profile service does not suppress on soft bounces.
    assert (bounced.event_id, bounced.data.reason) == (event_id, "soft:4.2.2")


async def test_complaint_webhook_is_stable_when_repeated(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    tenant = await h.tenant(sender=SENDER)
    mid, _ = await _sent_email(h, smtp_server, tenant, 934, "complaint")
    items = [{"message_id": mid, "type": "complaint", "reason": "abuse"}]
    event_id = lifecycle_event_id(mid, "message.complained")
    for _ in range(2):
        response = await h.client.post(
            "/v1/providers/email/events", json=items, headers=tenant.headers
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "results": [
                {
                    "index": 0,
                    "status": 200,
                    "message_id": mid,
                    "event": "message.complained",
                    "event_id": event_id,
                }
            ]
        }
    events = await h.events(tenant.tenant_id, lambda es: len(_of(es, "message.complained")) == 2)
    complaints = _of(events, "message.complained")
    assert [(e.event_id, e.data.message_id, e.data.reason) for e in complaints] == [
        (event_id, mid, "complaint")
    ] * 2
    assert (await h.message(tenant, mid))["complained_at"] is not None


async def test_webhook_answers_each_item_207_when_some_fail(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    tenant = await h.tenant(sender=SENDER)
    mid, _ = await _sent_email(h, smtp_server, tenant, 935, "mixed")
    unknown = str(uuid.uuid4())
    items = [
        {"message_id": mid, "type": "bounce", "bounce_type": "hard", "reason": "550 5.1.1"},
        {"message_id": unknown, "type": "bounce", "bounce_type": "hard"},
        {"message_id": mid, "type": "open"},
    ]
    response = await h.client.post("/v1/providers/email/events", json=items, headers=tenant.headers)
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 404, 422]
    assert results[0]["event_id"] == lifecycle_event_id(mid, "message.bounced", "hard")
    assert results[1]["error"]["message"] == f"unknown message {unknown}"
    assert results[2]["error"]["details"][0]["path"] == "2.type"
    assert (await h.message(tenant, mid))["bounce"] == "hard:5.1.1"


async def test_dsn_for_an_unknown_message_is_404_and_garbage_is_400(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    tenant = await h.tenant(sender=SENDER)
    _, received = await _sent_email(h, smtp_server, tenant, 936, "unknown")
    unknown = str(uuid.uuid4())
    stranger = Received(
        f"bounce+{unknown}@shop.example.jp",
        received.rcpt_tos,
        b"Message-ID: <" + unknown.encode() + b"@shop.example.jp>\r\n\r\n",
    )
    response = await _post_dsn(h, tenant, _dsn(stranger.mail_from, stranger, "5.1.1", "failed"))
    assert response.status_code == 404, response.text
    assert response.json()["error"]["message"] == f"unknown message {unknown}"
    response = await _post_dsn(h, tenant, b"Subject: hello\r\n\r\nnot a bounce\r\n", "text/plain")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == (
        "not a usable delivery status notification: "
        "no message/delivery-status part with a per-recipient block"
    )
    response = await _post_dsn(h, tenant, b"{}", "application/json")
    assert response.status_code == 415, response.text
