"""Events published by profile, segment and messaging."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from crm_common.events._base import DecimalStr, EnvelopeBase, Frozen, UtcDatetime
from crm_common.events.customers import Channel, ConsentState

RfmRank = Literal["A", "B", "C", "D", "E"]
_OPEN = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class ProfileTraits(BaseModel):
    """What segments select on: computed traits, consent per channel, segmentable
    attributes and flags, flat (``acquisition_<field>``, ``consent_<channel>``).

    Every field is optional: a missing field is unknown (and stays missing when
    dumped with ``exclude_unset``, as consumers store it). Unknown fields are kept,
    not refused, so a consumer older than its producer still reads newer snapshots.
    ``properties`` are the shop's own custom properties, segmentable by path
    (``properties.member_rank``); contact keys among them (the LINE user id) travel
    in :class:`ProfileContact` only. No name, email address, phone number, street
    address or exact birthday is here.
    """

    model_config = _OPEN

    currency: str | None = None
    orders_count: int | None = None
    total_spent: DecimalStr | None = None
    average_order_value: DecimalStr | None = None
    first_order_at: UtcDatetime | None = None
    last_order_at: UtcDatetime | None = None
    days_since_last_order: int | None = None
    average_days_between_orders: DecimalStr | None = None
    f_stage: Literal["F0", "F1", "F2", "F3+"] | None = None
    rfm_recency: int | None = None
    rfm_frequency: int | None = None
    rfm_monetary: int | None = None
    rfm_rank: RfmRank | None = None
    rfm_rank_previous: RfmRank | None = None
    acquisition_utm_source: str | None = None
    acquisition_utm_medium: str | None = None
    acquisition_utm_campaign: str | None = None
    acquisition_landing_site: str | None = None
    acquisition_referring_site: str | None = None
    acquisition_source_name: str | None = None
    top_categories: list[str] | None = None
    subscription_status: Literal["active", "paused", "lapsed", "cancelled", "none"] | None = None
    subscription_cycle: int | None = None
    last_opened_at: UtcDatetime | None = None
    last_clicked_at: UtcDatetime | None = None
    unengaged_marketing_sends: int | None = None
    expected_next_order_at: UtcDatetime | None = None
    churn_risk: DecimalStr | None = None
    consent_email: ConsentState | None = None
    consent_sms: ConsentState | None = None
    consent_line: ConsentState | None = None
    consent_postal_dm: ConsentState | None = None
    consent_call: ConsentState | None = None
    suppressed_email: list[str] | None = None
    suppressed_sms: list[str] | None = None
    suppressed_line: list[str] | None = None
    suppressed_postal_dm: list[str] | None = None
    suppressed_call: list[str] | None = None
    contactable_email: bool | None = None
    contactable_sms: bool | None = None
    contactable_line: bool | None = None
    contactable_postal_dm: bool | None = None
    contactable_call: bool | None = None
    prefecture: str | None = None
    country_code: str | None = None
    gender: str | None = None
    birthday_month: int | None = None
    tags: list[str] | None = None
    email_domain: str | None = None
    has_email: bool | None = None
    has_phone: bool | None = None
    properties: dict[str, Any] | None = None
    deleted: bool | None = None
    redacted: bool | None = None

    @model_serializer(mode="wrap")
    def _sent_fields_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A field nobody set stays missing on the wire and in stores ("unknown"),
        # so a record read and written again is the record that was sent.
        out: dict[str, Any] = handler(self)
        sent = self.model_fields_set
        if len(sent) == len(_TRAIT_FIELDS):  # every field set (profile's own snapshots)
            return out
        return {k: v for k, v in out.items() if k in sent or k not in _TRAIT_FIELDS}

    def as_stored(self) -> dict[str, Any]:
        """JSON as consumers keep it: the fields the producer sent, unknown ones too."""
        return self.model_dump(mode="json")


_TRAIT_FIELDS = frozenset(ProfileTraits.model_fields)


class ProfileContact(BaseModel):
    """How to reach the person, for messaging only (segment never stores it); empty
    after an erasure. Address parts are flat (``address_<part>``)."""

    model_config = _OPEN

    first_name: str | None = None
    last_name: str | None = None
    first_name_kana: str | None = None
    last_name_kana: str | None = None
    email: str | None = None
    phone: str | None = None
    birthday: date | None = None  # date-triggered journeys need the day
    address_postal_code: str | None = None
    address_prefecture: str | None = None
    address_city: str | None = None
    address_address1: str | None = None
    address_address2: str | None = None
    address_country_code: str | None = None
    line_user_id: str | None = None

    @model_serializer(mode="wrap")
    def _known_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        return {k: v for k, v in out.items() if v is not None}

    def as_stored(self) -> dict[str, Any]:
        """The known parts only (JSON)."""
        return self.model_dump(mode="json")


CONTACT_PROPERTIES = ("line_user_id",)
"""Custom properties that are contact addresses: published in ``contact``, never in
``traits.properties``."""


class ProfileSnapshot(Frozen):
    """``profile.changed`` data, version 2: ``traits`` (:class:`ProfileTraits`) and
    ``contact`` (:class:`ProfileContact`) are typed.

    Version 1 carried both as free dicts with the same keys, and the LINE user id
    also in ``traits.properties``; a v1 record still parses: a contact property
    found in ``traits.properties`` moves to ``contact``.
    """

    profile_id: str
    version: int = Field(ge=1)
    traits: ProfileTraits
    contact: ProfileContact = Field(default_factory=ProfileContact)

    @model_validator(mode="before")
    @classmethod
    def _contact_out_of_properties(cls, data: Any) -> Any:
        traits = data.get("traits") if isinstance(data, dict) else None
        if not isinstance(traits, dict) or not isinstance(traits.get("properties"), dict):
            return data
        properties: dict[str, Any] = traits["properties"]
        if not any(k in properties for k in CONTACT_PROPERTIES):
            return data
        contact: dict[str, Any] = dict(data.get("contact") or {})
        for key in CONTACT_PROPERTIES:
            if key in properties:
                contact.setdefault(key, properties[key])
        kept = {k: v for k, v in properties.items() if k not in CONTACT_PROPERTIES}
        return {**data, "traits": {**traits, "properties": kept}, "contact": contact}

    def as_stored(self) -> dict[str, Any]:
        """Traits and contact as one flat JSON dict (messaging's recipient record)."""
        return {**self.traits.as_stored(), **self.contact.as_stored()}


class _ProfileKeyed(EnvelopeBase):
    """Events about a known profile are keyed ``tenant:profile_id`` (not by identity)."""

    def partition_key(self) -> str:
        data = getattr(self, "data", None)
        profile_id = getattr(data, "survivor_id", None) or getattr(data, "profile_id", None)
        return f"{self.tenant_id}:{profile_id}" if profile_id else super().partition_key()


class ProfileChanged(_ProfileKeyed):
    type: Literal["profile.changed"] = "profile.changed"
    schema_version: int = 2  # v2: typed traits and contact (see ProfileSnapshot)
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
