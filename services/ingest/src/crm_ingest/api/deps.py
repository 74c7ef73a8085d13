"""Annotated dependencies: the ingest context, the admin guard, the API caller."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from crm_common.errors import ApiError
from crm_common.tenancy import Caller, authenticate
from crm_ingest.context import IngestContext
from crm_ingest.handlers import ratelimit
from crm_ingest.tables import tenants


def _context(request: Request) -> IngestContext:
    ctx: IngestContext = request.app.state.runtime.extras["ingest"]
    return ctx


Ctx = Annotated[IngestContext, Depends(_context)]


def _admin(request: Request, ctx: Ctx) -> None:
    auth = request.headers.get("authorization", "")
    presented = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    presented = presented or request.headers.get("x-admin-token")
    if not presented:
        raise ApiError(401, "unauthorized", "missing admin token (Authorization: Bearer <token>)")
    expected = ctx.settings.service.admin_token.get_secret_value()
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "wrong admin token")


Admin = Depends(_admin)


async def _caller(request: Request, ctx: Ctx) -> Caller:
    """The tenant calling the generic API (API key, or service token + X-Tenant-Id),
    counted against its rate limit."""
    service = ctx.settings.service
    async with ctx.db.transaction() as session:
        caller = await authenticate(
            request, session, tenants, service.service_token.get_secret_value()
        )
    await ratelimit.check(ctx.db, caller.tenant_id, service.rate_limit_per_second)
    return caller


CallerDep = Annotated[Caller, Depends(_caller)]
