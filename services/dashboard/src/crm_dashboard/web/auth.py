"""Sign in, sign out, language switch."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from crm_dashboard.handlers import signin_limits as limits
from crm_dashboard.handlers.signin_limits import Attempt
from crm_dashboard.handlers.users import sign_in
from crm_dashboard.i18n import LANGUAGES
from crm_dashboard.web.deps import Ctx, Forbidden, ViewerDep, check_csrf, render

router = APIRouter(tags=["auth"])


def _safe_next(target: str | None) -> str:
    """Only local paths: an open redirect would hand the session to another site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", include_in_schema=False)
async def login_form(
    request: Request, ctx: Ctx, next: str | None = None, lang: str | None = None
) -> Response:
    if lang in LANGUAGES:
        request.session["lang"] = lang
    return render(request, ctx, None, "login.html", next=_safe_next(next), error=None)


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    ctx: Ctx,
    tenant: Annotated[str, Form()],
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        await check_csrf(request)
    except Forbidden:
        return render(request, ctx, None, "login.html", 403, next=next, error="expired")
    attempt = Attempt(tenant, email, request.client.host if request.client else "-")
    values = {"next": _safe_next(next), "tenant": tenant, "email": email}
    try:
        async with ctx.db.transaction() as session:
            await limits.check(session, attempt)  # before any hashing
            user = await sign_in(session, tenant, email, password)
            await (limits.succeeded if user else limits.failed)(session, attempt)
    except limits.TooManyAttempts as exc:
        minutes = -(-exc.retry_after // 60)
        page = render(
            request, ctx, None, "login.html", 429, error="locked", retry_minutes=minutes, **values
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if user is None:
        return render(request, ctx, None, "login.html", 401, error="invalid", **values)
    lang = request.session.get("lang")
    request.session.clear()  # a fresh session (and CSRF token) at every sign-in
    request.session.update({"uid": user.user_id, "tid": user.tenant_id})
    request.session["csrf"] = secrets.token_urlsafe(32)
    if lang in LANGUAGES:
        request.session["lang"] = lang
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, viewer: ViewerDep) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.post("/lang", include_in_schema=False)
async def switch_language(
    request: Request,
    viewer: ViewerDep,
    lang: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    if lang in LANGUAGES:
        request.session["lang"] = lang
    return RedirectResponse(_safe_next(next), status_code=303)
