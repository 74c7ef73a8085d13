"""Open pixel, click redirect and unsubscribe: signed, expiring, no open redirect."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import pytest
from messaging_it import TOKYO, Harness
from messaging_it import person_traits as traits
from messaging_providers import SmtpServer
from sqlalchemy import select

from crm_messaging.domain.tracking import TrackingClaims, sign_token, url_fingerprint
from crm_messaging.tables import tenant_settings

pytestmark = pytest.mark.infra
logging.getLogger("mail.log").setLevel(logging.WARNING)

EMAIL = {
    "subject": "sale",
    "text": "https://shop.example.jp/a",
    "html": '<a href="https://shop.example.jp/a">A</a> <a href="https://shop.example.jp/b">B</a>',
}


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _tamper(token: str) -> str:
    payload, mac = token.split(".")
    return f"{payload}.{('A' if mac[0] != 'A' else 'B') + mac[1:]}"


async def _send_one(h: Harness, smtp: SmtpServer, n: int) -> tuple[object, dict, dict[str, str]]:
    h.clock.set(datetime(2026, 2, 1, 12, 0, tzinfo=TOKYO))
    tenant = await h.tenant(tracking_ttl_days=30)
    await h.profiles(tenant, {f"p{n}": traits(n)})
    m = await h.enqueue(tenant, source_id="t1", profile_id=f"p{n}", channel="email", template=EMAIL)
    await h.dispatch()
    [received] = smtp.to(f"hanako{n}@example.jp")
    html = received.message.get_body(("html",)).get_content()
    clicks = re.findall(r'href="(http://testserver/t/c/[^"]+)"', html)
    [pixel] = re.findall(r'src="(http://testserver/t/o/[^"]+)"', html)
    unsubscribe = re.search(
        r"<(http://testserver/t/u/[^>]+)>", received.message["List-Unsubscribe"]
    )
    assert unsubscribe is not None and len(clicks) == 2
    urls = {"a": clicks[0], "b": clicks[1], "open": pixel, "unsubscribe": unsubscribe.group(1)}
    return tenant, m, {k: v.removeprefix("http://testserver") for k, v in urls.items()}


async def test_open_and_click_are_recorded_and_redirect_only_to_message_links(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    tenant, m, urls = await _send_one(h, smtp_server, 301)
    opened = await h.client.get(urls["open"])
    assert (opened.status_code, opened.headers["content-type"]) == (200, "image/gif")
    clicked = await h.client.get(urls["b"])
    assert (clicked.status_code, clicked.headers["location"]) == (302, "https://shop.example.jp/b")

    tampered = await h.client.get("/t/c/" + _tamper(_token(urls["a"])))
    assert (tampered.status_code, tampered.json()["error"]["code"]) == (404, "invalid_token")
    wrong_kind = await h.client.get("/t/c/" + _token(urls["open"]))
    assert wrong_kind.status_code == 404

    # A correctly signed token for a URL the message never contained is refused.
    async with h.db.transaction() as s:
        secret = await s.scalar(
            select(tenant_settings.c.tracking_secret).where(
                tenant_settings.c.tenant_id == tenant.tenant_id  # type: ignore[attr-defined]
            )
        )
    expires = h.clock.now() + timedelta(days=1)
    for index, url in ((0, "https://evil.example/phish"), (7, "https://shop.example.jp/a")):
        claims = TrackingClaims(
            "click",
            tenant.tenant_id,
            m["message_id"],
            expires,
            index,
            url_fingerprint(url),  # type: ignore[attr-defined]
        )
        refused = await h.client.get("/t/c/" + sign_token(claims, secret.encode()))
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "link_not_allowed")

    h.clock.advance(timedelta(days=31))  # past the tenant's 30-day token lifetime
    expired = await h.client.get(urls["a"])
    assert (expired.status_code, expired.json()["error"]["code"]) == (410, "token_expired")
    expired_open = await h.client.get(urls["open"])
    assert expired_open.status_code == 410

    events = await h.events(
        tenant.tenant_id,  # type: ignore[attr-defined]
        lambda found: {"message.opened", "message.clicked"} <= {e.type for e in found},
    )
    engagement = [
        (e.type, e.data.url) for e in events if e.type in ("message.opened", "message.clicked")
    ]
    assert engagement == [
        ("message.opened", None),
        ("message.clicked", "https://shop.example.jp/b"),
    ]


async def test_unsubscribe_page_one_click_post_and_consent_event(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    tenant, m, urls = await _send_one(h, smtp_server, 302)
    page = await h.client.get(urls["unsubscribe"])
    assert page.status_code == 200
    assert f'<form method="post" action="{_token(urls["unsubscribe"])}">' in page.text
    assert (await h.client.post("/t/u/" + _tamper(_token(urls["unsubscribe"])))).status_code == 404
    done = await h.client.post(
        urls["unsubscribe"],
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200
    again = await h.client.post(urls["unsubscribe"])  # idempotent
    assert again.status_code == 200
    events = await h.events(
        tenant.tenant_id,  # type: ignore[attr-defined]
        lambda found: "consent.changed" in {e.type for e in found},
    )
    [unsub] = [e for e in events if e.type == "message.unsubscribed"]
    [consent] = [e for e in events if e.type == "consent.changed"]
    assert (unsub.data.message_id, unsub.data.channel) == (m["message_id"], "email")
    assert (consent.data.channel, consent.data.state) == ("email", "unsubscribed")
    assert consent.identity.external_ids == {"crm": "p302"}
    # The next marketing email to this person is skipped at once.
    nxt = await h.enqueue(
        tenant, source_id="t2", profile_id="p302", channel="email", template=EMAIL
    )
    await h.dispatch()
    after = await h.message(tenant, nxt["message_id"])  # type: ignore[arg-type]
    assert (after["state"], after["reason"], after["detail"]) == (
        "skipped",
        "no_consent",
        "unsubscribed",
    )
