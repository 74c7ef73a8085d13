"""Consumed facts for attribution: engagement read back from crm.events.v1, and
orders (``profile.activity``) from crm.profiles.v1.

- ``order.placed``: credited to the last qualifying touch of the profile (and of
  profiles merged into it) before the order (:mod:`crm_messaging.domain.attribution`).
  One row per order, credited or not: the (tenant, order) key makes a redelivered
  or replayed order a no-op, so revenue is never counted twice, and an order is
  judged once, on what was known when it arrived.
- ``order.cancelled``: the attribution stays on record with ``cancelled_at`` set
  and no longer counts as a conversion nor as revenue. Refunds are not netted:
  revenue is the order total as placed.

Opens and clicks are learnt from our own ``message.opened`` / ``message.clicked``
events, read back from crm.events.v1 and from their ``profile.activity`` copies
(keyed by the original event id, so each is stored once). The copy on
crm.profiles.v1 precedes any later order of the same person on that partition;
an order read before the engagement that preceded it is not credited to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import MessageClicked, MessageOpened, ProfileActivity
from crm_common.kafka import Message
from crm_messaging import metrics_campaigns as metrics
from crm_messaging.domain.attribution import Touch, last_touch, longest_window, order_of
from crm_messaging.repository import attribution as repo
from crm_messaging.repository.tenants import load_config


async def record_engagements(session: AsyncSession, messages: Sequence[Message]) -> None:
    """``message.opened`` / ``message.clicked`` -> engagement facts (other events ignored)."""
    for message in messages:
        event = message.payload
        if not isinstance(event, MessageOpened | MessageClicked):
            continue
        await repo.record_engagement(
            session,
            {
                "event_id": event.event_id,
                "tenant_id": event.tenant_id,
                "message_id": event.data.message_id,
                "profile_id": event.data.profile_id,
                "kind": "opened" if isinstance(event, MessageOpened) else "clicked",
                "at": event.data.at,
            },
        )


async def attribute_orders(session: AsyncSession, messages: Sequence[Message]) -> None:
    """profile.activity: orders, cancellations, and opens/clicks (which the profile
    service applied before any later order of the same person: same partition)."""
    for message in messages:
        event = message.payload
        if not isinstance(event, ProfileActivity):
            continue
        kind = event.data.source_type
        if kind == "order.placed":
            await _attribute(session, event)
        elif kind == "order.cancelled":
            await _cancel(session, event)
        elif kind in _ENGAGEMENTS:
            await _engaged(session, event, _ENGAGEMENTS[kind])


_ENGAGEMENTS = {"message.opened": "opened", "message.clicked": "clicked"}


async def _engaged(session: AsyncSession, event: ProfileActivity, kind: str) -> None:
    data = event.data.data
    at = data.get("at")
    if not data.get("message_id") or not isinstance(at, str):
        return
    await repo.record_engagement(
        session,
        {
            "event_id": event.data.source_event_id,  # the same row as the crm.events.v1 copy
            "tenant_id": event.tenant_id,
            "message_id": str(data["message_id"]),
            "profile_id": str(data.get("profile_id") or event.data.profile_id),
            "kind": kind,
            "at": datetime.fromisoformat(at),
        },
    )


def _cancelled_at(event: ProfileActivity) -> datetime | None:
    value = event.data.data.get("cancelled_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


async def _attribute(session: AsyncSession, event: ProfileActivity) -> None:
    order = order_of(event.data.data, event.data.occurred_at)
    if order is None:
        return
    tenant_id = event.tenant_id
    if await repo.attribution_of(session, tenant_id, order.order_id) is not None:
        return
    windows = (await load_config(session, tenant_id)).settings.attribution
    profiles = await repo.profile_ids(session, tenant_id, event.data.profile_id)
    since = order.placed_at - longest_window(windows)
    touches = await repo.touches(session, tenant_id, profiles, since, order.placed_at)
    touch = last_touch(touches, order.placed_at, windows)
    source = await repo.message_source(session, touch.message_id) if touch else None
    values = {
        "tenant_id": tenant_id,
        "order_id": order.order_id,
        "profile_id": event.data.profile_id,
        "ordered_at": order.placed_at,
        "revenue": order.total,
        "currency": order.currency,
        "cancelled_at": _cancelled_at(event),
        **_credit(touch, source),
    }
    if not await repo.insert_attribution(session, values):
        return
    if touch is None:
        metrics.UNATTRIBUTED.inc()
    else:
        metrics.attributed(touch.channel, values["source_kind"], order.total, order.currency)


def _credit(touch: Touch | None, source: RowMapping | None) -> dict[str, Any]:
    """The message columns of the row: all None for an order no message earned."""
    if touch is None or source is None:
        return {}
    return {
        "message_id": touch.message_id,
        "channel": touch.channel,
        "source_kind": source["source_kind"],
        "source_id": source["source_id"],
        "step_id": source["step_id"],
        "touch": touch.kind,
        "touched_at": touch.at,
    }


async def _cancel(session: AsyncSession, event: ProfileActivity) -> None:
    order_id = event.data.data.get("order_id")
    if order_id:
        at = _cancelled_at(event) or event.data.occurred_at
        await repo.cancel_attribution(session, event.tenant_id, str(order_id), at)
