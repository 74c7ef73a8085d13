"""Consumed facts that start, wake and stop journey runs.

``profile.activity`` (crm.profiles.v1): canonical events attributed to a profile.
Event triggers start runs; orders and opens/clicks are kept as facts for goals
and branches, and wake the person's runs so a purchase ends them promptly.
``segment.entered`` / ``segment.exited`` (crm.segments.v1): memberships for
branches and goals; an entry starts segment-triggered journeys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.downstream import ProfileActivity, SegmentEntered, SegmentExited
from crm_common.kafka import BatchHandler, Message
from crm_messaging.clock import Clock
from crm_messaging.handlers.journeys_entry import Trigger, enter
from crm_messaging.repository import journey_facts as facts_repo
from crm_messaging.repository import journey_runs as runs_repo
from crm_messaging.repository import journeys as journeys_repo

PURCHASE_TYPES = ("order.placed",)
ENGAGEMENT_TYPES = {"message.opened": "opened", "message.clicked": "clicked"}


def _when(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return default
    return default


def _order_data(data: Mapping[str, Any]) -> dict[str, Any]:
    products = {
        str(line["product_id"]) for line in data.get("lines") or () if line.get("product_id")
    }
    return {
        "product_ids": sorted(products),
        "checkout_token": data.get("checkout_token"),
        "cart_token": data.get("cart_token"),
    }


async def _record_fact(session: AsyncSession, event: ProfileActivity) -> bool:
    """Keep an order or an open/click; True when the event was one."""
    activity, tenant_id = event.data, event.tenant_id
    data = activity.data
    if activity.source_type in PURCHASE_TYPES and data.get("order_id"):
        at = _when(data.get("placed_at"), activity.occurred_at)
        order_id = str(data["order_id"])
        await facts_repo.add_fact(
            session, tenant_id, activity.profile_id, "order", order_id, at, _order_data(data)
        )
        return True
    kind = ENGAGEMENT_TYPES.get(activity.source_type)
    if kind is None:
        return False
    at = _when(data.get("at"), activity.occurred_at)
    detail = {"message_id": data.get("message_id")}
    await facts_repo.add_fact(
        session, tenant_id, activity.profile_id, kind, activity.source_event_id, at, detail
    )
    return True


async def _start_event_journeys(
    session: AsyncSession, event: ProfileActivity, now: datetime
) -> None:
    activity = event.data
    journeys = await journeys_repo.live_by_trigger(
        session, event.tenant_id, "event", activity.source_type
    )
    if not journeys:
        return
    fact = {
        "type": activity.source_type,
        "event_id": activity.source_event_id,
        "data": activity.data,
    }
    trigger = Trigger("event", activity.source_event_id, fact)
    for journey in journeys:
        await enter(session, journey, activity.profile_id, trigger, now)


def activity_handler(clock: Clock) -> BatchHandler:
    async def apply_activity(session: AsyncSession, messages: Sequence[Message]) -> None:
        now = clock.now()
        for message in messages:
            event = message.payload
            if not isinstance(event, ProfileActivity):
                continue
            if await _record_fact(session, event):
                await runs_repo.wake_profile(session, event.tenant_id, event.data.profile_id, now)
            await _start_event_journeys(session, event, now)

    return apply_activity


async def _apply_membership(
    session: AsyncSession, event: SegmentEntered | SegmentExited, now: datetime
) -> None:
    data, tenant_id = event.data, event.tenant_id
    entered = isinstance(event, SegmentEntered)
    await facts_repo.set_membership(
        session, tenant_id, data.profile_id, data.segment_id, "in" if entered else "out", data.at
    )
    await runs_repo.wake_profile(session, tenant_id, data.profile_id, now)
    if not entered:
        return
    journeys = await journeys_repo.live_by_trigger(
        session, tenant_id, "segment_entered", data.segment_id
    )
    trigger = Trigger("segment_entered", event.event_id)
    for journey in journeys:
        await enter(session, journey, data.profile_id, trigger, now)


def segments_handler(clock: Clock) -> BatchHandler:
    async def apply_segments(session: AsyncSession, messages: Sequence[Message]) -> None:
        now = clock.now()
        for message in messages:
            event = message.payload
            if isinstance(event, SegmentEntered | SegmentExited):
                await _apply_membership(session, event, now)

    return apply_segments
