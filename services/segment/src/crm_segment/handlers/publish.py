"""segment.entered / segment.exited through the outbox, keyed by tenant:profile_id.

Event ids are stable per membership row: (segment, profile, entered_at) names
one entry and its exit, so a republished outbox row is dropped downstream by
id, and an entry and its exit are always told apart. PostgreSQL computes the same
ids (:data:`crm_segment.repository.changes.EVENT_ID_SQL`) when it writes the
outbox rows of a set of changes itself: a SHA-256 of the parts, as a UUID
(version 8, RFC 9562's custom layout; SQL has no SHA-1 for uuid5).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from crm_common.events import Identity
from crm_common.events.downstream import MembershipData, SegmentEntered, SegmentExited
from crm_segment import metrics
from crm_segment.config import SEGMENTS_TOPIC

CRM_PLATFORM = "crm"  # identity.external_ids["crm"] names a profile directly


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def membership_event_id(
    kind: str, tenant_id: str, segment_id: str, profile_id: str, entered_at: datetime
) -> str:
    """The id of the entry (or exit) of the membership row entered at ``entered_at``."""
    micros = (entered_at - _EPOCH) // _MICROSECOND
    parts = (kind, tenant_id, segment_id, profile_id, str(micros))
    digest = bytearray(hashlib.sha256("\x1f".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(digest)))


def entered_event_id(tenant_id: str, segment_id: str, profile_id: str, entered_at: datetime) -> str:
    return membership_event_id("segment.entered", tenant_id, segment_id, profile_id, entered_at)


def exited_event_id(tenant_id: str, segment_id: str, profile_id: str, entered_at: datetime) -> str:
    return membership_event_id("segment.exited", tenant_id, segment_id, profile_id, entered_at)


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


def told(tenant_id: str, at: datetime) -> dict[str, Any]:
    """What a statement telling membership changes at ``at`` needs
    (:mod:`crm_segment.repository.changes`): the tenant, the moment, the topic and the
    two payload templates, encoded by the event models themselves."""
    return {
        "tenant": tenant_id,
        "now": at,
        "topic": SEGMENTS_TOPIC,
        "entered_proto": _template(entered(tenant_id, "", "", at, "")),
        "exited_proto": _template(exited(tenant_id, "", "", at, at, "")),
    }


_PARTS = ("event_id", "profile_id", "segment_id", "reason")


def _template(event: SegmentEntered | SegmentExited) -> str:
    """The event's JSON as a ``format()`` template: ``%1$s`` the event id, ``%2$s`` the
    profile id, ``%3$s`` the segment id, ``%4$s`` the reason (each a JSON string)."""
    body = event.model_dump(mode="json", by_alias=True)
    marks = {part: f"\x00{part}\x00" for part in _PARTS}
    body["event_id"] = marks["event_id"]
    body["identity"]["external_ids"] = {CRM_PLATFORM: marks["profile_id"]}
    body["data"].update(
        profile_id=marks["profile_id"], segment_id=marks["segment_id"], reason=marks["reason"]
    )
    template = orjson.dumps(body).decode().replace("%", "%%")
    for number, part in enumerate(_PARTS, start=1):
        template = template.replace(orjson.dumps(marks[part]).decode(), f"%{number}$s")
    return template


def count(applied: Any, trigger: str) -> None:
    """Membership changes a statement made, in the metrics."""
    metrics.MEMBERSHIP_CHANGES.labels("entered", trigger).inc(applied.entered)
    metrics.MEMBERSHIP_CHANGES.labels("exited", trigger).inc(applied.exited)
