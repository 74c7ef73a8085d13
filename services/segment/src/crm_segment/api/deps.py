"""Annotated dependencies: the service context and the calling tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm_common.internal_auth import RoutePolicy
from crm_common.tenancy import Caller, InternalAuth, authenticate
from crm_segment.context import SegmentContext
from crm_segment.tables import tenants


async def _context(request: Request) -> SegmentContext:
    ctx: SegmentContext = request.app.state.runtime.extras["segment"]
    return ctx


Ctx = Annotated[SegmentContext, Depends(_context)]


# What the console may do here, by the signed-in user's role (tenant API keys: all).
POLICY = RoutePolicy(routes={"POST /v1/segments/preview": "viewer"})  # a count, no change


async def _caller(request: Request, ctx: Ctx) -> Caller:
    """A tenant API key, or the console's token for this service (role per POLICY)."""
    internal = InternalAuth("segment", ctx.settings.service.internal_key, POLICY)
    async with ctx.db.transaction() as session:
        return await authenticate(request, session, tenants, internal)


CallerDep = Annotated[Caller, Depends(_caller)]
