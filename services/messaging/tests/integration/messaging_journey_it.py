"""Helpers of the journey integration tests: facts onto Kafka as profile and segment
publish them, templates and journeys over the API, the worker driven by hand."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from messaging_it import Harness, Tenant, until
from sqlalchemy import select

from crm_common.events import Identity, encode_event
from crm_common.events.downstream import (
    MembershipData,
    ProfileActivity,
    ProfileActivityData,
    SegmentEntered,
)
from crm_messaging.tables import messages
from crm_messaging.tables_journeys import journey_facts, journey_runs

NO_LIMITS: dict[str, Any] = {"quiet_hours": {}, "frequency_caps": []}


def worker(h: Harness) -> Any:
    return h.app.state.runtime.extras["journey_worker"]


async def activity(
    h: Harness,
    tenant: Tenant,
    profile_id: str,
    source_type: str,
    data: dict[str, Any],
    at: datetime | None = None,
    source_event_id: str | None = None,
) -> str:
    """``profile.activity`` as the profile service republishes an applied event."""
    at = at or h.clock.now()
    source_event_id = source_event_id or f"src-{uuid.uuid4().hex}"
    event = ProfileActivity(
        event_id=f"act-{source_event_id}",
        tenant_id=tenant.tenant_id,
        source="profile",
        occurred_at=at,
        received_at=at,
        identity=Identity(external_ids={"crm": profile_id}),
        data=ProfileActivityData(
            profile_id=profile_id,
            source_event_id=source_event_id,
            source_type=source_type,
            occurred_at=at,
            data=data,
        ),
    )
    await h.producer.send_event("crm.profiles.v1", event)
    return source_event_id


async def entered(h: Harness, tenant: Tenant, profile_ids: list[str], segment_id: str) -> None:
    at = h.clock.now()
    topic = h.producer.topic("crm.segments.v1")
    records = []
    for profile_id in profile_ids:
        event = SegmentEntered(
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


async def template(
    h: Harness, tenant: Tenant, template_id: str, channel: str, **parts: str
) -> None:
    response = await h.client.post(
        "/v1/templates",
        json={"template_id": template_id, "name": template_id, "channel": channel, "parts": parts},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text


async def install(h: Harness, tenant: Tenant, key: str, **body: Any) -> dict[str, Any]:
    response = await h.client.post(
        f"/v1/journey-templates/{key}/install", json=body, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    journey = dict(response.json())
    started = await h.client.post(f"/v1/journeys/{journey['id']}/start", headers=tenant.headers)
    assert started.status_code == 200, started.text
    return dict(started.json())


async def runs(h: Harness, tenant: Tenant, journey_id: str, profile_id: str) -> list[Any]:
    response = await h.client.get(
        f"/v1/journeys/{journey_id}/runs", params={"profile_id": profile_id}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def run_count(h: Harness, tenant: Tenant, journey_id: str) -> int:
    r = journey_runs
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(r.c.run_id).where(
                r.c.tenant_id == tenant.tenant_id, r.c.journey_id == journey_id
            )
        )
        return len(rows.all())


async def wait_runs(h: Harness, tenant: Tenant, journey_id: str, count: int) -> None:
    async def enough() -> bool:
        return await run_count(h, tenant, journey_id) >= count

    await until(enough)


async def wait_facts(h: Harness, tenant: Tenant, profile_id: str, kind: str) -> None:
    f = journey_facts

    async def there() -> bool:
        async with h.db.transaction() as s:
            found = await s.scalar(
                select(f.c.ref).where(
                    f.c.tenant_id == tenant.tenant_id,
                    f.c.profile_id == profile_id,
                    f.c.kind == kind,
                )
            )
            return found is not None

    await until(there)


async def journey_messages(h: Harness, tenant: Tenant, profile_id: str) -> list[tuple[str, str]]:
    """(step id, channel) of a person's journey messages, in enqueue order."""
    m = messages
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(m.c.step_id, m.c.channel)
            .where(
                m.c.tenant_id == tenant.tenant_id,
                m.c.profile_id == profile_id,
                m.c.source_kind == "journey",
            )
            .order_by(m.c.queued_at, m.c.step_id)
        )
        return [(step, channel) for step, channel in rows]
