"""Saving templates (validated) and previewing them with a real profile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_messaging.dispatch.render import (
    needs_recommendations,
    recommendations_for,
    render_message,
    tracking_context,
)
from crm_messaging.domain.errors import TemplateRenderError
from crm_messaging.domain.rendering import MessageTemplate, validate_template
from crm_messaging.handlers.errors import Invalid, NotFound
from crm_messaging.repository import recipients as recipients_repo
from crm_messaging.repository import templates as repo
from crm_messaging.repository.tenants import load_config


def check(template: MessageTemplate) -> None:
    """Invalid (422) naming each part and line that cannot be used."""
    problems = validate_template(template)
    if not problems:
        return
    details = [
        {
            "path": f"parts.{p.part}" if p.part else "parts",
            "message": p.message if p.line is None else f"line {p.line}: {p.message}",
            "line": p.line,
        }
        for p in problems
    ]
    first = details[0]
    raise Invalid(f"{first['path']}: {first['message']}", details)


async def save(
    session: AsyncSession,
    tenant_id: str,
    template_id: str,
    *,
    name: str,
    channel: Channel,
    parts: dict[str, str],
) -> RowMapping:
    check(MessageTemplate(template_id=template_id, channel=channel, parts=parts))
    return await repo.save_version(
        session, tenant_id, template_id, name=name, channel=channel.value, parts=parts
    )


async def existing(session: AsyncSession, tenant_id: str, template_id: str) -> RowMapping:
    row = await repo.latest(session, tenant_id, template_id)
    if row is None:
        raise NotFound(f"unknown template {template_id!r}")
    return row


@dataclass(frozen=True)
class Preview:
    parts: dict[str, str]
    missing_variables: list[str]
    links: list[str]
    recommendations: list[dict[str, str]]


async def preview(
    session: AsyncSession,
    tenant_id: str,
    template_id: str,
    profile_id: str,
    extras: dict[str, Any],
    now: datetime,
    public_url: str,
) -> Preview:
    row = await existing(session, tenant_id, template_id)
    template = MessageTemplate(
        template_id=template_id, channel=Channel(row["channel"]), parts=row["parts"]
    )
    resolved = await recipients_repo.resolve_aliases(session, [(tenant_id, profile_id)])
    person = resolved[(tenant_id, profile_id)]
    traits = (await recipients_repo.load_traits(session, [(tenant_id, person)])).get(
        (tenant_id, person)
    )
    if traits is None:
        raise NotFound(f"unknown profile {profile_id!r}")
    picks = (
        await recommendations_for(session, tenant_id, person, traits)
        if needs_recommendations(template)
        else []
    )
    config = await load_config(session, tenant_id)
    fake = {"message_id": f"preview-{template_id}", "tenant_id": tenant_id}
    try:
        rendered = render_message(
            template,
            profile_id=person,
            traits=traits,
            extras=extras,
            recommendations=picks,
            tracking=tracking_context(fake, config, public_url, now),
            track=False,
        )
    except TemplateRenderError as exc:
        raise Invalid(str(exc), [{"path": f"parts.{exc.part}", "message": str(exc)}]) from exc
    return Preview(rendered.parts, rendered.missing, rendered.links, picks)
