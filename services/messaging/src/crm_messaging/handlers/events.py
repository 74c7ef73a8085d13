"""``message.*`` events for the outbox, keyed to the profile.

Convention: ``identity.external_ids == {"crm": profile_id}`` (and
``data.profile_id``), so the partition key is ``tenant:crm:<profile_id>``.
Event ids are ``lifecycle_event_id(message_id, type, *discriminators)``: a
retried transition produces the same id and consumers drop the duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common import events as ev
from crm_common.events import Identity
from crm_common.events.customers import Channel, Consent, ConsentChanged, ConsentState
from crm_common.outbox import enqueue
from crm_messaging.config import EVENTS_TOPIC, SCHEMA
from crm_messaging.domain.ids import lifecycle_event_id

SOURCE = "messaging"

EVENT_CLASSES: dict[str, type[Any]] = {
    "queued": ev.MessageQueued,
    "sent": ev.MessageSent,
    "delivered": ev.MessageDelivered,
    "failed": ev.MessageFailed,
    "skipped": ev.MessageSkipped,
    "held": ev.MessageHeld,
    "opened": ev.MessageOpened,
    "clicked": ev.MessageClicked,
    "unsubscribed": ev.MessageUnsubscribed,
    "bounced": ev.MessageBounced,
    "complained": ev.MessageComplained,
    "call_outcome": ev.CallOutcomeRecorded,
}


def identity_of(profile_id: str) -> Identity:
    return Identity(external_ids={"crm": profile_id})


def message_event(
    kind: str,
    message: Mapping[Any, Any],
    at: datetime,
    *,
    discriminators: Sequence[str] = (),
    **data: Any,
) -> Any:
    """The ``message.<kind>`` event about ``message`` (a messages row) at ``at``."""
    cls = EVENT_CLASSES[kind]
    event_type = f"message.{kind}"
    mid = message["message_id"]
    return cls(
        event_id=lifecycle_event_id(mid, event_type, *discriminators),
        tenant_id=message["tenant_id"],
        source=SOURCE,
        occurred_at=at,
        received_at=at,
        identity=identity_of(message["profile_id"]),
        data=ev.MessageData(
            message_id=mid,
            profile_id=message["profile_id"],
            channel=Channel(message["channel"]),
            purpose=message["purpose"],
            source_kind=message["source_kind"],
            source_id=message["source_id"],
            step_id=message["step_id"],
            template_id=message["template_id"],
            at=at,
            **data,
        ),
    )


def consent_withdrawn(message: Mapping[Any, Any], at: datetime) -> ConsentChanged:
    mid = message["message_id"]
    return ConsentChanged(
        event_id=lifecycle_event_id(mid, "consent.changed", "unsubscribe"),
        tenant_id=message["tenant_id"],
        source=SOURCE,
        occurred_at=at,
        received_at=at,
        identity=identity_of(message["profile_id"]),
        data=Consent(
            channel=Channel(message["channel"]),
            state=ConsentState.UNSUBSCRIBED,
            source=f"unsubscribe_link:{mid}",
            collected_at=at,
        ),
    )


async def publish(session: AsyncSession, events: Sequence[Any]) -> None:
    await enqueue(session, SCHEMA, EVENTS_TOPIC, events)
