"""Events published by profile, segment and messaging."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from crm_common.events._base import DecimalStr, EnvelopeBase, Frozen, UtcDatetime
from crm_common.events.customers import Channel


class ProfileSnapshot(Frozen):
    """``traits``: everything segments select on, without direct personal data.

    ``contact``: how to reach the person (names, email, phone, postal address,
    LINE user id), for messaging only; segment never stores it. After an
    erasure it is empty, and consumers overwrite what they held.
    """

    profile_id: str
    version: int = Field(ge=1)
    traits: dict[str, Any]
    contact: dict[str, Any] = Field(default_factory=dict)


class _ProfileKeyed(EnvelopeBase):
    """Events about a known profile are keyed ``tenant:profile_id`` (not by identity)."""

    def partition_key(self) -> str:
        data = getattr(self, "data", None)
        profile_id = getattr(data, "survivor_id", None) or getattr(data, "profile_id", None)
        return f"{self.tenant_id}:{profile_id}" if profile_id else super().partition_key()


class ProfileChanged(_ProfileKeyed):
    type: Literal["profile.changed"] = "profile.changed"
    data: ProfileSnapshot


class ProfileMergedData(Frozen):
    survivor_id: str
    merged_id: str
    merged_at: UtcDatetime


class ProfileMerged(_ProfileKeyed):
    type: Literal["profile.merged"] = "profile.merged"
    data: ProfileMergedData


class ProfileActivityData(Frozen):
    """A canonical event attributed to the profile it belongs to.

    Canonical events name people by identity (email, platform id, tokens); only
    the profile service knows which profile that is. After applying an event it
    republishes it here, keyed by ``tenant:profile_id`` on ``crm.profiles.v1``,
    so segment (event conditions) and messaging (event triggers) can act on it
    in order with the profile's changes.
    """

    profile_id: str
    source_event_id: str
    source_type: str
    occurred_at: UtcDatetime
    data: dict[str, Any]


class ProfileActivity(_ProfileKeyed):
    type: Literal["profile.activity"] = "profile.activity"
    data: ProfileActivityData


class MembershipData(Frozen):
    segment_id: str
    profile_id: str
    reason: str
    at: UtcDatetime


class SegmentEntered(_ProfileKeyed):
    type: Literal["segment.entered"] = "segment.entered"
    data: MembershipData


class SegmentExited(_ProfileKeyed):
    type: Literal["segment.exited"] = "segment.exited"
    data: MembershipData


class MessageData(Frozen):
    message_id: str
    profile_id: str
    channel: Channel
    purpose: Literal["marketing", "transactional"] = "marketing"
    source_kind: Literal["journey", "campaign", "transactional", "manual"]
    source_id: str
    step_id: str | None = None
    template_id: str | None = None
    reason: str | None = None
    url: str | None = None
    outcome: str | None = None
    revenue: DecimalStr | None = None
    at: UtcDatetime


class _MessageEvent(_ProfileKeyed):
    data: MessageData


class MessageQueued(_MessageEvent):
    type: Literal["message.queued"] = "message.queued"


class MessageSent(_MessageEvent):
    type: Literal["message.sent"] = "message.sent"


class MessageDelivered(_MessageEvent):
    type: Literal["message.delivered"] = "message.delivered"


class MessageFailed(_MessageEvent):
    type: Literal["message.failed"] = "message.failed"


class MessageSkipped(_MessageEvent):
    type: Literal["message.skipped"] = "message.skipped"


class MessageHeld(_MessageEvent):
    type: Literal["message.held"] = "message.held"


class MessageOpened(_MessageEvent):
    type: Literal["message.opened"] = "message.opened"


class MessageClicked(_MessageEvent):
    type: Literal["message.clicked"] = "message.clicked"


class MessageUnsubscribed(_MessageEvent):
    type: Literal["message.unsubscribed"] = "message.unsubscribed"


class MessageBounced(_MessageEvent):
    type: Literal["message.bounced"] = "message.bounced"


class MessageComplained(_MessageEvent):
    type: Literal["message.complained"] = "message.complained"


class CallOutcomeRecorded(_MessageEvent):
    """The call team recorded what happened (reached, no_answer, declined, converted)."""

    type: Literal["message.call_outcome"] = "message.call_outcome"
