"""Dependencies of the REST API: one transaction per request, the caller, the clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.clock import Clock, clock_from_env
from crm_common.internal_auth import RoutePolicy
from crm_common.service import Runtime
from crm_common.tenancy import Caller, InternalAuth, authenticate
from crm_profile.config import Settings
from crm_profile.tables import tenants


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # scope="function" below: committed before the response is sent, so a
    # failed commit is an error answer, never a success that did not happen.
    async with _runtime(request).db.transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


async def _settings(request: Request) -> Settings:
    settings: Settings = _runtime(request).settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


async def _now(request: Request) -> datetime:
    """The service clock (``CRM_CLOCK_FILE`` in tests), as the consumer uses."""
    clock: Clock = _runtime(request).extras.get("clock") or clock_from_env()
    return clock.now()


NowDep = Annotated[datetime, Depends(_now)]


# What the console may do here, by the signed-in user's role (tenant API keys: all).
POLICY = RoutePolicy(
    routes={
        "DELETE /v1/profiles/{profile_id}": "admin",  # erasure
        "GET /v1/profiles/{profile_id}/export": "admin",  # a person's whole record
        "GET /v1/profiles/export": "admin",  # every profile with its identifiers
        "PUT /v1/settings/rfm": "admin",
        "PUT /v1/settings/loyalty": "admin",
    }
)


async def _caller(request: Request, session: SessionDep, settings: SettingsDep) -> Caller:
    internal = InternalAuth("profile", settings.service.internal_key, POLICY)
    return await authenticate(request, session, tenants, internal)


CallerDep = Annotated[Caller, Depends(_caller)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
