"""Engagement facts from message events; subscription contracts converge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_common.events.commerce import SubscriptionCancelled, SubscriptionData, SubscriptionStarted
from crm_common.events.customers import Channel
from crm_common.events.downstream import (
    MessageClicked,
    MessageData,
    MessageDelivered,
    MessageFailed,
)
from crm_profile.domain.activity import (
    EngagementFact,
    EngagementKind,
    SubscriptionEvent,
    SubscriptionFact,
    apply_subscription_event,
    engagement_fact_of,
)
from crm_profile.domain.errors import FactMismatchError

T0 = datetime(2024, 7, 1, tzinfo=UTC)


def envelope(event_id: str, minute: int) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minute)
    return {
        "event_id": event_id,
        "tenant_id": "t1",
        "source": "crm",
        "occurred_at": at,
        "received_at": at,
    }


def message(cls: Any, event_id: str) -> Any:
    data = MessageData(
        message_id="m1",
        profile_id="p1",
        channel=Channel.LINE,
        source_kind="journey",
        source_id="j1",
        at=T0,
    )
    return cls(**envelope(event_id, 0), data=data)


def sub_event(
    event_id: str,
    status: str,
    changed: int,
    *,
    cycle: int | None = None,
    interval: int | None = None,
    contract: str = "k1",
) -> SubscriptionEvent:
    cls: Any = SubscriptionCancelled if status == "cancelled" else SubscriptionStarted
    data = SubscriptionData(
        contract_id=contract,
        status=status,
        changed_at=T0 + timedelta(minutes=changed),
        cycle=cycle,
        interval_days=interval,
    )
    event: SubscriptionEvent = cls(**envelope(event_id, changed), data=data)
    return event


def fold(events: list[SubscriptionEvent]) -> SubscriptionFact:
    fact: SubscriptionFact | None = None
    for event in events:
        fact = apply_subscription_event(fact, event)
    assert fact is not None
    return fact


def test_engagement_fact_from_a_click() -> None:
    assert engagement_fact_of(message(MessageClicked, "e1")) == EngagementFact(
        message_id="m1",
        kind=EngagementKind.CLICKED,
        channel=Channel.LINE,
        purpose="marketing",
        at=T0,
        event_id="e1",
    )


def test_delivery_counts_as_a_send_and_failures_carry_no_engagement() -> None:
    delivered = engagement_fact_of(message(MessageDelivered, "e2"))

    assert delivered is not None and delivered.kind is EngagementKind.SENT
    assert engagement_fact_of(message(MessageFailed, "e3")) is None


def test_latest_status_wins_and_cycle_is_the_highest_seen() -> None:
    fact = fold(
        [
            sub_event("e3", "cancelled", 30),
            sub_event("e1", "active", 0, cycle=1, interval=30),
            sub_event("e2", "active", 20, cycle=4),
        ]
    )

    assert fact.status.value == "cancelled"
    assert fact.cycle == 4
    assert fact.interval_days is not None and fact.interval_days.value == 30


def test_event_of_another_contract_is_refused() -> None:
    with pytest.raises(FactMismatchError):
        apply_subscription_event(
            fold([sub_event("e1", "active", 0)]), sub_event("e2", "active", 1, contract="k2")
        )


@st.composite
def histories(draw: st.DrawFn) -> list[SubscriptionEvent]:
    return [
        sub_event(
            f"e{n}",
            draw(st.sampled_from(["active", "paused", "cancelled"])),
            draw(st.integers(0, 3)),
            cycle=draw(st.one_of(st.none(), st.integers(0, 6))),
            interval=draw(st.one_of(st.none(), st.sampled_from([14, 30, 60]))),
        )
        for n in range(draw(st.integers(1, 6)))
    ]


@given(histories(), st.data())
def test_subscription_fact_converges(history: list[SubscriptionEvent], data: st.DataObject) -> None:
    replay = data.draw(st.permutations(history + data.draw(st.lists(st.sampled_from(history)))))

    assert fold(replay) == fold(history)
