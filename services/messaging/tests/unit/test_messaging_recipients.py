"""Snapshot traits -> recipient state, template variables; tenant settings; clocks."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

from crm_common.events.customers import Address, Channel, ConsentState
from crm_messaging.clock import FileClock
from crm_messaging.domain.guardrails import Suppression, SuppressionReason
from crm_messaging.domain.recipients import recipient_state, template_profile, template_traits
from crm_messaging.domain.tenant_settings import MessagingSettings, SmsProvider

TRAITS = {
    "first_name": "花子",
    "last_name": "山田",
    "email": "hanako@example.jp",
    "phone": "+819012345678",
    "address_postal_code": "100-0001",
    "address_prefecture": "東京都",
    "address_city": "千代田区",
    "line_user_id": "U" + "a1" * 16,  # contact (ProfileSnapshot.as_stored())
    "properties": {"vip": True},
    "consent_email": "subscribed",
    "consent_sms": "unsubscribed",
    "consent_line": "bogus",
    "suppressed_email": ["bounced", "something_new"],
    "contactable_email": False,
    "orders_count": 3,
    "rfm_rank": "A",
}


def test_recipient_state_reads_contact_consent_and_suppression() -> None:
    state = recipient_state("p1", TRAITS)
    assert state.model_dump() == {
        "profile_id": "p1",
        "email": "hanako@example.jp",
        "phone": "+819012345678",
        "line_user_id": "U" + "a1" * 16,
        "name": "山田 花子",
        "address": Address(
            postal_code="100-0001", prefecture="東京都", city="千代田区"
        ).model_dump(),
        "consents": {
            Channel.EMAIL: ConsentState.SUBSCRIBED,
            Channel.SMS: ConsentState.UNSUBSCRIBED,
        },
        "suppressions": (
            Suppression(reason=SuppressionReason.BOUNCED, channel=Channel.EMAIL).model_dump(),
            Suppression(reason=SuppressionReason.MANUAL, channel=Channel.EMAIL).model_dump(),
        ),
    }


def test_missing_keys_are_unknown() -> None:
    state = recipient_state("p2", {})
    assert (state.email, state.name, state.address, state.consents, state.suppressions) == (
        None,
        None,
        None,
        {},
        (),
    )


def test_template_variables_split_attributes_from_traits() -> None:
    assert template_profile("p1", TRAITS) == {
        "id": "p1",
        "first_name": "花子",
        "last_name": "山田",
        "email": "hanako@example.jp",
        "phone": "+819012345678",
        "name": "山田 花子",
        "address": {"postal_code": "100-0001", "prefecture": "東京都", "city": "千代田区"},
    }
    assert template_traits(TRAITS) == {
        "properties": {"vip": True},
        "orders_count": 3,
        "rfm_rank": "A",
    }


def test_settings_defaults_policy_and_masked_secrets() -> None:
    settings = MessagingSettings(
        sms=SmsProvider(account_sid="AC1", auth_token="secret", from_number="+815011112222")
    )
    policy = settings.policy("Asia/Tokyo")
    assert [(c.channel, c.max_messages, c.window) for c in policy.frequency_caps] == [
        (Channel.EMAIL, 2, timedelta(days=7))
    ]
    assert sorted(policy.quiet_hours) == [Channel.CALL, Channel.LINE, Channel.SMS]
    public = settings.public()
    assert public["sms"]["auth_token"] == "********"
    assert MessagingSettings.model_validate(settings.model_dump(mode="json")) == settings


def test_file_clock_runs_on_from_the_written_instant(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "clock")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("2026-01-15T22:00:00+09:00")
    clock = FileClock(path)
    now = clock.now()
    start = datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
    assert start <= now < start + timedelta(seconds=5)
    time.sleep(0.01)
    assert clock.now() > now


def test_a_profile_changed_record_becomes_the_recipient_record() -> None:
    """Parsed once into ProfileSnapshot; a v1 record (the LINE id also in
    traits.properties) gives the same recipient as a v2 one (contact only)."""
    from crm_common.events import decode_event

    line_id = "U" + "c3" * 16
    for traits, contact in (
        ({"consent_line": "subscribed", "properties": {"line_user_id": line_id}}, {}),
        ({"consent_line": "subscribed", "properties": {}}, {"line_user_id": line_id}),
    ):
        raw = {
            "event_id": "pc-1",
            "type": "profile.changed",
            "tenant_id": "t1",
            "source": "profile",
            "occurred_at": "2026-01-01T00:00:00Z",
            "received_at": "2026-01-01T00:00:00Z",
            "data": {"profile_id": "p1", "version": 2, "traits": traits, "contact": contact},
        }
        stored = decode_event(json.dumps(raw).encode()).data.as_stored()
        assert stored == {"consent_line": "subscribed", "properties": {}, "line_user_id": line_id}
        assert recipient_state("p1", stored).line_user_id == line_id
        assert template_traits(stored) == {"properties": {}}
