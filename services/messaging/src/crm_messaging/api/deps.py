"""Dependencies of the routers: the service's objects and the per-request transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database
from crm_common.internal_auth import RoutePolicy
from crm_common.tenancy import Caller, InternalAuth, authenticate
from crm_messaging.clock import Clock
from crm_messaging.config import Settings
from crm_messaging.tables import tenants

# What the console may do here, by the signed-in user's role (tenant API keys: all).
POLICY = RoutePolicy(
    routes={
        "POST /v1/templates/{template_id}/preview": "viewer",  # renders, changes nothing
        "GET /v1/dm-batches/{batch_id}/download": "marketer",  # marks the batch exported
        "GET /v1/settings": "admin",  # provider accounts
        "PUT /v1/settings": "admin",
    }
)


@dataclass
class Services:
    """Built in the lifespan (app.setup) and kept on ``app.state.messaging``."""

    db: Database
    clock: Clock
    settings: Settings
    dispatcher: Any = None

    @property
    def public_url(self) -> str:
        return self.settings.service.public_url

    @asynccontextmanager
    async def tenant_session(self, request: Request) -> AsyncIterator[tuple[AsyncSession, Caller]]:
        """One transaction for the request, with its authenticated caller."""
        internal = InternalAuth("messaging", self.settings.service.internal_key, POLICY)
        async with self.db.transaction() as session:
            caller = await authenticate(request, session, tenants, internal)
            yield session, caller

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One transaction for an unauthenticated request (tracking links, callbacks)."""
        async with self.db.transaction() as session:
            yield session


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.messaging
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
