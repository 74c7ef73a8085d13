"""API keys, webhook secrets and "connect your shop" (admin only).

The console calls ingest's ``/v1/tenant`` routes with its token for the signed-in
admin's tenant (ingest's POLICY: admin), never the installation admin token. A new
API key is shown once, on the answer to the POST that made it (not stored, not
cached); rotating a key or a webhook secret is adding the new one and revoking the
old one once every sender uses the new. Every change is audited (ids, never keys).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_dashboard.clients import Fetched
from crm_dashboard.web.deps import AdminDep, Ctx, Viewer, render

router = APIRouter(include_in_schema=False)
DONE = {
    "key_revoked": "API key revoked.",
    "secret_added": "Webhook secret added.",
    "secret_revoked": "Webhook secret revoked.",
    "domain_added": "Shop domain added.",
}


async def _page(
    request: Request,
    ctx: Ctx,
    viewer: Viewer,
    template: str,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    tenant = await ctx.backends.call("ingest", "GET", "/v1/tenant", viewer)
    svc = ctx.settings.service
    base = (svc.public_ingest_url or svc.ingest_url).rstrip("/")
    path = tenant.data.get("webhook_path", "/webhooks/shopify") if tenant.ok else ""
    done = request.query_params.get("done")
    values = {"tenant": tenant, "webhook_url": base + path, "done": DONE.get(done or "")} | values
    values["tab"] = template.removesuffix(".html")
    return render(request, ctx, viewer, template, status, **values)


def _back(template: str, done: str) -> RedirectResponse:
    target = "/settings/api-keys" if template == "settings_keys.html" else "/settings/shop"
    return RedirectResponse(f"{target}?done={done}", status_code=303)


@router.get("/settings/api-keys")
async def keys_page(request: Request, ctx: Ctx, viewer: AdminDep) -> HTMLResponse:
    return await _page(request, ctx, viewer, "settings_keys.html")


@router.get("/settings/shop")
async def shop_page(request: Request, ctx: Ctx, viewer: AdminDep) -> HTMLResponse:
    return await _page(request, ctx, viewer, "settings_shop.html")


@router.post("/settings/api-keys")
async def create_key(request: Request, ctx: Ctx, viewer: AdminDep) -> Response:
    got = await ctx.backends.call("ingest", "POST", "/v1/tenant/api-keys", viewer)
    if not got.ok:
        return await _page(request, ctx, viewer, "settings_keys.html", got.status or 502, error=got)
    ctx.audit.record(viewer, "api_key.created", got.data["key_id"])
    page = await _page(request, ctx, viewer, "settings_keys.html", 201, new_key=got.data)
    page.headers["Cache-Control"] = "no-store"  # the key is on this answer only
    return page


async def _change(
    request: Request,
    ctx: Ctx,
    viewer: Viewer,
    template: str,
    call: tuple[str, str, Any],
    audit: tuple[str, str | None],
    done: str,
) -> Response:
    method, path, body = call
    got = await ctx.backends.call("ingest", method, path, viewer, json=body)
    if not got.ok:
        return await _page(request, ctx, viewer, template, got.status or 502, error=got)
    action, target = audit
    answered = got.data if isinstance(got.data, dict) else {}
    ctx.audit.record(viewer, action, target or str(answered.get("secret_id", "")))
    return _back(template, done)


@router.post("/settings/api-keys/{key_id}/revoke")
async def revoke_key(request: Request, ctx: Ctx, viewer: AdminDep, key_id: str) -> Response:
    call = ("DELETE", f"/v1/tenant/api-keys/{key_id}", None)
    audit = ("api_key.revoked", key_id)
    return await _change(request, ctx, viewer, "settings_keys.html", call, audit, "key_revoked")


@router.post("/settings/webhook-secrets")
async def add_secret(
    request: Request, ctx: Ctx, viewer: AdminDep, secret: Annotated[str, Form()] = ""
) -> Response:
    if len(secret.strip()) < 8:
        failure = Fetched(
            error="secret: 8 to 500 characters",
            status=422,
            details=[{"path": "secret", "message": "8 to 500 characters"}],
        )
        return await _page(request, ctx, viewer, "settings_shop.html", 422, error=failure)
    call = ("POST", "/v1/tenant/webhook-secrets", {"secret": secret.strip()})
    return await _change(
        request,
        ctx,
        viewer,
        "settings_shop.html",
        call,
        ("webhook_secret.added", None),
        "secret_added",
    )


@router.post("/settings/webhook-secrets/{secret_id}/revoke")
async def revoke_secret(request: Request, ctx: Ctx, viewer: AdminDep, secret_id: str) -> Response:
    call = ("DELETE", f"/v1/tenant/webhook-secrets/{secret_id}", None)
    audit = ("webhook_secret.revoked", secret_id)
    return await _change(request, ctx, viewer, "settings_shop.html", call, audit, "secret_revoked")


@router.post("/settings/shop-domains")
async def add_domain(
    request: Request, ctx: Ctx, viewer: AdminDep, shop_domain: Annotated[str, Form()] = ""
) -> Response:
    call = ("POST", "/v1/tenant/shop-domains", {"shop_domain": shop_domain})
    audit = ("shop_domain.added", shop_domain.strip().lower())
    return await _change(request, ctx, viewer, "settings_shop.html", call, audit, "domain_added")
