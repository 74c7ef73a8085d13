"""Rendering a message for sending: template + recipient data + tracking links."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_messaging.domain.recipients import template_profile, template_traits
from crm_messaging.domain.recommend import popular, recommend
from crm_messaging.domain.rendering import MessageTemplate, links, render, template_context
from crm_messaging.domain.tracking_links import (
    TrackingContext,
    add_open_pixel,
    rewrite_html,
    rewrite_text,
)
from crm_messaging.repository import recipients as recipients_repo
from crm_messaging.repository.tenants import TenantConfig

TRACKED_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS, Channel.LINE})
RECOMMENDATIONS = 4


@dataclass(frozen=True)
class RenderedMessage:
    parts: dict[str, str]
    links: list[str]
    missing: list[str]
    unsubscribe_url: str


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


def render_message(
    template: MessageTemplate,
    *,
    profile_id: str,
    traits: Mapping[Any, Any],
    extras: Mapping[Any, Any],
    recommendations: list[dict[str, str]],
    tracking: TrackingContext,
    track: bool,
) -> RenderedMessage:
    """Render; then (email, sms, line) point links at click tracking and add the open pixel.

    Raises TemplateRenderError for template faults other than missing variables."""
    extra = dict(extras)
    coupon = extra.pop("coupon_code", None)
    unsubscribe = tracking.unsubscribe_url()
    extra["unsubscribe_url"] = unsubscribe
    context = template_context(
        profile=template_profile(profile_id, traits),
        traits=template_traits(traits),
        coupon_code=str(coupon) if coupon is not None else None,
        recommendations=recommendations,
        extra=extra,
    )
    rendered = render(template, context)
    base = tracking.base_url.rstrip("/") + "/"
    found = [url for url in links(rendered) if not url.startswith(base)]
    parts = dict(rendered.parts)
    if track:
        parts = _tracked(parts, found, tracking)
    return RenderedMessage(parts, found, rendered.missing, unsubscribe)


def _tracked(parts: dict[str, str], found: list[str], tracking: TrackingContext) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, text in parts.items():
        if name == "html":
            out[name] = add_open_pixel(rewrite_html(text, found, tracking), tracking)
        elif name in ("text", "preheader"):
            out[name] = rewrite_text(text, found, tracking)
        else:
            out[name] = text
    return out
