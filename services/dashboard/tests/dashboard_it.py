"""Helpers of the dashboard tests: the other services faked at the HTTP boundary
(httpx.MockTransport, every call recorded), users, sign-in, CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crm_common.internal_auth import Grant, dev_key, verify
from crm_dashboard.config import DashboardService, Settings
from crm_dashboard.context import DashboardContext
from crm_dashboard.tables import tenants

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
Reply = tuple[int, Any] | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeServices:
    """Answers by (method, path) across every faked service; records each request."""

    routes: dict[tuple[str, str], Reply] = field(default_factory=dict)
    calls: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        reply = self.routes.get((request.method, request.url.path))
        if reply is None:
            body = {"error": {"code": "not_found", "message": "no fake route", "details": []}}
            return httpx.Response(404, json=body)
        if callable(reply):
            return reply(request)
        status, body = reply
        return httpx.Response(status, json=body)

    def paths(self, method: str = "POST") -> list[str]:
        return [r.url.path for r in self.calls if r.method == method]


@dataclass
class Console:
    app: Any
    ctx: DashboardContext
    fake: FakeServices
    tenant_id: str
    other_tenant_id: str

    def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """A browser at ``address`` (the sign-in throttle counts per address)."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def dashboard_settings(infra: Any, **service: Any) -> Settings:
    fields = {"cookie_secure": False, "ops_exporter": False, "session_secret": "test-secret"}
    svc = DashboardService(**(fields | service))
    return Settings(kafka=infra.kafka_settings(), postgres=infra.postgres_settings(), service=svc)


async def add_tenant(ctx: DashboardContext, tenant_id: str, timezone: str) -> None:
    values = {
        "tenant_id": tenant_id,
        "name": f"Shop {tenant_id}",
        "timezone": timezone,
        "currency": "JPY",
        "shop_domains": [],
        "api_key_hashes": [],
        "status": "active",
        "version": 1,
    }
    async with ctx.db.transaction() as session:
        await session.execute(pg_insert(tenants).values(**values).on_conflict_do_nothing())


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, tenant_id: str, email: str, password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/login")
    form = {"tenant": tenant_id, "email": email, "password": password}
    form |= {"csrf_token": csrf_of(page.text), "next": "/"}
    return await client.post("/login", data=form)


@asynccontextmanager
async def signed_in(console: Console, role: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client signed in as ``role`` of the Tokyo tenant, and its CSRF token."""
    async with console.client() as client:
        answer = await sign_in(client, console.tenant_id, f"{role}@shop.test")
        assert answer.status_code == 303
        page = await client.get("/users" if role == "admin" else "/segments/new")
        yield client, csrf_of(page.text)


def grant_of(request: httpx.Request, audience: str) -> Grant:
    """The verified token a faked service received (the dev key of ``audience``)."""
    auth = request.headers["authorization"]
    assert auth.startswith("Bearer ") and "x-tenant-id" not in request.headers
    return verify(auth.removeprefix("Bearer "), dev_key(audience), audience=audience)
