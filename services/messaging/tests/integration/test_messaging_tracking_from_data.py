"""Issue 12, item 10: a URL that arrives in data is never a tracked redirect.

The attack: a customer signs up with a URL as first name; the shop's email
greets them by name, and click tracking turned that URL into a signed 90-day
redirect on the CRM's own domain (an open redirect for phishing). Now only
links the template itself wrote are tracked; the URL from data stays plain text.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

import pytest
from messaging_it import SMS_ACCOUNT, TOKYO, Harness
from messaging_it import person_traits as traits
from messaging_providers import ProviderServer, SmtpServer
from sqlalchemy import select

from crm_messaging.domain.tracking import TrackingClaims, sign_token, url_fingerprint
from crm_messaging.tables import messages, tenant_settings

pytestmark = pytest.mark.infra
logging.getLogger("mail.log").setLevel(logging.WARNING)

EVIL = "https://evil.example/login"
SALE = "https://shop.example.jp/sale"
EMAIL = {
    "subject": "{{ profile.first_name }}様へ",
    "text": "{{ profile.first_name }}様\nセール: https://shop.example.jp/sale\n",
    "html": "<p>{{ profile.first_name }}様</p>"
    '<a href="https://shop.example.jp/sale">セール</a>'
    '<a href="{{ profile.first_name }}">プロフィール</a>',
}


async def _stored_links(h: Harness, message_id: str) -> list[str]:
    async with h.db.transaction() as session:
        return list(
            await session.scalar(
                select(messages.c.links).where(messages.c.message_id == message_id)
            )
        )


async def test_a_url_in_the_first_name_is_not_tracked_in_email(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    h.clock.set(datetime(2026, 2, 1, 12, 0, tzinfo=TOKYO))
    tenant = await h.tenant()
    await h.profiles(tenant, {"u-1": traits(9201, first_name=EVIL)})
    m = await h.enqueue(tenant, source_id="d1", profile_id="u-1", channel="email", template=EMAIL)
    await h.dispatch()
    [received] = smtp_server.to("hanako9201@example.jp")
    text = received.message.get_body(("plain",)).get_content()
    html = received.message.get_body(("html",)).get_content()
    [click] = re.findall(r"http://testserver/t/c/\S+", text)
    assert text == f"{EVIL}様\nセール: {click}\n"
    assert re.findall(r'href="([^"]+)"', html) == [click, EVIL]  # the data href left as it was
    assert await _stored_links(h, m["message_id"]) == [SALE]
    redirect = await h.client.get(click.removeprefix("http://testserver"))
    assert (redirect.status_code, redirect.headers["location"]) == (302, SALE)
    # A signed token for a second link of this message has nothing to point at.
    async with h.db.transaction() as session:
        secret = await session.scalar(
            select(tenant_settings.c.tracking_secret).where(
                tenant_settings.c.tenant_id == tenant.tenant_id
            )
        )
    claims = TrackingClaims(
        "click",
        tenant.tenant_id,
        m["message_id"],
        datetime(2027, 1, 1, tzinfo=TOKYO),
        1,
        url_fingerprint(EVIL),
    )
    refused = await h.client.get("/t/c/" + sign_token(claims, secret.encode()))
    assert refused.status_code == 400


async def test_a_url_in_the_first_name_is_not_tracked_in_sms(
    harness: Harness, provider_server: ProviderServer
) -> None:
    h = harness
    h.clock.set(datetime(2026, 2, 1, 12, 0, tzinfo=TOKYO))
    tenant = await h.tenant(sms=SMS_ACCOUNT)
    await h.profiles(tenant, {"u-2": traits(9202, first_name=f"見て {EVIL}")})
    text = "{{ profile.first_name }}様 セール https://shop.example.jp/sale"
    m = await h.enqueue(
        tenant, source_id="d2", profile_id="u-2", channel="sms", template={"text": text}
    )
    await h.dispatch()
    [call] = provider_server.calls_for("sms", "+819000009202")
    assert re.fullmatch(rf"見て {re.escape(EVIL)}様 セール http://testserver/t/c/\S+", call.body)
    assert await _stored_links(h, m["message_id"]) == [SALE]
