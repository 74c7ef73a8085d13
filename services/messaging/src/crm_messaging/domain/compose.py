"""One message composed: template + recipient data + tracking links (pure).

This is what a render worker process runs (see ``sending.render_pool``): a
:class:`RenderJob` in, a :class:`RenderedMessage` out, nothing else touched.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_messaging.domain.recipients import template_profile, template_traits
from crm_messaging.domain.rendering import (
    MessageTemplate,
    Rendered,
    links,
    render,
    template_context,
)
from crm_messaging.domain.tracking_links import (
    TrackingContext,
    add_open_pixel,
    rewrite_html,
    rewrite_text,
)


@dataclass(frozen=True)
class RenderedMessage:
    parts: dict[str, str]
    links: list[str]
    missing: list[str]
    unsubscribe_url: str


@dataclass(frozen=True)
class RenderJob:
    """Everything one render needs. ``key`` names the template for the pool's
    quarantine (a template that ran out of time fails at once next time).
    Without ``tracking`` it is a trial render (save time): no data, no links."""

    template: MessageTemplate
    profile_id: str = ""
    traits: Mapping[str, Any] = field(default_factory=dict)
    extras: Mapping[str, Any] = field(default_factory=dict)
    recommendations: list[dict[str, str]] = field(default_factory=list)
    tracking: TrackingContext | None = None
    track: bool = False
    key: Hashable = None


def render_message(
    job: RenderJob,
    max_bytes: int | None = None,
    on_part: Callable[[str], None] | None = None,
) -> RenderedMessage:
    """Render; then (email, sms, line) point the template's links at click tracking
    and add the open pixel.

    Raises TemplateOverBudget past ``max_bytes`` (the whole message) and
    TemplateRenderError for other template faults (a missing variable is not one)."""
    if job.tracking is None:
        rendered = render(job.template, {}, max_bytes, on_part)
        return RenderedMessage(rendered.parts, links(rendered), rendered.missing, "")
    extra = dict(job.extras)
    coupon = extra.pop("coupon_code", None)
    unsubscribe = job.tracking.unsubscribe_url()
    extra["unsubscribe_url"] = unsubscribe
    context = template_context(
        profile=template_profile(job.profile_id, job.traits),
        traits=template_traits(job.traits),
        coupon_code=str(coupon) if coupon is not None else None,
        recommendations=job.recommendations,
        extra=extra,
    )
    rendered = render(job.template, context, max_bytes, on_part)
    return _with_tracking(job, job.tracking, rendered, unsubscribe, on_part)


def _with_tracking(
    job: RenderJob,
    tracking: TrackingContext,
    rendered: Rendered,
    unsubscribe: str,
    on_part: Callable[[str], None] | None,
) -> RenderedMessage:
    base = tracking.base_url.rstrip("/") + "/"
    found = [url for url in links(rendered) if not url.startswith(base)]
    parts = dict(rendered.parts)
    if job.track:
        parts = _tracked(parts, found, tracking, on_part)
    return RenderedMessage(parts, found, rendered.missing, unsubscribe)


def _tracked(
    parts: dict[str, str],
    found: list[str],
    tracking: TrackingContext,
    on_part: Callable[[str], None] | None,
) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, text in parts.items():
        if on_part is not None:
            on_part(name)
        if name == "html":
            out[name] = add_open_pixel(rewrite_html(text, found, tracking), tracking)
        elif name in ("text", "preheader"):
            out[name] = rewrite_text(text, found, tracking)
        else:
            out[name] = text
    return out
