"""Tenants as every service sees them, and who is calling an API.

Ingest owns tenants and publishes :class:`~crm_common.events.TenantConfigured`
on ``crm.tenants.v1``; every other service keeps a local ``tenants`` table from
it (:func:`apply_tenant_config`) and authenticates callers against that table:

- a tenant's API key (``Authorization: Bearer <key>`` or ``X-Api-Key``), stored
  only as a SHA-256 hash (keys are random 32-byte tokens, so a fast hash is
  enough);
- an internal token (:mod:`crm_common.internal_auth`): signed by the console for
  this one service, short-lived, naming the tenant and the console user's role; the
  service's :class:`~crm_common.internal_auth.RoutePolicy` says which role each route
  needs. There is no shared token that acts as any tenant (``X-Tenant-Id`` is never
  read).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from pydantic import SecretStr
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    DateTime,
    MetaData,
    Table,
    Text,
    any_,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.errors import ApiError
from crm_common.events import TenantConfig, TenantConfigured
from crm_common.internal_auth import (
    Grant,
    InvalidToken,
    Role,
    RoutePolicy,
    is_internal_token,
    verify,
)
from crm_common.kafka import BatchHandler, Message

API_KEY_PREFIX = "crm_"


def new_api_key() -> str:
    """A fresh random API key (shown once; only its hash is stored)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def tenants_table(metadata: MetaData) -> Table:
    return Table(
        "tenants",
        metadata,
        Column("tenant_id", Text, primary_key=True),
        Column("name", Text, nullable=False),
        Column("timezone", Text, nullable=False),
        Column("currency", Text, nullable=False),
        Column("shop_domains", ARRAY(Text), nullable=False),
        Column("api_key_hashes", ARRAY(Text), nullable=False),
        Column("status", Text, nullable=False),
        Column("version", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def apply_tenant_config(session: AsyncSession, table: Table, config: TenantConfig) -> None:
    """Upsert a tenant's config; an older version never overwrites a newer one."""
    values = config.model_dump()
    stmt = pg_insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.tenant_id],
        set_={k: stmt.excluded[k] for k in values if k != "tenant_id"} | {"updated_at": func.now()},
        where=table.c.version < stmt.excluded.version,
    )
    await session.execute(stmt)


def tenant_config_handler(table: Table) -> BatchHandler:
    """The ``crm.tenants.v1`` batch handler that keeps ``table`` (a service's copy) current."""

    async def apply_tenants(session: AsyncSession, messages: Sequence[Message]) -> None:
        for message in messages:
            if isinstance(message.payload, TenantConfigured):
                await apply_tenant_config(session, table, message.payload.data)

    return apply_tenants


@dataclass(frozen=True)
class Caller:
    """Who calls: a tenant's API key (``role`` None: the tenant's full access) or the
    console for a tenant (``kind="internal"``, with the signed-in user's role)."""

    kind: Literal["tenant", "internal"]
    tenant_id: str
    timezone: str = "Asia/Tokyo"
    currency: str = "JPY"
    role: Role | None = None
    subject: str = ""


@dataclass(frozen=True)
class InternalAuth:
    """How a service checks internal tokens: its own name (the audience), the key
    that verifies tokens for it, and the role each route needs."""

    audience: str
    key: SecretStr
    policy: RoutePolicy

    def grant(self, request: Request, token: str) -> Grant:
        """The verified grant for this request's route, or 401 (invalid) / 403 (role)."""
        try:
            grant = verify(token, self.key, audience=self.audience)
        except InvalidToken as exc:
            raise ApiError(401, "unauthorized", f"internal token refused: {exc}") from None
        refusal = self.policy.refusal(grant, request.method, request.url.path)
        if refusal is not None:
            raise ApiError(403, "forbidden", refusal)
        return grant


def presented_key(request: Request) -> str | None:
    """The credential of a request: ``Authorization: Bearer <key>`` or ``X-Api-Key``."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


async def authenticate(
    request: Request, session: AsyncSession, table: Table, internal: InternalAuth
) -> Caller:
    """The caller of this request, or 401 with what was missing (403: role too low)."""
    key = presented_key(request)
    if not key:
        raise ApiError(401, "unauthorized", "missing API key (Authorization: Bearer <key>)")
    if is_internal_token(key):
        grant = internal.grant(request, key)
        if grant.tenant_id is None:
            raise ApiError(403, "forbidden", "an operator token acts for no tenant here")
        row = (
            await session.execute(select(table).where(table.c.tenant_id == grant.tenant_id))
        ).first()
        if row is None:
            raise ApiError(404, "not_found", f"unknown tenant {grant.tenant_id!r}")
        return Caller(
            "internal", row.tenant_id, row.timezone, row.currency, grant.role, grant.subject
        )
    digest = hash_api_key(key)
    row = (
        await session.execute(
            select(table).where(any_(table.c.api_key_hashes) == digest, table.c.status == "active")
        )
    ).first()
    if row is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    return Caller("tenant", row.tenant_id, row.timezone, row.currency)
