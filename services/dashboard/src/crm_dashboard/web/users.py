"""Console users of the tenant (admin only): list, add, change role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_dashboard import repository as repo
from crm_dashboard.handlers.users import UserError, create_user
from crm_dashboard.tables import ROLES
from crm_dashboard.web.deps import AdminDep, Ctx, Viewer, render

router = APIRouter(include_in_schema=False)


async def _page(
    request: Request, ctx: Ctx, viewer: Viewer, status: int = 200, error: str | None = None
) -> HTMLResponse:
    async with ctx.db.transaction() as session:
        rows = await repo.users_of(session, viewer.tenant_id)
    values = {"users": rows, "roles": ROLES, "error": error, "tab": "users"}
    return render(request, ctx, viewer, "users.html", status, **values)


@router.get("/users")
async def users(request: Request, ctx: Ctx, viewer: AdminDep) -> HTMLResponse:
    return await _page(request, ctx, viewer)


@router.post("/users")
async def add_user(
    request: Request,
    ctx: Ctx,
    viewer: AdminDep,
    email: Annotated[str, Form()],
    role: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    try:
        async with ctx.db.transaction() as session:
            await create_user(session, viewer.tenant_id, email, role, password)
    except UserError as exc:
        return await _page(request, ctx, viewer, 422, f"{exc.field}: {exc.message}")
    ctx.audit.record(viewer, "user.added", email.strip().lower(), {"role": role})
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/role")
async def change_role(
    request: Request, ctx: Ctx, viewer: AdminDep, user_id: str, role: Annotated[str, Form()]
) -> Response:
    if role not in ROLES:
        return await _page(request, ctx, viewer, 422, f"role: one of {', '.join(ROLES)}")
    if user_id == viewer.user.user_id and role != "admin":
        return await _page(request, ctx, viewer, 409, "role: you cannot demote yourself")
    async with ctx.db.transaction() as session:
        changed = await repo.set_role(session, viewer.tenant_id, user_id, role)
    if not changed:
        return await _page(request, ctx, viewer, 404, "user: not found")
    ctx.audit.record(viewer, "user.role_changed", user_id, {"role": role})
    return RedirectResponse("/users", status_code=303)
