"""Engagement and subscription (定期) facts, the other inputs of traits.

Engagement facts are one per message lifecycle event; they form a set (the
persistence layer dedupes by ``event_id``) and traits read them as such, so
their order never matters. A subscription fact is per contract and converges:
status by last-writer-wins on ``changed_at``, the cycle as the highest seen.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from crm_common.events import Frozen, UtcDatetime
from crm_common.events.commerce import SubscriptionCancelled, SubscriptionStarted
from crm_common.events.customers import Channel
from crm_common.events.downstream import (
    MessageClicked,
    MessageDelivered,
    MessageOpened,
    MessageSent,
)
from crm_profile.domain.errors import FactMismatchError, UnsupportedEventError
from crm_profile.domain.versions import Stamp, Stamped, pick

SubscriptionEvent = SubscriptionStarted | SubscriptionCancelled
SubscriptionStatus = Literal["active", "paused", "cancelled"]


class EngagementKind(StrEnum):
    SENT = "sent"
    OPENED = "opened"
    CLICKED = "clicked"


_KINDS: dict[type[Any], EngagementKind] = {
    MessageSent: EngagementKind.SENT,
    MessageDelivered: EngagementKind.SENT,  # delivery implies a send; ids dedupe the pair
    MessageOpened: EngagementKind.OPENED,
    MessageClicked: EngagementKind.CLICKED,
}


class EngagementFact(Frozen):
    message_id: str
    kind: EngagementKind
    channel: Channel
    purpose: Literal["marketing", "transactional"]
    at: UtcDatetime
    event_id: str


def engagement_fact_of(event: Any) -> EngagementFact | None:
    """The engagement fact an event contributes, or None for events that carry none."""
    kind = _KINDS.get(type(event))
    if kind is None:
        return None
    data = event.data
    return EngagementFact(
        message_id=data.message_id,
        kind=kind,
        channel=data.channel,
        purpose=data.purpose,
        at=data.at,
        event_id=event.event_id,
    )


class SubscriptionFact(Frozen):
    """One subscription contract as last described."""

    contract_id: str
    status: Stamped[SubscriptionStatus]
    product_id: Stamped[str] | None = None
    interval_days: Stamped[int] | None = None
    cycle: int = 0  # highest delivery number seen


def apply_subscription_event(
    current: SubscriptionFact | None, event: SubscriptionEvent
) -> SubscriptionFact:
    """Fold a ``subscription.*`` event into its contract's fact (idempotent, commutative)."""
    if not isinstance(event, SubscriptionStarted | SubscriptionCancelled):
        raise UnsupportedEventError("apply_subscription_event", str(getattr(event, "type", "")))
    data = event.data
    if current is not None and current.contract_id != data.contract_id:
        raise FactMismatchError("contract", current.contract_id, data.contract_id)
    stamp = Stamp(at=data.changed_at, occurred_at=event.occurred_at, event_id=event.event_id)
    status = pick(current.status if current else None, data.status, stamp)
    assert status is not None  # a status is always given, so pick returns a value
    return SubscriptionFact(
        contract_id=data.contract_id,
        status=status,
        product_id=pick(current.product_id if current else None, data.product_id, stamp),
        interval_days=pick(current.interval_days if current else None, data.interval_days, stamp),
        cycle=max(current.cycle if current else 0, data.cycle or 0),
    )
