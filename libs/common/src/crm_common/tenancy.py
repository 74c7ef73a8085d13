"""Tenants as every service sees them, and who is calling an API.

Ingest owns tenants and publishes :class:`~crm_common.events.TenantConfigured`
on ``crm.tenants.v1``; every other service keeps a local ``tenants`` table from
it (:func:`apply_tenant_config`) and authenticates callers against that table:

- a tenant's API key (``Authorization: Bearer <key>`` or ``X-Api-Key``), stored
  only as a SHA-256 hash (keys are random 32-byte tokens, so a fast hash is
  enough);
- the internal service token (``CRM_SERVICE_TOKEN``) plus ``X-Tenant-Id``, for
  service-to-service calls and the console.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fastapi import Request
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
    kind: Literal["tenant", "service"]
    tenant_id: str
    timezone: str = "Asia/Tokyo"
    currency: str = "JPY"


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


async def authenticate(
    request: Request, session: AsyncSession, table: Table, service_token: str
) -> Caller:
    """The caller of this request, or 401 with what was missing."""
    key = _presented_key(request)
    if not key:
        raise ApiError(401, "unauthorized", "missing API key (Authorization: Bearer <key>)")
    if hmac.compare_digest(key.encode(), service_token.encode()):
        tenant_id = request.headers.get("x-tenant-id")
        if not tenant_id:
            raise ApiError(401, "unauthorized", "service calls must name X-Tenant-Id")
        row = (await session.execute(select(table).where(table.c.tenant_id == tenant_id))).first()
        if row is None:
            raise ApiError(404, "not_found", f"unknown tenant {tenant_id!r}")
        return Caller("service", tenant_id, row.timezone, row.currency)
    digest = hash_api_key(key)
    row = (
        await session.execute(
            select(table).where(any_(table.c.api_key_hashes) == digest, table.c.status == "active")
        )
    ).first()
    if row is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    return Caller("tenant", row.tenant_id, row.timezone, row.currency)
