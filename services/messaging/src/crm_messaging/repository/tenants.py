"""Tenants (from crm.tenants.v1) and each tenant's messaging settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.domain.tenant_settings import MessagingSettings
from crm_messaging.tables import tenant_settings, tenants

DEFAULT_TIMEZONE = "Asia/Tokyo"


@dataclass(frozen=True)
class TenantConfig:
    tenant_id: str
    timezone: str
    settings: MessagingSettings
    keys: tuple[bytes, ...]  # tracking secrets: current first, then the previous one

    @property
    def key(self) -> bytes:
        return self.keys[0]


async def timezone_of(session: AsyncSession, tenant_id: str) -> str:
    tz = await session.scalar(select(tenants.c.timezone).where(tenants.c.tenant_id == tenant_id))
    return tz or DEFAULT_TIMEZONE


async def _ensure_settings_row(session: AsyncSession, tenant_id: str) -> None:
    stmt = pg_insert(tenant_settings).values(
        tenant_id=tenant_id,
        settings=MessagingSettings().model_dump(mode="json"),
        tracking_secret=secrets.token_urlsafe(32),
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id"]))


async def load_config(session: AsyncSession, tenant_id: str) -> TenantConfig:
    """The tenant's settings, created with defaults (and a fresh secret) on first use."""
    ts = tenant_settings
    query = select(ts).where(ts.c.tenant_id == tenant_id)
    row = (await session.execute(query)).mappings().first()
    if row is None:
        await _ensure_settings_row(session, tenant_id)
        row = (await session.execute(query)).mappings().one()
    keys = [row["tracking_secret"].encode()]
    if row["previous_tracking_secret"]:
        keys.append(row["previous_tracking_secret"].encode())
    return TenantConfig(
        tenant_id=tenant_id,
        timezone=await timezone_of(session, tenant_id),
        settings=MessagingSettings.model_validate(row["settings"]),
        keys=tuple(keys),
    )


async def tracking_keys(session: AsyncSession, tenant_id: str) -> tuple[bytes, ...]:
    """The tenant's tracking secrets; none for a tenant without settings (never creates)."""
    ts = tenant_settings
    query = select(ts.c.tracking_secret, ts.c.previous_tracking_secret).where(
        ts.c.tenant_id == tenant_id
    )
    row = (await session.execute(query)).first()
    if row is None:
        return ()
    return tuple(secret.encode() for secret in row if secret)


async def save_settings(
    session: AsyncSession, tenant_id: str, settings: MessagingSettings, rotate_secret: bool
) -> None:
    await _ensure_settings_row(session, tenant_id)
    ts = tenant_settings
    values: dict[str, object] = {"settings": settings.model_dump(mode="json")}
    if rotate_secret:
        values["previous_tracking_secret"] = ts.c.tracking_secret
        values["tracking_secret"] = secrets.token_urlsafe(32)
    await session.execute(ts.update().where(ts.c.tenant_id == tenant_id).values(**values))
