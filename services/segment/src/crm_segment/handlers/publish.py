"""segment.entered / segment.exited through the outbox, keyed by tenant:profile_id.

Event ids are stable per membership row: (segment, profile, entered_at) names
one entry and its exit, so a republished outbox row is dropped downstream by
id, and an entry and its exit are always told apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import Identity, stable_event_id
from crm_common.events.downstream import MembershipData, SegmentEntered, SegmentExited
from crm_common.outbox import enqueue
from crm_segment import metrics
from crm_segment.config import SCHEMA, SEGMENTS_TOPIC

CRM_PLATFORM = "crm"  # identity.external_ids["crm"] names a profile directly


def entered_event_id(tenant_id: str, segment_id: str, profile_id: str, entered_at: datetime) -> str:
    return stable_event_id(
        "segment.entered", tenant_id, segment_id, profile_id, entered_at.isoformat()
    )


def exited_event_id(tenant_id: str, segment_id: str, profile_id: str, entered_at: datetime) -> str:
    return stable_event_id(
        "segment.exited", tenant_id, segment_id, profile_id, entered_at.isoformat()
    )


def entered(
    tenant_id: str, segment_id: str, profile_id: str, at: datetime, reason: str
) -> SegmentEntered:
    return SegmentEntered(
        event_id=entered_event_id(tenant_id, segment_id, profile_id, at),
        tenant_id=tenant_id,
        source="segment",
        occurred_at=at,
        received_at=at,
        identity=Identity(external_ids={CRM_PLATFORM: profile_id}),
        data=MembershipData(segment_id=segment_id, profile_id=profile_id, reason=reason, at=at),
    )


def exited(
    tenant_id: str,
    segment_id: str,
    profile_id: str,
    entered_at: datetime,
    at: datetime,
    reason: str,
) -> SegmentExited:
    return SegmentExited(
        event_id=exited_event_id(tenant_id, segment_id, profile_id, entered_at),
        tenant_id=tenant_id,
        source="segment",
        occurred_at=at,
        received_at=at,
        identity=Identity(external_ids={CRM_PLATFORM: profile_id}),
        data=MembershipData(segment_id=segment_id, profile_id=profile_id, reason=reason, at=at),
    )


async def publish(
    session: AsyncSession,
    events: Iterable[SegmentEntered | SegmentExited],
    trigger: str,
    batch: int = 5000,
) -> None:
    """Enqueue in chunks of ``batch`` rows per statement."""
    chunk: list[SegmentEntered | SegmentExited] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= batch:
            await _flush(session, chunk, trigger)
            chunk = []
    await _flush(session, chunk, trigger)


async def _flush(
    session: AsyncSession, chunk: list[SegmentEntered | SegmentExited], trigger: str
) -> None:
    if not chunk:
        return
    await enqueue(session, SCHEMA, SEGMENTS_TOPIC, chunk)
    entries = sum(1 for e in chunk if isinstance(e, SegmentEntered))
    metrics.MEMBERSHIP_CHANGES.labels("entered", trigger).inc(entries)
    metrics.MEMBERSHIP_CHANGES.labels("exited", trigger).inc(len(chunk) - entries)
