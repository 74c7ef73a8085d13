"""Attribution from opens, clicks and postal DMs to orders, and the stats built on it."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta

import pytest
from messaging_campaign_it import (
    NO_LIMITS,
    act,
    attribution_rows,
    create,
    engagement_count,
    members,
    order,
    stats,
    worker,
)
from messaging_it import SMS_ACCOUNT, TOKYO, Harness, until
from messaging_it import person_traits as traits
from messaging_providers import SmtpServer
from sqlalchemy import select

from crm_messaging.tables import messages

pytestmark = pytest.mark.infra
logging.getLogger("mail.log").setLevel(logging.WARNING)

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=TOKYO)
BASE = 4300


def _links(smtp: SmtpServer, n: int) -> tuple[str, str]:
    [received] = smtp.to(f"hanako{n}@example.jp")
    html = received.message.get_body(("html",)).get_content()
    [pixel] = re.findall(r'src="http://testserver(/t/o/[^"]+)"', html)
    [click] = re.findall(r'href="http://testserver(/t/c/[^"]+)"', html)
    return pixel, click


async def _message_ids(h: Harness, source_id: str) -> dict[str, str]:
    m = messages
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(m.c.profile_id, m.c.message_id).where(m.c.source_id == source_id)
        )
        return dict(rows.all())


async def test_orders_are_credited_to_the_last_qualifying_message(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    h.clock.set(T0)
    tenant = await h.tenant(**NO_LIMITS)
    a, b, c, d = (f"at{BASE + i}" for i in range(4))
    await h.profiles(tenant, {pid: traits(BASE + i) for i, pid in enumerate((a, b, c, d))})
    mail_segment, dm_segment = f"seg-{uuid.uuid4().hex[:6]}", f"seg-{uuid.uuid4().hex[:6]}"
    await members(h, tenant, mail_segment, [a, b, c])
    await members(h, tenant, dm_segment, [d])
    mail = await create(h, tenant, segment_id=mail_segment)
    dm = await create(
        h, tenant, segment_id=dm_segment, channel="postal_dm", template={"text": "夏のご案内"}
    )
    for campaign in (mail, dm):
        await act(h, tenant, campaign["id"], "schedule")
    await worker(h).run_until_idle()
    await h.dispatch()
    batches = (await h.client.get("/v1/dm-batches", headers=tenant.headers)).json()["items"]
    [batch] = batches
    h.clock.set(T0 + timedelta(hours=2))  # the print file is taken two hours later
    download = await h.client.get(
        f"/v1/dm-batches/{batch['batch_id']}/download", headers=tenant.headers
    )
    assert download.status_code == 200

    h.clock.set(T0 + timedelta(hours=1))
    pixel_a, _ = _links(smtp_server, BASE)
    _, click_b = _links(smtp_server, BASE + 1)
    assert (await h.client.get(pixel_a)).status_code == 200
    assert (await h.client.get(click_b)).status_code == 302
    ids = await _message_ids(h, mail["id"])

    async def engaged() -> bool:
        return await engagement_count(h, [ids[a], ids[b]]) == 2

    await until(engaged)

    opened = T0 + timedelta(hours=1)
    await order(h, tenant, a, "o-a1", "12000", opened + timedelta(days=3), event_id="ev-a1")
    await order(h, tenant, a, "o-a1", "12000", opened + timedelta(days=3), event_id="ev-a1b")
    await order(h, tenant, a, "o-a2", "3000", opened + timedelta(days=4))
    await order(h, tenant, b, "o-b1", "8000", opened + timedelta(days=6))  # past 5 days
    await order(h, tenant, c, "o-c1", "5000", opened + timedelta(days=1))  # never opened
    sent_dm = T0 + timedelta(hours=2)
    await order(h, tenant, d, "o-d1", "30000.50", sent_dm + timedelta(days=20))
    await order(
        h, tenant, a, "o-a2", "3000", opened + timedelta(days=4.5), source_type="order.cancelled"
    )
    dm_ids = await _message_ids(h, dm["id"])

    async def attributed() -> bool:
        rows = await attribution_rows(h, tenant)
        everyone = {"o-a1", "o-a2", "o-b1", "o-c1", "o-d1"}
        return set(rows) == everyone and rows["o-a2"][2] is not None

    await until(attributed)
    rows = await attribution_rows(h, tenant)
    assert {k: v[:2] for k, v in rows.items()} == {
        "o-a1": (ids[a], "12000"),
        "o-a2": (ids[a], "3000"),
        "o-b1": (None, "8000"),
        "o-c1": (None, "5000"),
        "o-d1": (dm_ids[d], "30000.5"),
    }

    zero = {"sent": 0, "delivered": 0, "opened": 0, "clicked": 0, "converted": 0}
    assert await stats(h, tenant, f"/v1/campaigns/{mail['id']}") == {
        "id": mail["id"],
        "totals": {
            **zero,
            "sent": 3,
            "delivered": 3,
            "opened": 1,
            "clicked": 1,
            "converted": 1,
            "revenue": "12000",
            "skipped": {},
        },
    }
    assert await stats(h, tenant, f"/v1/campaigns/{dm['id']}") == {
        "id": dm["id"],
        "totals": {
            **zero,
            "sent": 1,
            "delivered": 1,
            "converted": 1,
            "revenue": "30000.5",
            "skipped": {},
        },
    }


async def test_journey_stats_group_by_step_from_messages_alone(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    h.clock.set(T0 + timedelta(days=40))
    tenant = await h.tenant(sms=SMS_ACCOUNT, **NO_LIMITS)
    people = {f"js{i}": traits(BASE + 10 + i) for i in range(3)}
    people["js2"] = traits(BASE + 12, consent_email="unsubscribed")
    await h.profiles(tenant, people)
    journey = f"j-{uuid.uuid4().hex[:6]}"
    for profile_id in people:
        await h.enqueue(
            tenant,
            source_kind="journey",
            source_id=journey,
            step_id="welcome",
            profile_id=profile_id,
            channel="email",
            template={"subject": "ようこそ", "text": "https://shop.example.jp/"},
        )
    await h.enqueue(
        tenant,
        source_kind="journey",
        source_id=f"{journey}/reminder/run-1",
        profile_id="js0",
        channel="sms",
        template={"text": "リマインド"},
    )
    await h.dispatch()
    answer = await stats(h, tenant, f"/v1/journeys/{journey}")
    counters = {"opened": 0, "clicked": 0, "converted": 0, "revenue": "0"}
    assert answer == {
        "id": journey,
        "totals": {
            **counters,
            "sent": 3,
            "delivered": 2,  # SMS: delivered once the provider reports it
            "skipped": {"no_consent": 1},
        },
        "steps": [
            {
                "step_id": "reminder",
                **counters,
                "sent": 1,
                "delivered": 0,
                "skipped": {},
            },
            {
                "step_id": "welcome",
                **counters,
                "sent": 2,
                "delivered": 2,
                "skipped": {"no_consent": 1},
            },
        ],
    }
    nothing = await stats(h, tenant, "/v1/journeys/never-sent")
    assert nothing["steps"] == [] and nothing["totals"]["sent"] == 0
