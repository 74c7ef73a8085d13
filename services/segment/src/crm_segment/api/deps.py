"""Annotated dependencies: the service context and the calling tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm_common.tenancy import Caller, authenticate
from crm_segment.context import SegmentContext
from crm_segment.tables import tenants


def _context(request: Request) -> SegmentContext:
    ctx: SegmentContext = request.app.state.runtime.extras["segment"]
    return ctx


Ctx = Annotated[SegmentContext, Depends(_context)]


async def _caller(request: Request, ctx: Ctx) -> Caller:
    """A tenant API key, or the service token with X-Tenant-Id."""
    token = ctx.settings.service.service_token.get_secret_value()
    async with ctx.db.transaction() as session:
        return await authenticate(request, session, tenants, token)


CallerDep = Annotated[Caller, Depends(_caller)]
