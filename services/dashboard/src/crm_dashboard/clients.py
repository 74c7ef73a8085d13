"""Calls to the other services' REST APIs (httpx), never raising into a page.

Every call answers a :class:`Fetched`: the decoded body, or an error a template
shows as a panel for that widget. Every call carries a token minted for it
(:mod:`crm_common.internal_auth`): for the one service called, the signed-in user's
tenant and role, valid for a minute. The service decides by that role what the call
may do, so a page that forgets a role check still cannot write as a viewer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
from pydantic import SecretStr

from crm_common.internal_auth import Role, mint
from crm_dashboard.config import Settings

log = logging.getLogger(__name__)
Service = Literal["ingest", "profile", "segment", "messaging"]


@dataclass
class Fetched:
    data: Any = None
    error: str | None = None
    status: int | None = None
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class Principal(Protocol):
    """On whose behalf the console calls (the signed-in user: :class:`Viewer`)."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def role(self) -> Role: ...

    @property
    def subject(self) -> str: ...


class Backends:
    """One pooled httpx client per service, built in the lifespan, closed on shutdown."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        svc = settings.service
        self._keys: dict[str, SecretStr] = {
            name: svc.internal_key(name) for name in ("ingest", "profile", "segment", "messaging")
        }
        urls = {
            "ingest": svc.ingest_url,
            "profile": svc.profile_url,
            "segment": svc.segment_url,
            "messaging": svc.messaging_url,
        }
        self._clients = {
            name: httpx.AsyncClient(
                base_url=url, timeout=svc.api_timeout_seconds, transport=transport
            )
            for name, url in urls.items()
        }

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    def headers(self, service: Service, who: Principal) -> dict[str, str]:
        """A fresh token for one call to ``service`` on behalf of ``who``."""
        token = mint(
            self._keys[service],
            audience=service,
            tenant_id=who.tenant_id,
            role=who.role,
            subject=who.subject,
        )
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        service: Service,
        method: str,
        path: str,
        who: Principal,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Fetched:
        """JSON call on behalf of ``who`` (the signed-in user)."""
        try:
            response = await self.send(service, method, path, who, params=params, json=json)
        except httpx.HTTPError as exc:
            log.warning("backend call failed", extra={"service": service, "error": repr(exc)})
            return Fetched(error=f"{service} unreachable ({type(exc).__name__})")
        return decode(service, response)

    async def send(
        self,
        service: Service,
        method: str,
        path: str,
        who: Principal,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """The raw response (downloads); raises httpx.HTTPError when unreachable."""
        headers = self.headers(service, who)
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        return await self._clients[service].request(
            method, path, params=clean, json=json, headers=headers
        )


def decode(service: str, response: httpx.Response) -> Fetched:
    if response.status_code == 204:
        return Fetched(data=None, status=204)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code < 400:
        return Fetched(data=body, status=response.status_code)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("code") or "error")
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    else:
        message, details = f"HTTP {response.status_code}", []
    return Fetched(error=f"{service}: {message}", status=response.status_code, details=details)
