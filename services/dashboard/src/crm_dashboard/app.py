"""The dashboard service's FastAPI app: the console pages, sessions, the tenants consumer."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from crm_common.kafka import ConsumerRunner
from crm_common.service import Runtime, create_service_app
from crm_common.tenancy import tenant_config_handler
from crm_dashboard.audit import AuditLog
from crm_dashboard.clients import Backends
from crm_dashboard.config import SCHEMA, TENANTS_TOPIC, Settings
from crm_dashboard.context import DashboardContext
from crm_dashboard.handlers.users import UserError, ensure_user
from crm_dashboard.headers import SecurityHeaders
from crm_dashboard.i18n import HERE, environments
from crm_dashboard.ops import OpsSettings
from crm_dashboard.ops.exporter import start_exporter
from crm_dashboard.tables import tenants
from crm_dashboard.web import (
    audit as audit_pages,
)
from crm_dashboard.web import (
    auth,
    campaigns,
    customers,
    journeys,
    operations,
    outputs,
    overview,
    segments,
    settings_keys,
    templates_pages,
)
from crm_dashboard.web import settings as settings_pages
from crm_dashboard.web import users as users_pages
from crm_dashboard.web.deps import Forbidden, LoginRequired, get_context, render

log = logging.getLogger(__name__)
ROUTERS = (
    auth.router,
    overview.router,
    customers.router,
    segments.router,
    journeys.router,
    campaigns.router,
    outputs.router,
    operations.router,
    users_pages.router,
    settings_pages.router,
    settings_keys.router,
    audit_pages.router,
    templates_pages.router,
)


def build_consumers(settings: Settings, runtime: Runtime) -> list[ConsumerRunner]:
    return [
        ConsumerRunner(
            group_id=settings.tenants_group_id(),
            topics=[settings.kafka.topic(TENANTS_TOPIC)],
            handler=tenant_config_handler(tenants),
            kafka=settings.kafka,
            db=runtime.db,
            schema=SCHEMA,
            dlq_producer=runtime.producer,
        )
    ]


async def bootstrap_admin(settings: Settings, ctx: DashboardContext) -> None:
    """DASHBOARD_BOOTSTRAP_EMAIL/PASSWORD/TENANT: an admin for `make up`, if absent."""
    svc = settings.service
    if not (svc.bootstrap_email and svc.bootstrap_password and svc.bootstrap_tenant):
        return
    try:
        async with ctx.db.transaction() as session:
            created = await ensure_user(
                session,
                svc.bootstrap_tenant,
                svc.bootstrap_email,
                "admin",
                svc.bootstrap_password.get_secret_value(),
            )
    except UserError as exc:
        log.warning("bootstrap admin not created", extra={"field": exc.field})
        return
    if created:
        log.info("bootstrap admin created", extra={"tenant_id": svc.bootstrap_tenant})


def ops_settings(settings: Settings) -> OpsSettings:
    """The operations view's settings (the console's key for ingest and metrics token);
    the dashboard probes itself on its own port unless DASHBOARD_DASHBOARD_URL says
    otherwise."""
    svc = settings.service
    ops = OpsSettings(
        kafka=settings.kafka,
        ingest_key=svc.internal_key("ingest"),
        metrics_token=svc.metrics_token,
    )
    if "DASHBOARD_DASHBOARD_URL" not in os.environ:
        own = f"http://127.0.0.1:{settings.service.port}"
        ops = ops.model_copy(update={"dashboard_url": own})
    return ops


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> Response:
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return JSONResponse({"error": {"code": "unauthorized", "message": "sign in"}}, 401)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith("/api/"):
            body = {"error": {"code": "forbidden", "message": exc.reason, "details": []}}
            return JSONResponse(body, status_code=403)
        ctx = get_context(request)
        return render(request, ctx, None, "forbidden.html", 403, reason=exc.reason)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def setup(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
        # httpx logs every request URL at INFO; lookups carry emails and phones in the
        # query string (URL-encoded, which the log redaction does not recognise).
        logging.getLogger("httpx").setLevel(logging.WARNING)
        backends = Backends(settings)
        ops = ops_settings(settings)
        http = httpx.AsyncClient()
        audit = AuditLog(runtime.db)
        ctx = DashboardContext(settings, runtime.db, backends, environments(), ops, http, audit)
        runtime.extras["dashboard"] = ctx
        runtime.consumers.extend(build_consumers(settings, runtime))
        if settings.service.ops_exporter and settings.service.role != "api":
            runtime.background.append(start_exporter(ops))
        await bootstrap_admin(settings, ctx)
        audit.start()  # every role: the pages that record run in api replicas too
        try:
            yield
        finally:
            await audit.stop()
            await backends.close()
            await http.aclose()

    app = create_service_app(
        settings=settings,
        service=settings.service,
        title="CRM dashboard",
        description="The web console: server-rendered pages over the services' APIs.",
        routers=ROUTERS,
        setup=setup,
    )
    svc = settings.service
    app.add_middleware(
        SessionMiddleware,
        secret_key=svc.session_secret.get_secret_value(),
        session_cookie="crm_console",
        max_age=svc.session_max_age_seconds,
        same_site="lax",
        https_only=svc.cookie_secure,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(SecurityHeaders)
    _install_handlers(app)
    return app
