"""Settings (admin only): sending rules, provider accounts, RFM thresholds.

Messaging keeps sender identity, frequency caps, quiet hours, attribution windows
and provider accounts (``/v1/settings``, admin by its POLICY); profile the RFM
thresholds (``/v1/settings/rfm``). API keys, webhook secrets and the shop
connection are in :mod:`crm_dashboard.web.settings_keys`. Every change is audited.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_dashboard.clients import Fetched
from crm_dashboard.web.deps import AdminDep, Ctx, Viewer, render
from crm_dashboard.web.settings_forms import (
    CHANNELS,
    RFM_AXES,
    FormError,
    caps_rows,
    messaging_from_form,
    providers_from_form,
    rfm_from_form,
)

router = APIRouter(include_in_schema=False)
SAVED = {"general": "Settings saved.", "providers": "Provider accounts saved.", "rfm": "RFM saved."}


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _general(
    request: Request,
    ctx: Ctx,
    viewer: Viewer,
    status: int = 200,
    error: Fetched | None = None,
    template: str = "settings.html",
) -> HTMLResponse:
    messaging, rfm = await asyncio.gather(
        ctx.backends.call("messaging", "GET", "/v1/settings", viewer),
        ctx.backends.call("profile", "GET", "/v1/settings/rfm", viewer),
    )
    values: dict[str, Any] = {"messaging": messaging, "rfm": rfm, "error": error}
    values |= {"channels": CHANNELS, "rfm_axes": RFM_AXES, "tab": template.removesuffix(".html")}
    values["caps"] = caps_rows(messaging.data) if messaging.ok else []
    values["saved"] = request.query_params.get("saved") in SAVED
    return render(request, ctx, viewer, template, status, **values)


@router.get("/settings")
async def settings_page(request: Request, ctx: Ctx, viewer: AdminDep) -> HTMLResponse:
    return await _general(request, ctx, viewer)


@router.get("/settings/providers")
async def providers_page(request: Request, ctx: Ctx, viewer: AdminDep) -> HTMLResponse:
    return await _general(request, ctx, viewer, template="settings_providers.html")


@router.get("/settings/rfm")
async def rfm_page(request: Request, ctx: Ctx, viewer: AdminDep) -> HTMLResponse:
    return await _general(request, ctx, viewer, template="settings_rfm.html")


def _form_failure(exc: FormError) -> Fetched:
    return Fetched(error=str(exc), status=422, details=exc.details)


async def _save_messaging(
    request: Request, ctx: Ctx, viewer: Viewer, kind: str, template: str
) -> Response:
    current = await ctx.backends.call("messaging", "GET", "/v1/settings", viewer)
    if not current.ok:
        return await _general(request, ctx, viewer, current.status or 502, current, template)
    form = await _form(request)
    build = messaging_from_form if kind == "general" else providers_from_form
    try:
        document = build(current.data, form)
    except FormError as exc:
        return await _general(request, ctx, viewer, 422, _form_failure(exc), template)
    saved = await ctx.backends.call("messaging", "PUT", "/v1/settings", viewer, json=document)
    if not saved.ok:
        return await _general(request, ctx, viewer, saved.status or 502, saved, template)
    action = "settings.changed" if kind == "general" else "providers.changed"
    ctx.audit.record(viewer, action, "messaging", {"fields": _changed(current.data, saved.data)})
    target = "/settings" if kind == "general" else "/settings/providers"
    return RedirectResponse(f"{target}?saved={kind}", status_code=303)


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Top-level settings that changed (the audit detail: names, never values)."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


@router.post("/settings")
async def save_general(request: Request, ctx: Ctx, viewer: AdminDep) -> Response:
    return await _save_messaging(request, ctx, viewer, "general", "settings.html")


@router.post("/settings/providers")
async def save_providers(request: Request, ctx: Ctx, viewer: AdminDep) -> Response:
    return await _save_messaging(request, ctx, viewer, "providers", "settings_providers.html")


@router.post("/settings/rfm")
async def save_rfm(request: Request, ctx: Ctx, viewer: AdminDep) -> Response:
    template = "settings_rfm.html"
    current = await ctx.backends.call("profile", "GET", "/v1/settings/rfm", viewer)
    if not current.ok:
        return await _general(request, ctx, viewer, current.status or 502, current, template)
    try:
        document = rfm_from_form(current.data, await _form(request))
    except FormError as exc:
        return await _general(request, ctx, viewer, 422, _form_failure(exc), template)
    saved = await ctx.backends.call("profile", "PUT", "/v1/settings/rfm", viewer, json=document)
    if not saved.ok:
        return await _general(request, ctx, viewer, saved.status or 502, saved, template)
    ctx.audit.record(viewer, "rfm.changed", "rfm", {"fields": _changed(current.data, saved.data)})
    return RedirectResponse("/settings/rfm?saved=rfm", status_code=303)
