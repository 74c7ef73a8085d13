"""crm.tenants.v1 -> the local tenants table (authentication and time zone)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import TenantConfigured
from crm_common.kafka import Message
from crm_common.tenancy import apply_tenant_config
from crm_segment.tables import tenants


async def handle_tenants(session: AsyncSession, messages: Sequence[Message]) -> None:
    for message in messages:
        if isinstance(message.payload, TenantConfigured):
            await apply_tenant_config(session, tenants, message.payload.data)
