"""Consent per channel (last-writer-wins) and suppression kept apart from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_common.events.customers import (
    Channel,
    Consent,
    ConsentChanged,
    ConsentState,
    CustomerData,
    CustomerUpserted,
)
from crm_common.events.downstream import (
    MessageBounced,
    MessageComplained,
    MessageData,
    MessageSent,
    MessageUnsubscribed,
)
from crm_profile.domain.consent import (
    ConsentEvent,
    Permissions,
    SuppressionReason,
    apply_consent_event,
    lift_suppression,
    suppress,
)
from crm_profile.domain.errors import UnsupportedEventError

T0 = datetime(2024, 6, 1, tzinfo=UTC)
EMAIL, SMS, LINE = Channel.EMAIL, Channel.SMS, Channel.LINE
SUB, UNSUB, NEVER = ConsentState.SUBSCRIBED, ConsentState.UNSUBSCRIBED, ConsentState.NEVER


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def envelope(event_id: str, occurred: int) -> dict[str, Any]:
    at = minutes(occurred)
    return {
        "event_id": event_id,
        "tenant_id": "t1",
        "source": "shopify",
        "occurred_at": at,
        "received_at": at,
    }


def changed(
    event_id: str, channel: Channel, state: ConsentState, at: int | None, occurred: int = 0
) -> ConsentChanged:
    consent = Consent(
        channel=channel, state=state, collected_at=minutes(at) if at is not None else None
    )
    return ConsentChanged(**envelope(event_id, occurred), data=consent)


def message(cls: Any, event_id: str, channel: Channel, at: int, reason: str | None = None) -> Any:
    data = MessageData(
        message_id=f"m-{event_id}",
        profile_id="p1",
        channel=channel,
        source_kind="campaign",
        source_id="c1",
        reason=reason,
        at=minutes(at),
    )
    return cls(**envelope(event_id, at), data=data)


def fold(events: list[Any], start: Permissions | None = None) -> Permissions:
    perms = start or Permissions()
    for event in events:
        perms = apply_consent_event(perms, event)
    return perms


def test_nothing_said_means_never() -> None:
    assert Permissions().state(EMAIL) is NEVER
    assert Permissions().can_contact(EMAIL) is False


def test_latest_statement_per_channel_wins_whatever_the_arrival_order() -> None:
    events = [
        changed("e2", EMAIL, UNSUB, at=20),
        changed("e1", EMAIL, SUB, at=10),
        changed("e3", SMS, SUB, at=5),
    ]

    perms = fold(events)

    assert (perms.state(EMAIL), perms.state(SMS), perms.state(LINE)) == (UNSUB, SUB, NEVER)
    assert perms.can_contact(SMS) is True


def test_tie_on_time_goes_to_the_more_restrictive_state() -> None:
    perms = fold([changed("e-z", EMAIL, SUB, at=10), changed("e-a", EMAIL, UNSUB, at=10)])

    assert perms.state(EMAIL) is UNSUB


def test_consents_inside_a_customer_upsert_count() -> None:
    upsert = CustomerUpserted(
        **envelope("c1", 0),
        data=CustomerData(
            updated_at=minutes(30),
            consents=[Consent(channel=LINE, state=SUB, source="line_login")],
        ),
    )

    perms = fold([upsert, changed("e1", LINE, UNSUB, at=10)])

    assert perms.state(LINE) is SUB
    assert perms.consents[0].source == "line_login"


def test_unsubscribe_link_unsubscribes_the_channel() -> None:
    perms = fold([changed("e1", EMAIL, SUB, at=0), message(MessageUnsubscribed, "u1", EMAIL, at=5)])

    assert perms.state(EMAIL) is UNSUB
    assert perms.consents[0].source == "message.unsubscribed"


def test_bounce_suppresses_and_a_later_consent_does_not_clear_it() -> None:
    perms = fold([message(MessageBounced, "b1", EMAIL, at=5), changed("e1", EMAIL, SUB, at=50)])

    assert perms.state(EMAIL) is SUB
    assert perms.suppressed(EMAIL) == (SuppressionReason.BOUNCED,)
    assert perms.can_contact(EMAIL) is False
    assert perms.can_contact(SMS) is False  # never consented


def test_soft_bounce_does_not_suppress() -> None:
    perms = fold([message(MessageBounced, "b1", EMAIL, at=5, reason="soft")])
    with_status = fold([message(MessageBounced, "b2", EMAIL, at=5, reason="soft:4.2.2")])

    assert perms.suppressed(EMAIL) == () and with_status.suppressed(EMAIL) == ()
    hard = fold([message(MessageBounced, "b3", EMAIL, at=5, reason="hard:5.1.1")])
    assert hard.suppressed(EMAIL) != ()


def test_complaint_and_legal_hold_suppress() -> None:
    perms = fold([message(MessageComplained, "x1", EMAIL, at=5), changed("e1", SMS, SUB, at=1)])
    held = suppress(perms, None, SuppressionReason.LEGAL_HOLD, minutes(9))

    assert held.suppressed(EMAIL) == (SuppressionReason.COMPLAINED, SuppressionReason.LEGAL_HOLD)
    assert held.suppressed(SMS) == (SuppressionReason.LEGAL_HOLD,)
    assert held.can_contact(SMS) is False


def test_lift_only_clears_triggers_up_to_its_time() -> None:
    perms = fold([message(MessageBounced, "b1", EMAIL, at=5)])
    lifted = lift_suppression(perms, EMAIL, SuppressionReason.BOUNCED, minutes(10))
    bounced_again = fold([message(MessageBounced, "b2", EMAIL, at=15)], start=lifted)

    assert lifted.suppressed(EMAIL) == ()
    assert bounced_again.suppressed(EMAIL) == (SuppressionReason.BOUNCED,)
    assert fold([message(MessageBounced, "b0", EMAIL, at=1)], start=lifted).suppressed(EMAIL) == ()


def test_snapshot_lists_every_channel() -> None:
    snapshot = fold(
        [changed("e1", EMAIL, SUB, at=0), message(MessageBounced, "b", SMS, at=1)]
    ).to_snapshot()

    assert snapshot["consent_email"] == "subscribed"
    assert snapshot["contactable_email"] is True
    assert snapshot["suppressed_sms"] == ["bounced"]
    assert snapshot["consent_postal_dm"] == "never"
    assert len(snapshot) == 3 * len(Channel)


def test_other_events_are_refused() -> None:
    with pytest.raises(UnsupportedEventError):
        apply_consent_event(None, message(MessageSent, "s1", EMAIL, at=0))


@st.composite
def consent_histories(draw: st.DrawFn) -> list[ConsentEvent]:
    events: list[ConsentEvent] = []
    for n in range(draw(st.integers(1, 8))):
        channel = draw(st.sampled_from([EMAIL, SMS]))
        at = draw(st.integers(0, 4))
        kind = draw(st.sampled_from(["changed", "unsub", "bounce", "complaint"]))
        if kind == "changed":
            state = draw(st.sampled_from(list(ConsentState)))
            events.append(
                changed(f"e{n}", channel, state, draw(st.one_of(st.none(), st.just(at))), at)
            )
        else:
            cls = {
                "unsub": MessageUnsubscribed,
                "bounce": MessageBounced,
                "complaint": MessageComplained,
            }[kind]
            events.append(message(cls, f"e{n}", channel, at))
    return events


@given(consent_histories(), st.data())
def test_permissions_converge_under_any_order_and_duplicates(
    history: list[ConsentEvent], data: st.DataObject
) -> None:
    replay = data.draw(st.permutations(history + data.draw(st.lists(st.sampled_from(history)))))

    assert fold(replay) == fold(history)
