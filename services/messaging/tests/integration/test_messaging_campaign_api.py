"""Campaigns over REST: validation, schedule in the tenant's zone, audience frozen from
the segment, exactly once per person, throttle, pause, resume, cancel."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from messaging_campaign_it import NO_LIMITS, act, campaign, create, members, worker
from messaging_it import TOKYO, Harness, Tenant
from messaging_it import person_traits as traits
from messaging_providers import SmtpServer
from sqlalchemy import func, select

from crm_messaging.tables import messages

pytestmark = pytest.mark.infra
logging.getLogger("mail.log").setLevel(logging.WARNING)


async def _campaign_messages(h: Harness, campaign_id: str) -> dict[str, str]:
    """profile id -> state of the campaign's messages."""
    m = messages
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(m.c.profile_id, m.c.state).where(
                m.c.source_kind == "campaign", m.c.source_id == campaign_id
            )
        )
        return dict(rows.all())


async def _people(h: Harness, tenant: Tenant, base: int, n: int, segment: str) -> list[str]:
    ids = [f"c{base + i}" for i in range(n)]
    await h.profiles(tenant, {pid: traits(base + i) for i, pid in enumerate(ids)})
    await members(h, tenant, segment, ids)
    return ids


async def test_invalid_campaigns_are_refused_with_field_paths(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant()
    post = h.client.post
    missing = await post("/v1/campaigns", json={"name": "x"}, headers=tenant.headers)
    assert missing.status_code == 422
    paths = [d["path"] for d in missing.json()["error"]["details"]]
    assert paths == ["body.segment_id", "body.channel"]
    both = {"name": "x", "segment_id": "s", "channel": "email", "template_id": "t", "template": {}}
    answer = await post("/v1/campaigns", json=both, headers=tenant.headers)
    assert answer.status_code == 422
    assert "exactly one of template_id or template" in answer.json()["error"]["message"]
    unknown = {"name": "x", "segment_id": "s", "channel": "email", "template_id": "nope"}
    answer = await post("/v1/campaigns", json=unknown, headers=tenant.headers)
    assert (answer.status_code, answer.json()["error"]["details"][0]["path"]) == (
        422,
        "body.template_id",
    )
    broken = {"name": "x", "segment_id": "s", "channel": "email"}
    broken["template"] = {"subject": "hi", "text": "{% if %}"}  # type: ignore[assignment]
    answer = await post("/v1/campaigns", json=broken, headers=tenant.headers)
    assert (answer.status_code, answer.json()["error"]["details"][0]["path"]) == (
        422,
        "body.template.text",
    )
    throttle = {**unknown, "template_id": None, "template": {"text": "x"}, "throttle_per_minute": 0}
    answer = await post("/v1/campaigns", json=throttle, headers=tenant.headers)
    assert answer.json()["error"]["details"][0]["path"] == "body.throttle_per_minute"
    assert (await h.client.get("/v1/campaigns")).status_code == 401
    other = await h.client.get(f"/v1/campaigns/{uuid.uuid4()}", headers=tenant.headers)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "not_found")


async def test_a_scheduled_campaign_sends_once_to_the_segment_at_local_time(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    h.clock.set(datetime(2026, 5, 10, 9, 0, tzinfo=TOKYO))
    tenant = await h.tenant(**NO_LIMITS)
    segment = f"seg-{uuid.uuid4().hex[:6]}"
    people = await _people(h, tenant, 4100, 3, segment)
    await members(h, tenant, segment, ["c-gone"])
    await members(h, tenant, segment, ["c-gone"], exited=True)
    created = await create(h, tenant, segment_id=segment, context={"coupon_code": "SPRING"})
    assert (created["status"], created["purpose"], created["audience"]) == ("draft", "marketing", 0)
    scheduled = await act(h, tenant, created["id"], "schedule", send_at="2026-05-11T10:00:00")
    assert scheduled["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled["send_at"]) == datetime(2026, 5, 11, 1, 0, tzinfo=UTC)

    assert await worker(h).run_until_idle() == 0  # not yet
    h.clock.set(datetime(2026, 5, 11, 10, 0, tzinfo=TOKYO))
    await worker(h).run_until_idle()
    done = await campaign(h, tenant, created["id"])
    assert (done["status"], done["audience"], done["enqueued"]) == ("completed", 3, 3)
    assert await _campaign_messages(h, created["id"]) == dict.fromkeys(people, "queued")
    await worker(h).run_until_idle()
    await h.dispatch()
    assert await _campaign_messages(h, created["id"]) == dict.fromkeys(people, "sent")
    for n in (4100, 4101, 4102):
        assert len(smtp_server.to(f"hanako{n}@example.jp")) == 1
    assert smtp_server.to("hanako4103@example.jp") == []

    edit = await h.client.patch(
        f"/v1/campaigns/{created['id']}", json={"segment_id": "x"}, headers=tenant.headers
    )
    assert (edit.status_code, edit.json()["error"]["details"][0]["path"]) == (
        409,
        "body.segment_id",
    )
    again = await h.client.post(f"/v1/campaigns/{created['id']}/cancel", headers=tenant.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    listed = await h.client.get("/v1/campaigns?status=completed", headers=tenant.headers)
    assert [c["id"] for c in listed.json()["items"]] == [created["id"]]


async def test_throttle_pause_resume_and_cancel(harness: Harness) -> None:
    h = harness
    start = datetime(2026, 5, 20, 9, 0, tzinfo=TOKYO)
    h.clock.set(start)
    tenant = await h.tenant(**NO_LIMITS)
    segment = f"seg-{uuid.uuid4().hex[:6]}"
    await _people(h, tenant, 4200, 10, segment)
    created = await create(h, tenant, segment_id=segment, throttle_per_minute=60)
    cid = created["id"]
    await act(h, tenant, cid, "schedule")

    async def step(seconds: float) -> dict[str, Any]:
        h.clock.set(h.clock.now() + timedelta(seconds=seconds))
        await worker(h).run_until_idle()
        return await campaign(h, tenant, cid)

    first = await step(0)
    assert (first["status"], first["audience"], first["enqueued"]) == ("sending", 10, 1)
    assert (await step(0.4))["enqueued"] == 1  # one a second
    assert (await step(0.6))["enqueued"] == 2
    assert (await step(1.0))["enqueued"] == 3
    paused = await act(h, tenant, cid, "pause")
    assert paused["status"] == "paused"
    assert (await step(60))["enqueued"] == 3
    patched = await h.client.patch(
        f"/v1/campaigns/{cid}", json={"throttle_per_minute": 120}, headers=tenant.headers
    )
    assert patched.json()["throttle_per_minute"] == 120
    resumed = await act(h, tenant, cid, "resume")
    assert resumed["status"] == "sending"
    assert (await step(0))["enqueued"] == 4  # no catch-up burst after the pause
    assert (await step(0.5))["enqueued"] == 5
    cancelled = await act(h, tenant, cid, "cancel")
    assert cancelled["status"] == "cancelled"
    assert (await step(120))["enqueued"] == 5
    assert len(await _campaign_messages(h, cid)) == 5
    async with h.db.transaction() as s:
        n = await s.scalar(
            select(func.count()).where(messages.c.source_id == cid, messages.c.tenant_id != "x")
        )
    assert n == 5
