"""Tenant administration. Every change bumps the tenant's version and enqueues
``tenant.configured`` (API key hashes only, never keys or webhook secrets) on
``crm.tenants.v1`` in the same transaction.

An app uninstall (:func:`uninstall_shop`) revokes what the shop's install granted:
the shop domain is disconnected (it leaves ``shop_domains`` in ``tenant.configured``
and takes no more data webhooks) and, once no shop of the tenant is connected, its
webhook secrets are retired. Nothing else changes: the tenant, its API keys (issued
by the operator, not by the install) and its data stay until Shopify's
``shop/redact`` (48 hours later), whose signature the retired secrets still verify.
A webhook secret added afterwards is a reinstall: it connects the shops again.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database
from crm_common.events import TenantConfig, TenantConfigured, stable_event_id, utcnow
from crm_common.outbox import enqueue
from crm_common.tenancy import hash_api_key, new_api_key
from crm_ingest.config import SCHEMA, TENANTS_TOPIC
from crm_ingest.handlers.errors import Conflict, NotFound
from crm_ingest.repository import tenants as repo
from crm_ingest.repository import webhook_secrets as secrets_repo
from crm_ingest.sealing import secret_box

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewTenant:
    name: str
    shop_domains: list[str]
    webhook_secrets: list[str]
    timezone: str = "Asia/Tokyo"
    currency: str = "JPY"
    rate_limit_per_second: int | None = None
    tenant_id: str | None = None


@dataclass(frozen=True)
class IssuedKey:
    tenant_id: str
    key_id: str
    api_key: str
    config: TenantConfig = field(repr=False)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


async def create_tenant(session: AsyncSession, cmd: NewTenant) -> IssuedKey:
    """The tenant with its shops, secrets and a first API key (returned once)."""
    tenant_id = cmd.tenant_id or _new_id("t")
    created = await repo.insert_tenant(
        session,
        tenant_id=tenant_id,
        name=cmd.name,
        timezone=cmd.timezone,
        currency=cmd.currency,
        rate_limit_per_second=cmd.rate_limit_per_second,
    )
    if not created:
        raise Conflict(f"tenant {tenant_id!r} already exists")
    taken = await repo.add_shop_domains(session, tenant_id, cmd.shop_domains)
    if taken:
        raise Conflict(f"shop domain(s) already belong to another tenant: {', '.join(taken)}")
    for secret in cmd.webhook_secrets:
        await secrets_repo.add_secret(session, tenant_id, _new_id("ws"), secret)
    return await issue_api_key(session, tenant_id)


async def issue_api_key(session: AsyncSession, tenant_id: str) -> IssuedKey:
    await _existing(session, tenant_id)
    key, key_id = new_api_key(), _new_id("key")
    await repo.add_api_key(session, tenant_id, key_id, hash_api_key(key))
    return IssuedKey(tenant_id, key_id, key, await _announce(session, tenant_id))


async def revoke_api_key(session: AsyncSession, tenant_id: str, key_id: str) -> TenantConfig:
    await _existing(session, tenant_id)
    if not await repo.revoke_api_key(session, tenant_id, key_id):
        raise NotFound(f"no active API key {key_id!r} for tenant {tenant_id!r}")
    return await _announce(session, tenant_id)


async def add_webhook_secret(session: AsyncSession, tenant_id: str, secret: str) -> str:
    """A new active secret; shops disconnected by an uninstall are connected again
    (the merchant reinstalled the app)."""
    await _existing(session, tenant_id)
    secret_id = _new_id("ws")
    await secrets_repo.add_secret(session, tenant_id, secret_id, secret)
    await repo.reconnect_shops(session, tenant_id)
    await _announce(session, tenant_id)
    return secret_id


async def add_shop_domain(session: AsyncSession, tenant_id: str, shop_domain: str) -> bool:
    """Claim ``shop_domain`` for the tenant; False when it already was the tenant's,
    Conflict when another tenant owns it."""
    await _existing(session, tenant_id)
    owned = {d.shop_domain for d in await repo.list_shop_domains(session, tenant_id)}
    if shop_domain in owned:
        return False
    if await repo.add_shop_domains(session, tenant_id, [shop_domain]):
        raise Conflict(f"shop domain already belongs to another tenant: {shop_domain}")
    await _announce(session, tenant_id)
    return True


async def uninstall_shop(
    session: AsyncSession, tenant_id: str, shop_domain: str
) -> TenantConfig | None:
    """Disconnect ``shop_domain`` (``app/uninstalled``) and, when it was the tenant's
    last connected shop, retire the webhook secrets; None if it already was."""
    if not await repo.disconnect_shop(session, tenant_id, shop_domain):
        return None
    if await repo.connected_shops(session, tenant_id) == 0:
        await secrets_repo.retire_secrets(session, tenant_id)
    return await _announce(session, tenant_id)


async def revoke_webhook_secret(session: AsyncSession, tenant_id: str, secret_id: str) -> None:
    await _existing(session, tenant_id)
    if not await secrets_repo.revoke_secret(session, tenant_id, secret_id):
        raise NotFound(f"no active webhook secret {secret_id!r} for tenant {tenant_id!r}")
    await _announce(session, tenant_id)


async def reseal_secrets(db: Database, batch: int = 500) -> int:
    """Seal every webhook secret again under the newest ``INGEST_SECRETS_KEY`` (after
    a key was put in front), a batch per transaction; the number resealed."""
    total = 0
    while True:
        async with db.transaction() as session:
            rows = await secrets_repo.sealed_before(session, secret_box().newest_key_id, batch)
            done = await secrets_repo.reseal(session, rows)
        total += done
        if len(rows) < batch or done == 0:  # the rest no configured key opens
            break
    if total:
        log.info("webhook secrets resealed under the newest key", extra={"rows": total})
    return total


async def describe(session: AsyncSession, tenant_id: str) -> dict[str, Any]:
    """The admin view: settings, secret ids (never values) and key ids (never keys)."""
    row = await _existing(session, tenant_id)
    secrets_ = await secrets_repo.list_secrets(session, tenant_id)
    keys = await repo.list_api_keys(session, tenant_id)
    domains = await repo.list_shop_domains(session, tenant_id)
    return {
        "tenant_id": row.tenant_id,
        "name": row.name,
        "timezone": row.timezone,
        "currency": row.currency,
        "shop_domains": sorted(row.shop_domains),
        "disconnected_shop_domains": [
            {"shop_domain": d.shop_domain, "disconnected_at": d.disconnected_at}
            for d in domains
            if d.disconnected_at is not None
        ],
        "status": row.status,
        "version": row.version,
        "rate_limit_per_second": row.rate_limit_per_second,
        "webhook_secrets": [
            {
                "secret_id": s.secret_id,
                "created_at": s.created_at,
                "revoked_at": s.revoked_at,
                "revoked_reason": s.revoked_reason,
            }
            for s in secrets_
        ],
        "api_keys": [
            {"key_id": k.key_id, "created_at": k.created_at, "revoked_at": k.revoked_at}
            for k in keys
        ],
    }


async def _existing(session: AsyncSession, tenant_id: str) -> Any:
    row = await repo.get_tenant(session, tenant_id)
    if row is None:
        raise NotFound(f"unknown tenant {tenant_id!r}")
    return row


async def _announce(session: AsyncSession, tenant_id: str) -> TenantConfig:
    config = await repo.bump_tenant(session, tenant_id)
    if config is None:
        raise NotFound(f"unknown tenant {tenant_id!r}")
    now = utcnow()
    event = TenantConfigured(
        event_id=stable_event_id("tenant.configured", tenant_id, str(config.version)),
        tenant_id=tenant_id,
        source="ingest",
        occurred_at=now,
        received_at=now,
        data=config,
    )
    await enqueue(session, SCHEMA, TENANTS_TOPIC, [event])
    return config
