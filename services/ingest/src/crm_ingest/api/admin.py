"""Admin API: tenants, webhook secrets and API keys (admin token only), and dead letters
(the admin token sees every tenant's; a console token its tenant's, or every tenant's
for an installation operator)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from crm_common.errors import ApiError
from crm_ingest.api.deps import Admin, Ctx, DlqAccessDep
from crm_ingest.api.schemas import (
    KeyCreated,
    ReplayRequest,
    ReplayResult,
    SecretCreate,
    SecretCreated,
    TenantCreate,
    TenantCreated,
)
from crm_ingest.handlers import dlq
from crm_ingest.handlers import tenants as handlers
from crm_ingest.repository import tenants as repo

# Every tenant, secret and key route: the admin token only.
tenants_router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Admin])
# Dead letters: each route takes DlqAccessDep (admin token or a console token).
dlq_router = APIRouter(prefix="/admin", tags=["admin"])
TenantFilter = Query(
    None, max_length=64, description="operators only: one tenant's letters (others: their own)"
)


@tenants_router.post("/tenants", status_code=201, response_model=TenantCreated)
async def create_tenant(body: TenantCreate, ctx: Ctx) -> TenantCreated:
    async with ctx.db.transaction() as session:
        issued = await handlers.create_tenant(session, handlers.NewTenant(**body.model_dump()))
    ctx.shops.invalidate()
    return TenantCreated(
        tenant_id=issued.tenant_id,
        api_key=issued.api_key,
        api_key_id=issued.key_id,
        version=issued.config.version,
    )


@tenants_router.get("/tenants")
async def list_tenants(ctx: Ctx) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        rows = await repo.list_tenants(session)
    return {
        "tenants": [
            {
                "tenant_id": r.tenant_id,
                "name": r.name,
                "shop_domains": sorted(r.shop_domains),
                "status": r.status,
                "version": r.version,
            }
            for r in rows
        ]
    }


@tenants_router.get("/tenants/{tenant_id}")
async def get_tenant(tenant_id: str, ctx: Ctx) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        return await handlers.describe(session, tenant_id)


@tenants_router.post("/tenants/{tenant_id}/webhook-secrets", status_code=201)
async def add_secret(tenant_id: str, body: SecretCreate, ctx: Ctx) -> SecretCreated:
    async with ctx.db.transaction() as session:
        secret_id = await handlers.add_webhook_secret(session, tenant_id, body.secret)
    ctx.shops.invalidate()
    return SecretCreated(secret_id=secret_id)


@tenants_router.delete("/tenants/{tenant_id}/webhook-secrets/{secret_id}", status_code=204)
async def revoke_secret(tenant_id: str, secret_id: str, ctx: Ctx) -> Response:
    async with ctx.db.transaction() as session:
        await handlers.revoke_webhook_secret(session, tenant_id, secret_id)
    ctx.shops.invalidate()
    return Response(status_code=204)


@tenants_router.post("/tenants/{tenant_id}/api-keys", status_code=201)
async def new_api_key(tenant_id: str, ctx: Ctx) -> KeyCreated:
    async with ctx.db.transaction() as session:
        issued = await handlers.issue_api_key(session, tenant_id)
    return KeyCreated(key_id=issued.key_id, api_key=issued.api_key)


@tenants_router.delete("/tenants/{tenant_id}/api-keys/{key_id}", status_code=204)
async def revoke_api_key(tenant_id: str, key_id: str, ctx: Ctx) -> Response:
    async with ctx.db.transaction() as session:
        await handlers.revoke_api_key(session, tenant_id, key_id)
    return Response(status_code=204)


@dlq_router.get("/dlq")
async def dead_letters(
    ctx: Ctx,
    access: DlqAccessDep,
    limit: int = Query(50, ge=0, le=1000),
    tenant_id: str | None = TenantFilter,
) -> dict[str, Any]:
    scope = access.narrowed(tenant_id)
    return await dlq.summary(ctx.db, ctx.settings.kafka, limit, tenant_id=scope.tenant_id)


@dlq_router.post("/dlq/replay")
async def replay(
    ctx: Ctx,
    access: DlqAccessDep,
    body: ReplayRequest | None = None,
    tenant_id: str | None = TenantFilter,
) -> ReplayResult:
    request = body or ReplayRequest()
    if request.since is not None and request.since.tzinfo is None:
        raise ApiError(422, "invalid_request", "since: must carry a UTC offset")
    scope = access.narrowed(tenant_id)
    count = await dlq.replay(
        ctx.db,
        ctx.producer,
        ctx.settings.kafka,
        consumer=request.consumer,
        since=request.since,
        tenant_id=scope.tenant_id,
        who=scope.who,
    )
    return ReplayResult(replayed=count)


# The prefix sits on the routers that declare the routes: a route keeps its own
# router's path (the label of crm_http_request_seconds), not an including one's.
router = APIRouter()
router.include_router(tenants_router)
router.include_router(dlq_router)
