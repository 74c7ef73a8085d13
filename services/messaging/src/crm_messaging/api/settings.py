"""GET/PUT /v1/settings: sender identity, caps, quiet hours, providers, tracking secret."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from crm_messaging.api.deps import ServicesDep
from crm_messaging.domain.tenant_settings import MessagingSettings
from crm_messaging.repository import tenants as repo

router = APIRouter(prefix="/v1/settings", tags=["settings"])


class SettingsUpdate(MessagingSettings):
    rotate_tracking_secret: bool = False  # the previous secret keeps verifying old links


@router.get("", summary="This tenant's messaging settings (secrets masked)")
async def get_settings(request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        config = await repo.load_config(session, caller.tenant_id)
    return config.settings.public()


@router.put("", summary="Replace this tenant's messaging settings")
async def put_settings(
    body: SettingsUpdate, request: Request, services: ServicesDep
) -> dict[str, Any]:
    settings = MessagingSettings.model_validate(body.model_dump(exclude={"rotate_tracking_secret"}))
    async with services.tenant_session(request) as (session, caller):
        await repo.save_settings(session, caller.tenant_id, settings, body.rotate_tracking_secret)
    return settings.public()
