"""Applying canonical events to profiles: the consumer's batch handler and the
entry point the API shares with it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.clock import clock_from_env
from crm_common.kafka import Message
from crm_profile import metrics
from crm_profile.domain import RfmThresholds
from crm_profile.domain.loyalty_rules import Programme
from crm_profile.handlers import identity
from crm_profile.handlers.batch import TenantBatch
from crm_profile.handlers.effects import apply_event
from crm_profile.handlers.identity import ClaimLostError, ResolutionRaceError, identifiers_in
from crm_profile.handlers.publish import finish
from crm_profile.repository import loyalty as loyalty_repo
from crm_profile.repository import settings as settings_repo

Clock = Callable[[], datetime]
_ATTEMPTS = 8


async def thresholds_of(session: AsyncSession, tenant_id: str) -> RfmThresholds:
    """The tenant's RFM thresholds, else the defaults in the tenant's currency."""
    stored = await settings_repo.stored_thresholds(session, tenant_id)
    if stored:
        return RfmThresholds.model_validate(stored)
    currency = await settings_repo.tenant_currency(session, tenant_id)
    return RfmThresholds(currency=currency or "JPY")


async def apply_events(
    session: AsyncSession, tenant_id: str, events: Sequence[Any], now: datetime
) -> TenantBatch:
    """Apply one tenant's events (in order) and enqueue the resulting profile events.

    Inside a savepoint: when another consumer committed an identifier this batch
    claimed (:class:`~crm_profile.handlers.identity.ClaimLostError`), the batch is
    rolled back to it and applied again, seeing that commit.
    """
    thresholds = await thresholds_of(session, tenant_id)
    programme = await loyalty_repo.programme_of(session, tenant_id)
    for _ in range(_ATTEMPTS):
        try:
            async with session.begin_nested():
                return await _apply_once(session, tenant_id, events, now, thresholds, programme)
        except ClaimLostError:
            continue
    raise ResolutionRaceError("identifiers kept being taken while applying the batch")


async def _apply_once(
    session: AsyncSession,
    tenant_id: str,
    events: Sequence[Any],
    now: datetime,
    thresholds: RfmThresholds,
    programme: Programme | None,
) -> TenantBatch:
    batch = TenantBatch(session, tenant_id, now, thresholds, programme=programme)
    await _prefetch(batch, events)
    for event in events:
        await apply_event(batch, event)
    await finish(batch)
    return batch


async def _prefetch(batch: TenantBatch, events: Sequence[Any]) -> None:
    """Resolve and lock what the batch needs in a few statements, not a few per event:
    every identifier's owner in one query (those nobody owns are remembered as
    such), their profiles and the profiles events name locked in one, the orders and
    contracts in one each, then the profiles holding those orders and contracts."""
    wanted = [i for e in events for i in identifiers_in(batch, e)[0]]
    named = {getattr(e.data, "profile_id", None) for e in events if e.type.startswith("message.")}
    await identity.prefetch_owners(batch, wanted, {p for p in named if isinstance(p, str)})
    order_ids = {e.data.order_id for e in events if e.type.startswith("order.")}
    await batch.hold_orders(order_ids)
    contracts = {e.data.contract_id for e in events if e.type.startswith("subscription.")}
    await batch.hold_subscriptions(contracts)
    holders = [h.profile_id for h in (*batch.orders.values(), *batch.subscriptions.values())]
    await batch.lock({p for p in holders if p is not None})


class EventsHandler:
    """The ``crm.events.v1`` batch handler: one pass per tenant in the batch."""

    def __init__(self, clock: Clock | None = None) -> None:
        # The injectable clock (CRM_CLOCK_FILE in tests), as the refresher uses.
        self.clock = clock or clock_from_env().now

    async def __call__(self, session: AsyncSession, messages: Sequence[Message]) -> None:
        started = time.perf_counter()
        by_tenant: dict[str, list[Any]] = {}
        for message in messages:
            by_tenant.setdefault(message.payload.tenant_id, []).append(message.payload)
        now = self.clock()
        for tenant_id in sorted(by_tenant):
            await apply_events(session, tenant_id, by_tenant[tenant_id], now)
        metrics.APPLY_SECONDS.observe(time.perf_counter() - started)
