"""Email, SMS and LINE through the real adapters to real local servers."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import pytest
from messaging_it import SMS_ACCOUNT, TOKYO, Harness, until
from messaging_it import person_traits as traits
from messaging_providers import ProviderServer, SmtpServer

from crm_messaging.domain.ids import idempotency_key
from crm_messaging.sending.channels.line import retry_key

pytestmark = pytest.mark.infra
logging.getLogger("mail.log").setLevel(logging.WARNING)

SENDER = {
    "from_name": "テストショップ",
    "from_address": "shop@shop.example.jp",
    "reply_to": "support@shop.example.jp",
}
EMAIL = {
    "subject": "{{ profile.first_name }}さんへ",
    "text": "{{ profile.name }} 様\nセール: https://shop.example.jp/sale\n",
    "html": "<html><body><p>{{ profile.name }} 様</p>"
    '<a href="https://shop.example.jp/sale">セール</a></body></html>',
}


async def test_email_has_sender_unsubscribe_headers_and_both_parts(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    h.clock.set(datetime(2026, 1, 15, 12, 0, tzinfo=TOKYO))
    tenant = await h.tenant(sender=SENDER)
    await h.profiles(tenant, {"p1": traits(101)})
    m = await h.enqueue(
        tenant, source_id="mail-1", profile_id="p1", channel="email", template=EMAIL
    )
    await h.dispatch()
    assert (await h.message(tenant, m["message_id"]))["state"] == "sent"
    [received] = smtp_server.to("hanako101@example.jp")
    mail = received.message
    mid = m["message_id"]
    assert received.mail_from == f"bounce+{mid}@shop.example.jp"  # VERP
    assert str(mail["From"]) == "テストショップ <shop@shop.example.jp>"
    assert str(mail["Reply-To"]) == "support@shop.example.jp"
    assert str(mail["Subject"]) == "花子さんへ"
    assert str(mail["Message-ID"]) == f"<{mid}@shop.example.jp>"
    assert str(mail["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    unsubscribe = str(mail["List-Unsubscribe"])
    assert re.fullmatch(
        rf"<mailto:unsubscribe@shop\.example\.jp\?subject=unsubscribe-{mid}>, "
        r"<http://testserver/t/u/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>",
        unsubscribe,
    ), unsubscribe
    assert mail.get_content_type() == "multipart/alternative"
    parts = list(mail.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    # SMTP lines end in CRLF on the wire.
    text, html = parts[0].get_content().replace("\r\n", "\n"), parts[1].get_content()
    assert re.fullmatch(r"山田 花子 様\nセール: http://testserver/t/c/[A-Za-z0-9_.-]+\n", text), (
        text
    )
    assert "https://shop.example.jp/sale" not in html
    assert re.search(r'<a href="http://testserver/t/c/[A-Za-z0-9_.-]+">セール</a>', html)
    assert re.search(r'<img src="http://testserver/t/o/[A-Za-z0-9_.-]+" width="1"', html)


async def test_missing_variable_is_reported_and_the_message_still_goes(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    tenant = await h.tenant()
    await h.profiles(tenant, {"p1": traits(102)})
    template = {"subject": "クーポン", "text": "コード: {{ coupon_code }} / {{ traits.rfm_rank }}"}
    m = await h.enqueue(
        tenant, source_id="coupon", profile_id="p1", channel="email", template=template
    )
    await h.dispatch()
    done = await h.message(tenant, m["message_id"])
    assert (done["state"], done["missing_variables"]) == (
        "sent",
        ["coupon_code", "traits.rfm_rank"],
    )
    [received] = smtp_server.to("hanako102@example.jp")
    assert received.message.get_content() == "コード:  / "


async def test_sms_503_then_201_goes_through_once(
    harness: Harness, provider_server: ProviderServer
) -> None:
    h = harness
    h.clock.set(datetime(2026, 1, 15, 12, 0, tzinfo=TOKYO))
    tenant = await h.tenant(sms=SMS_ACCOUNT)
    await h.profiles(tenant, {"p1": traits(103)})
    provider_server.failures[:] = ["503"]
    m = await h.enqueue(
        tenant, source_id="s1", profile_id="p1", channel="sms", template={"text": "hello"}
    )
    await h.dispatch()
    first = await h.message(tenant, m["message_id"])
    assert (first["state"], first["reason"], first["attempts"]) == ("queued", "retry:http_503", 1)
    h.clock.advance(timedelta(seconds=11))  # past the longest backoff (cap 10 s)
    await h.dispatch()
    done = await h.message(tenant, m["message_id"])
    assert (done["state"], done["attempts"], done["reason"]) == ("sent", 2, None)
    calls = provider_server.calls_for("sms", "+819000000103")
    key = idempotency_key(m["message_id"], "sms")
    assert [(c.status, c.key) for c in calls] == [(503, key), (201, key)]
    assert provider_server.accepted_per_recipient("sms")["+819000000103"] == 1
    assert done["provider_message_id"] == provider_server.accepted[key]["sid"]


async def test_sms_timeout_and_429_never_duplicate(
    harness: Harness, provider_server: ProviderServer
) -> None:
    h = harness
    tenant = await h.tenant(sms=SMS_ACCOUNT, quiet_hours={})
    await h.profiles(tenant, {"p1": traits(104)})
    provider_server.failures[:] = ["timeout", "429"]
    m = await h.enqueue(
        tenant, source_id="s2", profile_id="p1", channel="sms", template={"text": "hello"}
    )
    reasons = []
    for _ in range(3):
        await h.dispatch()
        reasons.append((await h.message(tenant, m["message_id"]))["reason"])
        h.clock.advance(timedelta(seconds=11))
    assert reasons == ["retry:timeout", "retry:http_429", None]
    assert (await h.message(tenant, m["message_id"]))["state"] == "sent"
    # The timed-out request was accepted; the retry got the original answer back.
    assert provider_server.accepted_per_recipient("sms")["+819000000104"] == 1


async def test_sms_gives_up_after_the_attempt_limit(
    harness: Harness, provider_server: ProviderServer
) -> None:
    h = harness
    tenant = await h.tenant(sms=SMS_ACCOUNT, quiet_hours={})
    await h.profiles(tenant, {"p1": traits(105)})
    provider_server.failures[:] = ["503", "503", "503"]
    m = await h.enqueue(
        tenant, source_id="s3", profile_id="p1", channel="sms", template={"text": "hello"}
    )
    for _ in range(3):
        await h.dispatch()
        h.clock.advance(timedelta(seconds=11))
    done = await h.message(tenant, m["message_id"])
    assert (done["state"], done["reason"], done["attempts"]) == (
        "failed",
        "max_attempts:http_503",
        3,
    )
    events = await h.events(
        tenant.tenant_id, lambda found: "message.failed" in {e.type for e in found}
    )
    assert [e.data.reason for e in events if e.type == "message.failed"] == [
        "max_attempts:http_503"
    ]


async def test_sms_status_callback_publishes_delivered(
    harness: Harness, provider_server: ProviderServer
) -> None:
    h = harness
    tenant = await h.tenant(sms=SMS_ACCOUNT, quiet_hours={})
    await h.profiles(tenant, {"p1": traits(106)})
    m = await h.enqueue(
        tenant, source_id="s4", profile_id="p1", channel="sms", template={"text": "hello"}
    )
    await h.dispatch()
    [call] = provider_server.calls_for("sms", "+819000000106")
    assert call.callback is not None
    path = call.callback.removeprefix("http://testserver")
    forged = re.sub(r"sig=[0-9a-f]+", "sig=" + "0" * 32, path)
    bad = await h.client.post(forged, data={"MessageSid": "x", "MessageStatus": "delivered"})
    assert bad.status_code == 403
    ok = await h.client.post(path, data={"MessageSid": "x", "MessageStatus": "delivered"})
    assert ok.status_code == 204
    events = await h.events(
        tenant.tenant_id, lambda found: "message.delivered" in {e.type for e in found}
    )
    assert [e.type for e in events] == ["message.queued", "message.sent", "message.delivered"]
    assert (await h.message(tenant, m["message_id"]))["delivered_at"] is not None


async def test_line_push_uses_the_retry_key_and_409_counts_as_sent(
    harness: Harness, provider_server: ProviderServer
) -> None:
    h = harness
    line = {"channel_access_token": "line-token"}
    tenant = await h.tenant(line=line, quiet_hours={})
    await h.profiles(tenant, {"p1": traits(107)})
    provider_server.failures[:] = ["timeout"]
    m = await h.enqueue(
        tenant, source_id="l1", profile_id="p1", channel="line", template={"text": "LINEです"}
    )
    await h.dispatch()
    h.clock.advance(timedelta(seconds=11))
    await h.dispatch()
    done = await h.message(tenant, m["message_id"])
    assert (done["state"], done["attempts"]) == ("sent", 2)
    user = "U" + f"{107:032x}"

    async def both_answered() -> bool:  # the timed-out answer is recorded when it leaves
        return len(provider_server.calls_for("line", user)) == 2

    await until(both_answered)
    calls = provider_server.calls_for("line", user)
    assert sorted(c.status for c in calls) == [0, 409]
    assert {c.key for c in calls} == {retry_key(m["message_id"])}
    assert provider_server.accepted_per_recipient("line")[user] == 1


async def test_a_tenant_cannot_point_its_providers_at_internal_hosts(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant()
    for url in (
        "http://127.0.0.1:5432",
        "https://169.254.169.254/latest/meta-data",
        "https://api.twilio.com:8443",
        "https://user:pw@api.twilio.com",
        "https://evil.example",
    ):
        sms = {**SMS_ACCOUNT, "base_url": url}
        answer = await h.client.put("/v1/settings", json={"sms": sms}, headers=tenant.headers)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["error"]["details"][0]["path"] == "sms.base_url"
    line = {"channel_access_token": "tok", "base_url": "http://localhost:8080"}
    answer = await h.client.put("/v1/settings", json={"line": line}, headers=tenant.headers)
    assert answer.status_code == 422
    allowed = {**SMS_ACCOUNT, "base_url": "https://api.twilio.com"}
    answer = await h.client.put("/v1/settings", json={"sms": allowed}, headers=tenant.headers)
    assert answer.status_code == 200, answer.text


def test_provider_urls_must_be_https_to_an_allowed_host() -> None:
    from crm_messaging.domain.provider_urls import provider_url_problem

    hosts = ("api.twilio.com", "api.line.me")
    assert provider_url_problem("https://api.twilio.com", hosts) is None
    assert provider_url_problem("https://API.LINE.ME/", hosts) is None
    assert provider_url_problem("http://api.twilio.com", hosts) == "must be an https URL"
    assert provider_url_problem("https://[::1]:99999", hosts) == "not a URL"
