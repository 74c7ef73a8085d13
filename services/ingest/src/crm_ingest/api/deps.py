"""Annotated dependencies: the ingest context, the admin guard, the API caller, who
may read and replay dead letters (:data:`DlqAccessDep`), and the console acting for
its own tenant's settings (:data:`ConsoleTenantDep`)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from crm_common.errors import ApiError
from crm_common.internal_auth import RoutePolicy, is_internal_token
from crm_common.tenancy import Caller, InternalAuth, authenticate
from crm_ingest.context import IngestContext
from crm_ingest.handlers import ratelimit
from crm_ingest.tables import tenants


async def _context(request: Request) -> IngestContext:
    # async: a sync dependency would cost every request a hop to a worker thread
    ctx: IngestContext = request.app.state.runtime.extras["ingest"]
    return ctx


Ctx = Annotated[IngestContext, Depends(_context)]


# The console reads dead letters (any role) and replays them (admin), and a tenant's
# admin manages that tenant's own API keys, webhook secrets and shop domains
# (/v1/tenant); nothing else of ingest is open to internal tokens: the generic API
# takes tenant API keys, every tenant's keys and secrets the admin token (operators).
POLICY = RoutePolicy(
    reads=None,
    writes=None,
    routes={
        "GET /admin/dlq": "viewer",
        "POST /admin/dlq/replay": "admin",
        "GET /v1/tenant": "admin",
        "POST /v1/tenant/api-keys": "admin",
        "DELETE /v1/tenant/api-keys/{key_id}": "admin",
        "POST /v1/tenant/webhook-secrets": "admin",
        "DELETE /v1/tenant/webhook-secrets/{secret_id}": "admin",
        "POST /v1/tenant/shop-domains": "admin",
    },
)


def _internal(ctx: IngestContext) -> InternalAuth:
    return InternalAuth("ingest", ctx.settings.service.internal_key, POLICY)


def _admin_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    presented = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    return presented or request.headers.get("x-admin-token")


def _check_admin_token(presented: str | None, ctx: IngestContext) -> None:
    if not presented:
        raise ApiError(401, "unauthorized", "missing admin token (Authorization: Bearer <token>)")
    expected = ctx.settings.service.admin_token.get_secret_value()
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "wrong admin token")


async def _admin(request: Request, ctx: Ctx) -> None:
    _check_admin_token(_admin_token(request), ctx)


Admin = Depends(_admin)


@dataclass(frozen=True)
class DlqAccess:
    """Whose dead letters a caller sees and replays: ``tenant_id`` None means every
    tenant's (the admin token, or a console operator's token)."""

    tenant_id: str | None
    who: str

    def narrowed(self, tenant_id: str | None) -> DlqAccess:
        """An operator may look at one tenant; a tenant may not look at another."""
        if tenant_id is None or tenant_id == self.tenant_id:
            return self
        if self.tenant_id is not None:
            raise ApiError(403, "forbidden", "a tenant's token lists its own dead letters only")
        return DlqAccess(tenant_id, self.who)


async def _dlq_access(request: Request, ctx: Ctx) -> DlqAccess:
    presented = _admin_token(request)
    if presented is not None and is_internal_token(presented):
        grant = _internal(ctx).grant(request, presented)
        tenant = None if grant.operator else grant.tenant_id
        return DlqAccess(tenant, f"console:{grant.subject}")
    _check_admin_token(presented, ctx)
    return DlqAccess(None, "admin-token")


DlqAccessDep = Annotated[DlqAccess, Depends(_dlq_access)]


async def _caller(request: Request, ctx: Ctx) -> Caller:
    """The tenant calling the generic API (its API key), counted against its rate
    limit; internal tokens are refused here (POLICY)."""
    service = ctx.settings.service
    async with ctx.db.transaction() as session:
        caller = await authenticate(request, session, tenants, _internal(ctx))
    await ratelimit.check(ctx.db, caller.tenant_id, service.rate_limit_per_second)
    return caller


CallerDep = Annotated[Caller, Depends(_caller)]


@dataclass(frozen=True)
class ConsoleTenant:
    """The console acting for one tenant (its admin: POLICY) on /v1/tenant."""

    tenant_id: str
    who: str


async def _console_tenant(request: Request, ctx: Ctx) -> ConsoleTenant:
    """Only the console's token: neither a tenant API key (a leaked key must not mint
    more keys) nor the installation admin token (its routes are /admin/tenants/...);
    any other credential is refused as unknown here (401: nothing is told about it)."""
    presented = _admin_token(request)
    if not presented:
        raise ApiError(401, "unauthorized", "missing token (Authorization: Bearer <token>)")
    if not is_internal_token(presented):
        raise ApiError(401, "unauthorized", "only the console's token acts on /v1/tenant")
    grant = _internal(ctx).grant(request, presented)
    if grant.tenant_id is None:
        raise ApiError(403, "forbidden", "an operator token acts for no tenant here")
    return ConsoleTenant(grant.tenant_id, f"console:{grant.subject}")


ConsoleTenantDep = Annotated[ConsoleTenant, Depends(_console_tenant)]
