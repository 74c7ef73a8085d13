from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_common.events.customers import Address, Channel, ConsentState
from crm_messaging.domain.errors import NaiveDatetimeError
from crm_messaging.domain.guardrails import (
    Hold,
    MessageIntent,
    RecipientState,
    Send,
    SendHistory,
    SentRecord,
    Skip,
    Suppression,
    SuppressionReason,
    decide,
)
from crm_messaging.domain.policy import FrequencyCap, QuietWindow, TenantPolicy

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
NOON = datetime(2024, 5, 1, 12, 0, tzinfo=TOKYO)
ALL_SUBSCRIBED = dict.fromkeys(Channel, ConsentState.SUBSCRIBED)


def person(**changes: object) -> RecipientState:
    base: dict[str, object] = {
        "profile_id": "p1",
        "email": "hanako@example.jp",
        "phone": "+819012345678",
        "line_user_id": "U" + "a1" * 16,
        "name": "山田 花子",
        "address": Address(
            postal_code="100-0001", prefecture="東京都", city="千代田区", address1="千代田1-1"
        ),
        "consents": ALL_SUBSCRIBED,
    }
    base.update(changes)
    return RecipientState.model_validate(base)


def intent(channel: Channel = Channel.EMAIL, purpose: str = "marketing") -> MessageIntent:
    return MessageIntent.model_validate(
        {"message_id": "m1", "channel": channel, "purpose": purpose}
    )


def run(
    message: MessageIntent,
    profile: RecipientState | None = None,
    policy: TenantPolicy | None = None,
    history: SendHistory | None = None,
    now: datetime = NOON,
) -> object:
    return decide(
        message, profile or person(), policy or TenantPolicy(), history or SendHistory(), now
    )


@pytest.mark.parametrize("channel", list(Channel))
def test_reachable_subscribed_person_is_sent_to_at_noon(channel: Channel) -> None:
    assert run(intent(channel)) == Send()


@pytest.mark.parametrize("state", [ConsentState.NEVER, ConsentState.UNSUBSCRIBED])
def test_marketing_needs_subscribed_consent(state: ConsentState) -> None:
    profile = person(consents={Channel.EMAIL: state})
    assert run(intent(), profile) == Skip("no_consent", state.value)


def test_missing_consent_counts_as_never() -> None:
    assert run(intent(Channel.LINE), person(consents={})) == Skip("no_consent", "never")


def test_transactional_bypasses_consent() -> None:
    assert run(intent(purpose="transactional"), person(consents={})) == Send()


@pytest.mark.parametrize("purpose", ["marketing", "transactional"])
def test_suppression_always_skips(purpose: str) -> None:
    profile = person(
        suppressions=(Suppression(reason=SuppressionReason.BOUNCED, channel=Channel.EMAIL),),
        consents={Channel.EMAIL: ConsentState.UNSUBSCRIBED},
    )
    assert run(intent(Channel.EMAIL, purpose), profile) == Skip("suppressed:bounced")


def test_channel_suppression_leaves_other_channels() -> None:
    profile = person(suppressions=(Suppression(reason="complained", channel=Channel.EMAIL),))
    assert run(intent(Channel.EMAIL), profile) == Skip("suppressed:complained")
    assert run(intent(Channel.POSTAL_DM), profile) == Send()


@pytest.mark.parametrize("channel", list(Channel))
def test_legal_hold_covers_every_channel(channel: Channel) -> None:
    profile = person(suppressions=(Suppression(reason=SuppressionReason.LEGAL_HOLD),))
    assert run(intent(channel, "transactional"), profile) == Skip("suppressed:legal_hold")


@pytest.mark.parametrize(
    ("channel", "changes", "detail"),
    [
        (Channel.EMAIL, {"email": None}, "email"),
        (Channel.EMAIL, {"email": "not-an-address"}, "email"),
        (Channel.SMS, {"phone": "090-1234-5678"}, "phone"),  # not E.164
        (Channel.SMS, {"phone": "+81312345678"}, "phone"),  # Tokyo landline takes no SMS
        (Channel.CALL, {"phone": None}, "phone"),
        (Channel.LINE, {"line_user_id": "hanako"}, "line_user_id"),
        (Channel.POSTAL_DM, {"address": None}, "address"),
        (Channel.POSTAL_DM, {"address": Address(prefecture="東京都", city="x")}, "postal_code"),
        (
            Channel.POSTAL_DM,
            {"address": Address(postal_code="1000001", prefecture="Atlantis", city="x")},
            "prefecture",
        ),
        (
            Channel.POSTAL_DM,
            {"address": Address(postal_code="100-0001", prefecture="東京")},
            "address_line",
        ),
        (Channel.POSTAL_DM, {"name": " "}, "name"),
    ],
)
def test_unusable_address_skips_with_field(
    channel: Channel, changes: dict[str, object], detail: str
) -> None:
    assert run(intent(channel, "transactional"), person(**changes)) == Skip(
        "missing_address", detail
    )


def test_landline_is_fine_for_calls() -> None:
    assert run(intent(Channel.CALL), person(phone="+81312345678")) == Send()


def test_opt_out_channel_allows_never_but_not_unsubscribed() -> None:
    policy = TenantPolicy(opt_in_channels=frozenset({Channel.EMAIL, Channel.SMS}))
    never = person(consents={Channel.POSTAL_DM: ConsentState.NEVER})
    gone = person(consents={Channel.POSTAL_DM: ConsentState.UNSUBSCRIBED})
    assert run(intent(Channel.POSTAL_DM), never, policy) == Send()
    assert run(intent(Channel.POSTAL_DM), gone, policy) == Skip("no_consent", "unsubscribed")


def sent(channel: Channel, at: datetime, purpose: str = "marketing") -> SentRecord:
    return SentRecord.model_validate({"channel": channel, "purpose": purpose, "sent_at": at})


def test_default_cap_is_two_marketing_emails_per_seven_days() -> None:
    history = SendHistory(
        sent=(sent(Channel.EMAIL, NOON - timedelta(days=1)), sent(Channel.EMAIL, NOON))
    )
    assert run(intent(), history=history) == Skip("frequency_cap", "email:2/604800s")


def test_send_exactly_one_window_ago_no_longer_counts() -> None:
    history = SendHistory(
        sent=(sent(Channel.EMAIL, NOON - timedelta(days=7)), sent(Channel.EMAIL, NOON))
    )
    assert run(intent(), history=history) == Send()
    later = NOON - timedelta(days=7) + timedelta(seconds=1)
    history = SendHistory(sent=(sent(Channel.EMAIL, later), sent(Channel.EMAIL, NOON)))
    assert run(intent(), history=history) == Skip("frequency_cap", "email:2/604800s")


def test_transactional_neither_counts_nor_is_capped() -> None:
    history = SendHistory(
        sent=(
            sent(Channel.EMAIL, NOON, "transactional"),
            sent(Channel.EMAIL, NOON, "transactional"),
        )
    )
    assert run(intent(), history=history) == Send()
    capped = SendHistory(sent=(sent(Channel.EMAIL, NOON), sent(Channel.EMAIL, NOON)))
    assert run(intent(purpose="transactional"), history=capped) == Send()


def test_cross_channel_cap() -> None:
    policy = TenantPolicy(
        frequency_caps=(FrequencyCap(channel=None, max_messages=1, window=timedelta(days=1)),)
    )
    history = SendHistory(sent=(sent(Channel.LINE, NOON - timedelta(hours=3)),))
    assert run(intent(Channel.EMAIL), policy=policy, history=history) == Skip(
        "frequency_cap", "all:1/86400s"
    )


def tokyo(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, second, tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (tokyo(1, 20, 59, 59), Send()),
        (tokyo(1, 21), Hold(datetime(2024, 5, 1, 23, 0, tzinfo=UTC))),
        (tokyo(1, 22, 30), Hold(datetime(2024, 5, 1, 23, 0, tzinfo=UTC))),
        (tokyo(2, 0, 0), Hold(datetime(2024, 5, 1, 23, 0, tzinfo=UTC))),
        (tokyo(2, 7, 59, 59), Hold(datetime(2024, 5, 1, 23, 0, tzinfo=UTC))),
        (tokyo(2, 8), Send()),
    ],
)
def test_sms_quiet_hours_hold_until_eight_tokyo(now: datetime, expected: object) -> None:
    decision = run(intent(Channel.SMS), now=now)
    assert decision == expected
    if isinstance(decision, Hold):
        assert decision.until.astimezone(TOKYO) == tokyo(2, 8)
        assert decision.reason == "quiet_hours"


def test_utc_now_gives_same_hold() -> None:
    assert run(intent(Channel.LINE), now=datetime(2024, 5, 1, 13, 30, tzinfo=UTC)) == Hold(
        datetime(2024, 5, 1, 23, 0, tzinfo=UTC)
    )


def test_email_and_transactional_sms_ignore_quiet_hours() -> None:
    night = tokyo(1, 23)
    assert run(intent(Channel.EMAIL), now=night) == Send()
    assert run(intent(Channel.SMS, "transactional"), now=night) == Send()


def test_skip_wins_over_hold() -> None:
    assert run(intent(Channel.SMS), person(consents={}), now=tokyo(1, 23)) == Skip(
        "no_consent", "never"
    )


def test_configured_daytime_window() -> None:
    policy = TenantPolicy(quiet_hours={Channel.EMAIL: QuietWindow(start=time(12), end=time(13))})
    assert run(intent(), policy=policy, now=tokyo(1, 12, 30)) == Hold(tokyo(1, 13))
    assert run(intent(Channel.SMS), policy=policy, now=tokyo(1, 23)) == Send()


def ny_policy(start: time = time(21), end: time = time(8)) -> TenantPolicy:
    return TenantPolicy(
        timezone="America/New_York", quiet_hours={Channel.SMS: QuietWindow(start=start, end=end)}
    )


def test_new_york_spring_forward_night_is_one_hour_shorter() -> None:
    now = datetime(2024, 3, 9, 22, 0, tzinfo=NEW_YORK)  # EST, 03:00Z
    decision = run(intent(Channel.SMS), policy=ny_policy(), now=now)
    assert decision == Hold(datetime(2024, 3, 10, 12, 0, tzinfo=UTC))  # 08:00 EDT
    assert isinstance(decision, Hold)
    assert decision.until - now.astimezone(UTC) == timedelta(hours=9)


def test_new_york_fall_back_night_is_one_hour_longer() -> None:
    now = datetime(2024, 11, 2, 22, 0, tzinfo=NEW_YORK)  # EDT, 02:00Z
    decision = run(intent(Channel.SMS), policy=ny_policy(), now=now)
    assert decision == Hold(datetime(2024, 11, 3, 13, 0, tzinfo=UTC))  # 08:00 EST
    assert isinstance(decision, Hold)
    assert decision.until - now.astimezone(UTC) == timedelta(hours=11)


def test_window_ending_in_skipped_hour_opens_at_the_jump() -> None:
    now = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)  # 01:00 EST
    policy = ny_policy(end=time(2, 30))
    assert run(intent(Channel.SMS), policy=policy, now=now) == Hold(
        datetime(2024, 3, 10, 7, 0, tzinfo=UTC)  # 03:00 EDT, the first wall time past 02:30
    )


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (datetime(2024, 11, 3, 5, 15, tzinfo=UTC), datetime(2024, 11, 3, 5, 30, tzinfo=UTC)),
        # 01:15 EST, in the repeated hour: the first 01:30 (EDT) has passed already
        (datetime(2024, 11, 3, 6, 15, tzinfo=UTC), datetime(2024, 11, 3, 6, 30, tzinfo=UTC)),
    ],
)
def test_window_ending_in_repeated_hour(now: datetime, until: datetime) -> None:
    policy = ny_policy(end=time(1, 30))
    assert run(intent(Channel.SMS), policy=policy, now=now) == Hold(until)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(NaiveDatetimeError):
        run(intent(), now=datetime(2024, 5, 1, 12, 0))


def test_unknown_timezone_and_empty_window_are_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown timezone 'Asia/Nowhere'"):
        TenantPolicy(timezone="Asia/Nowhere")
    with pytest.raises(ValueError, match="differ"):
        QuietWindow(start=time(8), end=time(8))


_times = st.times().map(lambda t: t.replace(microsecond=0))
_instants = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


def _check_hold(start: time, end: time, now: datetime, tz: ZoneInfo, limit: timedelta) -> None:
    window = QuietWindow(start=start, end=end)
    policy = TenantPolicy(timezone=tz.key, quiet_hours={Channel.SMS: window})
    decision = run(intent(Channel.SMS), policy=policy, now=now)
    local_now = now.astimezone(tz).time().replace(tzinfo=None)
    if isinstance(decision, Send):
        assert not window.contains(local_now)
        return
    assert isinstance(decision, Hold)
    assert window.contains(local_now)
    assert now < decision.until <= now + limit
    assert not window.contains(decision.until.astimezone(tz).time())
    # Minimal: one second earlier the wall clock was still inside the window.
    assert window.contains((decision.until - timedelta(seconds=1)).astimezone(tz).time())


@given(start=_times, end=_times, now=_instants)
def test_tokyo_hold_is_outside_window_and_within_a_day(
    start: time, end: time, now: datetime
) -> None:
    if start != end:
        _check_hold(start, end, now, TOKYO, timedelta(hours=24))


@given(start=_times, end=_times, now=_instants)
def test_new_york_hold_is_outside_window_and_within_a_dst_day(
    start: time, end: time, now: datetime
) -> None:
    if start != end:
        _check_hold(start, end, now, NEW_YORK, timedelta(hours=25))
