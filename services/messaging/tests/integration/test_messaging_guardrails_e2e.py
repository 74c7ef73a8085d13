"""Consent, caps and quiet hours decided at send time, with a moved clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from messaging_it import SMS_ACCOUNT, TOKYO, Harness
from messaging_it import person_traits as _traits

pytestmark = pytest.mark.infra

EMAIL = {"subject": "こんにちは {{ profile.first_name }}", "text": "{{ profile.name }} 様"}
SMS = {"text": "セールのお知らせ"}


async def test_consent_and_suppression_decide_marketing_and_transactional(harness: Harness) -> None:
    h = harness
    h.clock.set(datetime(2026, 1, 15, 12, 0, tzinfo=TOKYO))
    tenant = await h.tenant()
    await h.profiles(
        tenant,
        {
            "p-never": _traits(1, consent_email="never"),
            "p-unsub": _traits(2, consent_email="unsubscribed"),
            "p-bounced": _traits(3, suppressed_email=["bounced"]),
            "p-ok": _traits(4),
        },
    )
    ids = {}
    for pid in ("p-never", "p-unsub", "p-bounced", "p-ok"):
        for purpose in ("marketing", "transactional"):
            m = await h.enqueue(
                tenant,
                source_kind="campaign" if purpose == "marketing" else "transactional",
                source_id=f"c-{purpose}",
                profile_id=pid,
                channel="email",
                purpose=purpose,
                template=EMAIL,
            )
            ids[(pid, purpose)] = m["message_id"]
    await h.dispatch()
    states = {k: await h.message(tenant, mid) for k, mid in ids.items()}
    summary = {k: (m["state"], m["reason"]) for k, m in states.items()}
    assert summary == {
        ("p-never", "marketing"): ("skipped", "no_consent"),
        ("p-never", "transactional"): ("sent", None),
        ("p-unsub", "marketing"): ("skipped", "no_consent"),
        ("p-unsub", "transactional"): ("sent", None),
        ("p-bounced", "marketing"): ("skipped", "suppressed:bounced"),
        ("p-bounced", "transactional"): ("skipped", "suppressed:bounced"),
        ("p-ok", "marketing"): ("sent", None),
        ("p-ok", "transactional"): ("sent", None),
    }
    assert states[("p-never", "marketing")]["detail"] == "never"


async def test_frequency_cap_skips_the_third_and_opens_again_after_the_window(
    harness: Harness,
) -> None:
    h = harness
    h.clock.set(datetime(2026, 1, 15, 12, 0, tzinfo=TOKYO))
    tenant = await h.tenant()
    await h.profiles(tenant, {"p1": _traits(10)})
    sent = []
    for n in range(3):
        m = await h.enqueue(
            tenant, source_id=f"cap-{n}", profile_id="p1", channel="email", template=EMAIL
        )
        await h.dispatch()
        sent.append(await h.message(tenant, m["message_id"]))
        h.clock.advance(timedelta(hours=1))
    assert [(m["state"], m["reason"], m["detail"]) for m in sent] == [
        ("sent", None, None),
        ("sent", None, None),
        ("skipped", "frequency_cap", "email:2/604800s"),
    ]
    log = await h.client.get(
        "/v1/messages", params={"profile_id": "p1", "status": "skipped"}, headers=tenant.headers
    )
    assert [(m["state"], m["reason"]) for m in log.json()["items"]] == [
        ("skipped", "frequency_cap")
    ]
    h.clock.advance(timedelta(days=7))  # the first send leaves the 7-day window
    m = await h.enqueue(tenant, source_id="cap-3", profile_id="p1", channel="email", template=EMAIL)
    await h.dispatch()
    assert (await h.message(tenant, m["message_id"]))["state"] == "sent"


async def test_quiet_hours_hold_at_22_and_send_at_08_jst(harness: Harness) -> None:
    h = harness
    h.clock.set(datetime(2026, 1, 15, 22, 0, tzinfo=TOKYO))
    tenant = await h.tenant(sms=SMS_ACCOUNT)
    await h.profiles(tenant, {"p1": _traits(20)})
    m = await h.enqueue(tenant, source_id="night", profile_id="p1", channel="sms", template=SMS)
    await h.dispatch()
    held = await h.message(tenant, m["message_id"])
    assert (held["state"], held["reason"]) == ("held", "quiet_hours")
    assert datetime.fromisoformat(held["next_attempt_at"]) == datetime(
        2026, 1, 16, 8, 0, tzinfo=TOKYO
    )
    h.clock.set(datetime(2026, 1, 16, 7, 59, tzinfo=TOKYO))
    await h.dispatch()
    assert (await h.message(tenant, m["message_id"]))["state"] == "held"
    h.clock.set(datetime(2026, 1, 16, 8, 0, tzinfo=TOKYO))
    await h.dispatch()
    done = await h.message(tenant, m["message_id"])
    assert (done["state"], done["attempts"]) == ("sent", 1)
    assert datetime.fromisoformat(done["sent_at"]) == datetime(2026, 1, 16, 8, 0, tzinfo=TOKYO)
    events = await h.events(
        tenant.tenant_id, lambda found: {"message.held", "message.sent"} <= {e.type for e in found}
    )
    assert [e.type for e in events] == ["message.queued", "message.held", "message.sent"]
    assert {e.identity.external_ids["crm"] for e in events} == {"p1"}
