"""Who is signed in, CSRF on every POST, role checks, and page rendering.

Every page route depends on :data:`ViewerDep` (or a role alias): it loads the
user from the signed session cookie, and for every POST compares the form field
``csrf_token`` (or header ``X-CSRF-Token``) with the session's token. Mutating
routes depend on :data:`MarketerDep` or :data:`AdminDep`, so a viewer's crafted
POST is refused by the server (403), whatever the page showed.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from crm_common.internal_auth import Role
from crm_dashboard import repository as repo
from crm_dashboard.context import DashboardContext
from crm_dashboard.handlers.users import User, load_user
from crm_dashboard.i18n import LANGUAGES, default_language
from crm_dashboard.ops.scope import OpsScope

RANK = {"viewer": 0, "marketer": 1, "admin": 2}


class LoginRequired(Exception):
    """No valid session: pages redirect to the sign-in form."""


class Forbidden(Exception):
    """Signed in, but not allowed (role or CSRF)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def get_context(request: Request) -> DashboardContext:
    ctx: DashboardContext = request.app.state.runtime.extras["dashboard"]
    return ctx


Ctx = Annotated[DashboardContext, Depends(get_context)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use; rotated at sign-in)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def check_csrf(request: Request) -> None:
    expected = request.session.get("csrf") or ""
    presented = request.headers.get("x-csrf-token")
    if presented is None:
        form = await request.form()
        value = form.get("csrf_token")
        presented = value if isinstance(value, str) else ""
    if not expected or not hmac.compare_digest(str(presented).encode(), str(expected).encode()):
        raise Forbidden("csrf")


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of this request and how pages speak to them."""

    user: User
    lang: str
    csrf: str
    tenant_name: str
    timezone: str
    currency: str

    def can(self, role: str) -> bool:
        return RANK[self.user.role] >= RANK[role]

    @property
    def tenant_id(self) -> str:
        return self.user.tenant_id

    @property
    def role(self) -> Role:
        """The tenant role the services see in the console's tokens (users_role check)."""
        return cast(Role, self.user.role)

    @property
    def subject(self) -> str:
        return self.user.user_id

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def operator(self) -> bool:
        return self.user.operator

    def ops_scope(self) -> OpsScope:
        """What the operations view shows this user: the installation to an operator,
        the own tenant to everyone else."""
        if self.operator:
            return OpsScope(None, self.role, self.subject)
        return OpsScope(self.tenant_id, self.role, self.subject)


async def _viewer(request: Request, ctx: Ctx) -> Viewer:
    user_id = request.session.get("uid")
    if not user_id:
        raise LoginRequired()
    async with ctx.db.transaction() as session:
        user = await load_user(session, str(user_id))
        tenant = await repo.tenant(session, user.tenant_id) if user else None
    if user is None or user.tenant_id != request.session.get("tid"):
        request.session.clear()
        raise LoginRequired()
    if request.method not in ("GET", "HEAD"):
        await check_csrf(request)
    timezone = tenant.timezone if tenant else "Asia/Tokyo"
    lang = request.session.get("lang")
    return Viewer(
        user=user,
        lang=lang if lang in LANGUAGES else default_language(timezone),
        csrf=csrf_token(request),
        tenant_name=tenant.name if tenant else user.tenant_id,
        timezone=timezone,
        currency=tenant.currency if tenant else "JPY",
    )


ViewerDep = Annotated[Viewer, Depends(_viewer)]


def _require(role: str) -> Any:
    async def check(viewer: ViewerDep) -> Viewer:
        if not viewer.can(role):
            raise Forbidden("role")
        return viewer

    return check


MarketerDep = Annotated[Viewer, Depends(_require("marketer"))]
AdminDep = Annotated[Viewer, Depends(_require("admin"))]

NAV = (
    ("overview", "/"),
    ("rfm", "/rfm"),
    ("customers", "/customers"),
    ("segments", "/segments"),
    ("journeys", "/journeys"),
    ("templates", "/templates"),
    ("outputs", "/dm"),
    ("operations", "/operations"),
)


def render(
    request: Request,
    ctx: DashboardContext,
    viewer: Viewer | None,
    template: str,
    status_code: int = 200,
    /,
    **values: Any,
) -> HTMLResponse:
    lang = viewer.lang if viewer else request.session.get("lang") or "ja"
    env = ctx.envs.get(lang) or ctx.envs["en"]
    html = env.get_template(template).render(
        viewer=viewer,
        csrf=viewer.csrf if viewer else csrf_token(request),
        nav=NAV,
        path=request.url.path,
        **values,
    )
    return HTMLResponse(html, status_code=status_code)
