"""Tenants, their shop domains and API keys (webhook secrets: :mod:`.webhook_secrets`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import TenantConfig
from crm_ingest.repository import webhook_secrets
from crm_ingest.tables import api_keys, shop_domains, tenants

_EMPTY: Any = literal_column("'{}'::text[]")


@dataclass(frozen=True, slots=True)
class ShopTenant:
    """What the webhook endpoint needs about the tenant owning a shop domain.

    ``secrets``: the active ones. A shop that uninstalled the app is not
    ``connected``; ``retired`` are the secrets its uninstall revoked, which still sign
    the privacy webhooks Shopify sends afterwards."""

    tenant_id: str
    currency: str
    timezone: str
    status: str
    secrets: tuple[str, ...]
    connected: bool = True
    retired: tuple[str, ...] = ()


async def insert_tenant(
    session: AsyncSession,
    *,
    tenant_id: str,
    name: str,
    timezone: str,
    currency: str,
    rate_limit_per_second: int | None,
) -> bool:
    """False when the id is taken."""
    stmt = (
        pg_insert(tenants)
        .values(
            tenant_id=tenant_id,
            name=name,
            timezone=timezone,
            currency=currency,
            shop_domains=[],
            api_key_hashes=[],
            status="active",
            version=0,
            rate_limit_per_second=rate_limit_per_second,
        )
        .on_conflict_do_nothing()
        .returning(tenants.c.tenant_id)
    )
    return (await session.execute(stmt)).first() is not None


async def add_shop_domains(
    session: AsyncSession, tenant_id: str, domains: Sequence[str]
) -> list[str]:
    """Claim shop domains for a tenant; returns the domains another tenant already owns."""
    if not domains:
        return []
    stmt = (
        pg_insert(shop_domains)
        .values([{"shop_domain": d, "tenant_id": tenant_id} for d in domains])
        .on_conflict_do_nothing()
        .returning(shop_domains.c.shop_domain)
    )
    claimed = set((await session.execute(stmt)).scalars())
    return [d for d in domains if d not in claimed]


async def disconnect_shop(session: AsyncSession, tenant_id: str, shop_domain: str) -> bool:
    """Mark the tenant's shop domain disconnected; False if it already was (or is not
    the tenant's)."""
    d = shop_domains
    result = await session.execute(
        update(d)
        .where(
            d.c.tenant_id == tenant_id,
            d.c.shop_domain == shop_domain,
            d.c.disconnected_at.is_(None),
        )
        .values(disconnected_at=func.now())
        .returning(d.c.shop_domain)
    )
    return result.first() is not None


async def reconnect_shops(session: AsyncSession, tenant_id: str) -> list[str]:
    """Connect the tenant's disconnected shop domains again; the domains reconnected."""
    d = shop_domains
    result = await session.execute(
        update(d)
        .where(d.c.tenant_id == tenant_id, d.c.disconnected_at.is_not(None))
        .values(disconnected_at=None)
        .returning(d.c.shop_domain)
    )
    return list(result.scalars())


async def connected_shops(session: AsyncSession, tenant_id: str) -> int:
    d = shop_domains
    stmt = select(func.count()).where(d.c.tenant_id == tenant_id, d.c.disconnected_at.is_(None))
    return int((await session.execute(stmt)).scalar_one())


async def list_shop_domains(session: AsyncSession, tenant_id: str) -> list[Any]:
    d = shop_domains
    stmt = select(d).where(d.c.tenant_id == tenant_id).order_by(d.c.shop_domain)
    return list((await session.execute(stmt)).all())


async def add_api_key(session: AsyncSession, tenant_id: str, key_id: str, key_hash: str) -> None:
    await session.execute(
        api_keys.insert().values(key_id=key_id, tenant_id=tenant_id, key_hash=key_hash)
    )


async def revoke_api_key(session: AsyncSession, tenant_id: str, key_id: str) -> bool:
    k = api_keys
    result = await session.execute(
        update(k)
        .where(k.c.tenant_id == tenant_id, k.c.key_id == key_id, k.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(k.c.key_id)
    )
    return result.first() is not None


async def bump_tenant(session: AsyncSession, tenant_id: str) -> TenantConfig | None:
    """Recompute the denormalised arrays from the active rows, increment the version
    (the row lock serialises concurrent admin changes) and return the new config."""
    domains = select(func.coalesce(func.array_agg(shop_domains.c.shop_domain), _EMPTY)).where(
        shop_domains.c.tenant_id == tenant_id, shop_domains.c.disconnected_at.is_(None)
    )
    hashes = select(func.coalesce(func.array_agg(api_keys.c.key_hash), _EMPTY)).where(
        api_keys.c.tenant_id == tenant_id, api_keys.c.revoked_at.is_(None)
    )
    t = tenants
    row = (
        await session.execute(
            update(t)
            .where(t.c.tenant_id == tenant_id)
            .values(
                version=t.c.version + 1,
                shop_domains=domains.scalar_subquery(),
                api_key_hashes=hashes.scalar_subquery(),
                updated_at=func.now(),
            )
            .returning(*_config_columns())
        )
    ).first()
    return _config(row) if row is not None else None


def _config_columns() -> list[Any]:
    t = tenants
    return [
        t.c.tenant_id,
        t.c.name,
        t.c.timezone,
        t.c.currency,
        t.c.shop_domains,
        t.c.api_key_hashes,
        t.c.status,
        t.c.version,
    ]


def _config(row: Any) -> TenantConfig:
    values = dict(row._mapping)
    values["shop_domains"] = sorted(values["shop_domains"])
    values["api_key_hashes"] = sorted(values["api_key_hashes"])
    return TenantConfig.model_validate(values)


async def get_tenant(session: AsyncSession, tenant_id: str) -> Any | None:
    return (await session.execute(select(tenants).where(tenants.c.tenant_id == tenant_id))).first()


async def list_tenants(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(tenants).order_by(tenants.c.created_at))).all())


async def list_api_keys(session: AsyncSession, tenant_id: str) -> list[Any]:
    k = api_keys
    stmt = select(k).where(k.c.tenant_id == tenant_id).order_by(k.c.created_at, k.c.key_id)
    return list((await session.execute(stmt)).all())


async def shop_tenant(session: AsyncSession, shop_domain: str) -> ShopTenant | None:
    """The tenant owning ``shop_domain`` with its webhook secrets (newest first)."""
    d = shop_domains
    row = (
        await session.execute(
            select(
                tenants.c.tenant_id,
                tenants.c.currency,
                tenants.c.timezone,
                tenants.c.status,
                d.c.disconnected_at,
            )
            .join(d, d.c.tenant_id == tenants.c.tenant_id)
            .where(d.c.shop_domain == shop_domain)
        )
    ).first()
    if row is None:
        return None
    active, retired = await webhook_secrets.usable(session, row.tenant_id)
    return ShopTenant(
        row.tenant_id,
        row.currency,
        row.timezone,
        row.status,
        secrets=tuple(active),
        connected=row.disconnected_at is None,
        retired=tuple(retired),
    )


async def rate_limit_of(session: AsyncSession, tenant_id: str) -> int | None:
    stmt = select(tenants.c.rate_limit_per_second).where(tenants.c.tenant_id == tenant_id)
    return (await session.execute(stmt)).scalar()
