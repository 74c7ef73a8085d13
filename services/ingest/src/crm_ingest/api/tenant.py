"""/v1/tenant: the console's admin manages their own tenant's API keys, webhook secrets
and shop domains (the console's token with the admin role, see ``deps.POLICY``; never
a tenant API key, never the installation admin token, which has /admin/tenants).

A new API key is answered once (only its hash is kept); rotating a key or a webhook
secret is adding the new one and revoking the old one when every sender uses the new.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from crm_ingest.api.deps import ConsoleTenantDep, Ctx
from crm_ingest.api.schemas import KeyCreated, SecretCreate, SecretCreated, ShopDomainCreate
from crm_ingest.domain.shopify import supported_topics
from crm_ingest.handlers import tenants as handlers

router = APIRouter(prefix="/v1/tenant", tags=["tenant settings (console)"])
WEBHOOK_PATH = "/webhooks/shopify"


@router.get("", summary="This tenant: shops, webhook secret ids, API key ids, topics")
async def describe(ctx: Ctx, tenant: ConsoleTenantDep) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        described = await handlers.describe(session, tenant.tenant_id)
    described.pop("rate_limit_per_second", None)
    return described | {"webhook_path": WEBHOOK_PATH, "topics": sorted(supported_topics())}


@router.post("/api-keys", status_code=201, summary="A new API key (shown once)")
async def new_api_key(ctx: Ctx, tenant: ConsoleTenantDep) -> KeyCreated:
    async with ctx.db.transaction() as session:
        issued = await handlers.issue_api_key(session, tenant.tenant_id)
    return KeyCreated(key_id=issued.key_id, api_key=issued.api_key)


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_api_key(key_id: str, ctx: Ctx, tenant: ConsoleTenantDep) -> Response:
    async with ctx.db.transaction() as session:
        await handlers.revoke_api_key(session, tenant.tenant_id, key_id)
    return Response(status_code=204)


@router.post("/webhook-secrets", status_code=201, summary="Add a webhook secret")
async def add_secret(body: SecretCreate, ctx: Ctx, tenant: ConsoleTenantDep) -> SecretCreated:
    async with ctx.db.transaction() as session:
        secret_id = await handlers.add_webhook_secret(session, tenant.tenant_id, body.secret)
    ctx.shops.invalidate()
    return SecretCreated(secret_id=secret_id)


@router.delete("/webhook-secrets/{secret_id}", status_code=204, summary="Revoke a secret")
async def revoke_secret(secret_id: str, ctx: Ctx, tenant: ConsoleTenantDep) -> Response:
    async with ctx.db.transaction() as session:
        await handlers.revoke_webhook_secret(session, tenant.tenant_id, secret_id)
    ctx.shops.invalidate()
    return Response(status_code=204)


@router.post("/shop-domains", status_code=201, summary="Connect a shop domain")
async def add_shop_domain(
    body: ShopDomainCreate, ctx: Ctx, tenant: ConsoleTenantDep
) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        added = await handlers.add_shop_domain(session, tenant.tenant_id, body.shop_domain)
    ctx.shops.invalidate()
    return {"shop_domain": body.shop_domain, "added": added}
