"""Helpers of the campaign and attribution integration tests: segment members and
profile activity onto Kafka as segment and profile publish them, campaigns over
the API, the campaign worker driven by hand."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from messaging_it import Harness, Tenant, until
from messaging_journey_it import activity
from sqlalchemy import func, select

from crm_common.events import Identity, encode_event
from crm_common.events.downstream import (
    MembershipData,
    SegmentEntered,
    SegmentExited,
)
from crm_messaging.tables_campaigns import attributions, engagements
from crm_messaging.tables_journeys import journey_memberships

NO_LIMITS: dict[str, Any] = {"quiet_hours": {}, "frequency_caps": []}
EMAIL = {
    "subject": "{{ profile.last_name }}様 春のセール",
    "text": "https://shop.example.jp/sale",
    "html": '<p>春のセール</p><a href="https://shop.example.jp/sale">見る</a>',
}


def worker(h: Harness) -> Any:
    return h.app.state.runtime.extras["campaign_worker"]


async def members(
    h: Harness, tenant: Tenant, segment_id: str, profile_ids: list[str], *, exited: bool = False
) -> None:
    """segment.entered (or exited) for each person, then wait until messaging knows."""
    at = h.clock.now()
    topic = h.producer.topic("crm.segments.v1")
    kind = SegmentExited if exited else SegmentEntered
    records = []
    for profile_id in profile_ids:
        event = kind(
            event_id=f"se-{uuid.uuid4().hex}",
            tenant_id=tenant.tenant_id,
            source="segment",
            occurred_at=at,
            received_at=at,
            identity=Identity(external_ids={"crm": profile_id}),
            data=MembershipData(segment_id=segment_id, profile_id=profile_id, reason="t", at=at),
        )
        records.append((topic, event.partition_key(), encode_event(event), None))
    await h.producer.send_many(records)
    m = journey_memberships
    state = "out" if exited else "in"

    async def known() -> bool:
        async with h.db.transaction() as s:
            n = await s.scalar(
                select(func.count()).where(
                    m.c.tenant_id == tenant.tenant_id,
                    m.c.segment_id == segment_id,
                    m.c.profile_id.in_(profile_ids),
                    m.c.state == state,
                )
            )
            return n == len(profile_ids)

    await until(known)


async def order(
    h: Harness,
    tenant: Tenant,
    profile_id: str,
    order_id: str,
    total: str,
    at: datetime,
    *,
    source_type: str = "order.placed",
    event_id: str | None = None,
) -> None:
    """``profile.activity`` of an order, as the profile service republishes it."""
    data = {"order_id": order_id, "total": total, "currency": "JPY", "placed_at": at.isoformat()}
    if source_type == "order.cancelled":
        data["cancelled_at"] = at.isoformat()
    await activity(h, tenant, profile_id, source_type, data, at, source_event_id=event_id)


async def engagement_count(h: Harness, message_ids: list[str]) -> int:
    async with h.db.transaction() as s:
        n = await s.scalar(select(func.count()).where(engagements.c.message_id.in_(message_ids)))
        return int(n or 0)


async def attribution_rows(h: Harness, tenant: Tenant) -> dict[str, tuple[str | None, str, Any]]:
    """order id -> (message id or None, revenue as text, cancelled_at) of every order judged."""
    a = attributions
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(a.c.order_id, a.c.message_id, a.c.revenue, a.c.cancelled_at).where(
                a.c.tenant_id == tenant.tenant_id
            )
        )
        return {o: (m, format(r.normalize(), "f"), c) for o, m, r, c in rows}


async def create(h: Harness, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Spring sale")
    body.setdefault("channel", "email")
    if "template_id" not in body:
        body.setdefault("template", EMAIL)
    response = await h.client.post("/v1/campaigns", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def act(
    h: Harness, tenant: Tenant, campaign_id: str, action: str, **body: Any
) -> dict[str, Any]:
    response = await h.client.post(
        f"/v1/campaigns/{campaign_id}/{action}", json=body or None, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def campaign(h: Harness, tenant: Tenant, campaign_id: str) -> dict[str, Any]:
    response = await h.client.get(f"/v1/campaigns/{campaign_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def stats(h: Harness, tenant: Tenant, path: str) -> dict[str, Any]:
    response = await h.client.get(f"{path}/stats", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())
