"""Consumed facts: tenants, recipient snapshots and merges, order lines; erasures
(:mod:`crm_messaging.handlers.erasure`) in order with them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import (
    OrderPlaced,
    PrivacyRedactRequested,
    ProfileActivity,
    ProfileChanged,
    ProfileMerged,
    TenantRedactRequested,
)
from crm_common.kafka import BatchHandler, Message
from crm_common.tenancy import tenant_config_handler
from crm_messaging.clock import Clock
from crm_messaging.handlers import erasure
from crm_messaging.repository import recipients as repo
from crm_messaging.tables import tenants

apply_tenants = tenant_config_handler(tenants)


def profiles_handler(clock: Clock) -> BatchHandler:
    """The ``messaging-profiles`` handler (the clock stamps messages an erasure stops)."""

    async def on_profiles(session: AsyncSession, messages: Sequence[Message]) -> None:
        await apply_profiles(session, messages, clock.now)

    return on_profiles


async def apply_profiles(
    session: AsyncSession, messages: Sequence[Message], now: Callable[[], datetime]
) -> None:
    for message in messages:
        event = message.payload
        if isinstance(event, ProfileChanged):
            data = event.data
            await repo.upsert_snapshot(
                session,
                event.tenant_id,
                data.profile_id,
                data.version,
                # contact (names, email, phone, address, LINE id) travels beside the traits
                data.as_stored(),
            )
        elif isinstance(event, ProfileMerged):
            await repo.add_alias(
                session, event.tenant_id, event.data.merged_id, event.data.survivor_id
            )
        elif isinstance(event, ProfileActivity) and event.data.source_type == erasure.REDACT_TYPE:
            await erasure.erase_person(session, event.tenant_id, event.data.profile_id, now())


async def apply_orders(session: AsyncSession, messages: Sequence[Message]) -> None:
    """order.placed lines, and erasure requests (other events on crm.events.v1, ours
    included, are ignored)."""
    for message in messages:
        event = message.payload
        if isinstance(event, PrivacyRedactRequested):
            await erasure.erase_requested_orders(session, event)
            continue
        if isinstance(event, TenantRedactRequested):
            await erasure.erase_tenant(session, event.tenant_id)
            continue
        if not isinstance(event, OrderPlaced):
            continue
        lines = [line for line in event.data.lines if line.product_id]
        await repo.record_order(
            session,
            event.tenant_id,
            event.data.order_id,
            profile_id=event.identity.external_ids.get("crm"),
            email=event.identity.email,
            phone=event.identity.phone,
            product_ids=sorted({str(line.product_id) for line in lines}),
            titles={str(line.product_id): line.title for line in lines},
            placed_at=event.data.placed_at,
        )
