"""What a render needs from the database (tracking keys, recommendations), and the
job that carries it to the render pool (the render itself: domain.compose)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_messaging.domain.compose import RenderedMessage, RenderJob
from crm_messaging.domain.recommend import popular, recommend
from crm_messaging.domain.rendering import MessageTemplate
from crm_messaging.domain.tracking_links import TrackingContext
from crm_messaging.repository import recipients as recipients_repo
from crm_messaging.repository.tenants import TenantConfig

__all__ = [
    "RECOMMENDATIONS",
    "TRACKED_CHANNELS",
    "RenderJob",
    "RenderedMessage",
    "needs_recommendations",
    "recommendations_for",
    "template_key",
    "tracking_context",
]

TRACKED_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS, Channel.LINE})
RECOMMENDATIONS = 4


def tracking_context(
    message: Mapping[Any, Any], config: TenantConfig, public_url: str, now: datetime
) -> TrackingContext:
    return TrackingContext(
        base_url=f"{public_url.rstrip('/')}/t",
        tenant_id=config.tenant_id,
        message_id=str(message["message_id"]),
        key=config.key,
        expires_at=now + timedelta(days=config.settings.tracking_ttl_days),
    )


def template_key(tenant_id: str, template: MessageTemplate, version: int | None) -> Hashable:
    """Names a template for the render pool's quarantine: a stored version, or the
    inline parts themselves (hashed: the key stays in this process)."""
    if version is not None:
        return (tenant_id, template.template_id, version)
    return (tenant_id, "inline", hash(tuple(sorted(template.parts.items()))))


def needs_recommendations(template: MessageTemplate) -> bool:
    return any("recommendations" in source for source in template.parts.values())


async def recommendations_for(
    session: AsyncSession, tenant_id: str, profile_id: str, traits: Mapping[Any, Any]
) -> list[dict[str, str]]:
    """Products bought together with this person's, else the shop's most popular."""
    owned = await recipients_repo.profile_products(
        session, tenant_id, profile_id, traits.get("email"), traits.get("phone")
    )
    history, titles = await recipients_repo.order_history(session, tenant_id)
    picked = recommend(owned, history, RECOMMENDATIONS)
    if len(picked) < RECOMMENDATIONS:
        more = popular(history, RECOMMENDATIONS, exclude=[*owned, *picked])
        picked += more[: RECOMMENDATIONS - len(picked)]
    return [{"product_id": p, "title": titles.get(p, "")} for p in picked]
