"""Dependencies of the routers: the service's objects and the per-request transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database
from crm_common.tenancy import Caller, authenticate
from crm_messaging.clock import Clock
from crm_messaging.config import Settings
from crm_messaging.tables import tenants


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
        token = self.settings.service.service_token.get_secret_value()
        async with self.db.transaction() as session:
            caller = await authenticate(request, session, tenants, token)
            yield session, caller

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One transaction for an unauthenticated request (tracking links, callbacks)."""
        async with self.db.transaction() as session:
            yield session


def get_services(request: Request) -> Services:
    services: Services = request.app.state.messaging
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
