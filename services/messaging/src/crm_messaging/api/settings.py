"""GET/PUT /v1/settings: sender identity, caps, quiet hours, providers, tracking secret.

Provider secrets are write-only: GET masks them, and a PUT that sends the mask back
keeps the stored secret."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from crm_common.errors import ApiError
from crm_messaging.api.deps import ServicesDep
from crm_messaging.domain.provider_urls import provider_url_problem
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
    _check_provider_urls(settings, services.settings.service.provider_hosts)
    async with services.tenant_session(request) as (session, caller):
        current = await repo.load_config(session, caller.tenant_id)
        settings = _kept(settings, current.settings)
        await repo.save_settings(session, caller.tenant_id, settings, body.rotate_tracking_secret)
    return settings.public()


def _kept(settings: MessagingSettings, current: MessagingSettings) -> MessagingSettings:
    """A masked secret (as GET answers it) keeps the stored one: the console's form is
    write-only and never holds a provider secret."""
    try:
        return settings.keeping_secrets_of(current)
    except ValueError as exc:
        path = str(exc).split(":", 1)[0]
        details = [{"path": path, "message": str(exc)}]
        raise ApiError(422, "invalid_request", str(exc), details) from None


def _check_provider_urls(settings: MessagingSettings, allowed: tuple[str, ...]) -> None:
    accounts = {"sms.base_url": settings.sms, "line.base_url": settings.line}
    details = []
    for path, account in accounts.items():
        url = account.base_url if account is not None else None
        problem = provider_url_problem(url, allowed) if url else None
        if problem:
            details.append({"path": path, "message": problem})
    if details:
        message = "; ".join(f"{d['path']}: {d['message']}" for d in details)
        raise ApiError(422, "invalid_request", message, details)
