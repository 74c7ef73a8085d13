"""Webhook secrets, stored sealed (:mod:`crm_ingest.sealing`).

Sealed here on the way in and opened here on the way out: nothing above this module
sees a sealed value, nothing below it a plaintext one. A secret no configured key
opens is left out (and logged), so the webhooks it signs are refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_ingest.sealing import SealError, secret_box, secret_row
from crm_ingest.tables import webhook_secrets

log = logging.getLogger(__name__)

UNINSTALLED = "app_uninstalled"
"""``revoked_reason`` of secrets retired by the app's uninstall."""


async def add_secret(session: AsyncSession, tenant_id: str, secret_id: str, secret: str) -> None:
    sealed = secret_box().seal(secret, row=secret_row(tenant_id, secret_id))
    await session.execute(
        webhook_secrets.insert().values(
            secret_id=secret_id, tenant_id=tenant_id, sealed_secret=sealed
        )
    )


async def usable(session: AsyncSession, tenant_id: str) -> tuple[list[str], list[str]]:
    """``(active, retired)`` secrets of the tenant in plaintext, newest first; retired
    are those revoked by the app's uninstall."""
    s = webhook_secrets
    rows = (
        await session.execute(
            select(s.c.secret_id, s.c.sealed_secret, s.c.revoked_at)
            .where(
                s.c.tenant_id == tenant_id,
                s.c.revoked_at.is_(None) | (s.c.revoked_reason == UNINSTALLED),
            )
            .order_by(s.c.created_at.desc())
        )
    ).all()
    active: list[str] = []
    retired: list[str] = []
    for row in rows:
        plain = _opened(tenant_id, row)
        if plain is not None:
            (active if row.revoked_at is None else retired).append(plain)
    return active, retired


async def revoke_secret(session: AsyncSession, tenant_id: str, secret_id: str) -> bool:
    s = webhook_secrets
    result = await session.execute(
        update(s)
        .where(s.c.tenant_id == tenant_id, s.c.secret_id == secret_id, s.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(s.c.secret_id)
    )
    return result.first() is not None


async def retire_secrets(session: AsyncSession, tenant_id: str) -> int:
    """Revoke every active secret of the tenant because the app was uninstalled."""
    s = webhook_secrets
    result = await session.execute(
        update(s)
        .where(s.c.tenant_id == tenant_id, s.c.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_reason=UNINSTALLED)
        .returning(s.c.secret_id)
    )
    return len(result.all())


async def list_secrets(session: AsyncSession, tenant_id: str) -> list[Any]:
    """The tenant's secret rows for the admin view (ids and dates: never opened)."""
    s = webhook_secrets
    stmt = (
        select(s.c.secret_id, s.c.created_at, s.c.revoked_at, s.c.revoked_reason)
        .where(s.c.tenant_id == tenant_id)
        .order_by(s.c.created_at, s.c.secret_id)
    )
    return list((await session.execute(stmt)).all())


async def sealed_before(session: AsyncSession, key_id: str, limit: int) -> list[Any]:
    """Secrets sealed under another key than ``key_id`` (the newest), oldest first."""
    s = webhook_secrets
    stmt = (
        select(s.c.secret_id, s.c.tenant_id, s.c.sealed_secret)
        .where(func.split_part(s.c.sealed_secret, ".", 2) != key_id)
        .order_by(s.c.created_at, s.c.secret_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).all())


async def reseal(session: AsyncSession, rows: Sequence[Any]) -> int:
    """Seal ``rows`` (from :func:`sealed_before`) again under the newest key; the
    number resealed (a row no configured key opens stays as it is)."""
    box, done = secret_box(), 0
    for row in rows:
        plain = _opened(row.tenant_id, row)
        if plain is None:
            continue
        sealed = box.seal(plain, row=secret_row(row.tenant_id, row.secret_id))
        await session.execute(
            update(webhook_secrets)
            .where(webhook_secrets.c.secret_id == row.secret_id)
            .values(sealed_secret=sealed)
        )
        done += 1
    return done


def _opened(tenant_id: str, row: Any) -> str | None:
    try:
        return secret_box().open(row.sealed_secret, row=secret_row(tenant_id, row.secret_id))
    except SealError as exc:
        log.error(
            "webhook secret cannot be opened", extra={"secret_id": row.secret_id, "error": str(exc)}
        )
        return None
