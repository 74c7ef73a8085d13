"""Saving templates (validated, trial-rendered) and previewing them with a real profile.

Every render here goes through the render pool (worker processes, time, output
and memory budgets): a template over budget is a 422 naming its part, at save
time (rendered once with no data, which is what catches loops and repeats that
do not depend on anyone's data) and at preview time (with the real profile).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_messaging.domain.rendering import MessageTemplate, validate_template
from crm_messaging.handlers.errors import Invalid, NotFound
from crm_messaging.repository import recipients as recipients_repo
from crm_messaging.repository import templates as repo
from crm_messaging.repository.tenants import load_config
from crm_messaging.sending.render import (
    RenderJob,
    needs_recommendations,
    recommendations_for,
    template_key,
    tracking_context,
)
from crm_messaging.sending.render_pool import RenderFailure, RenderPool


def check(template: MessageTemplate, max_source_bytes: int) -> None:
    """Invalid (422) naming each part and line that cannot be used."""
    problems = validate_template(template, max_source_bytes)
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


def _refuse(failure: RenderFailure) -> Invalid:
    path = f"parts.{failure.part}" if failure.part else "parts"
    detail = {"path": path, "message": failure.message, "budget": failure.budget}
    return Invalid(f"{path}: {failure.message}", [detail])


async def trial(pool: RenderPool, tenant_id: str, template: MessageTemplate) -> None:
    """Render once without data; Invalid when that alone is over a budget."""
    job = RenderJob(template=template, key=template_key(tenant_id, template, None))
    (outcome,) = await pool.render([job])
    if isinstance(outcome, RenderFailure) and outcome.budget is not None:
        raise _refuse(outcome)


async def save(
    session: AsyncSession,
    tenant_id: str,
    template_id: str,
    *,
    name: str,
    channel: Channel,
    parts: dict[str, str],
    pool: RenderPool,
    max_source_bytes: int,
) -> RowMapping:
    template = MessageTemplate(template_id=template_id, channel=channel, parts=parts)
    check(template, max_source_bytes)
    await trial(pool, tenant_id, template)
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


async def _person(
    session: AsyncSession, tenant_id: str, profile_id: str
) -> tuple[str, dict[str, Any]]:
    resolved = await recipients_repo.resolve_aliases(session, [(tenant_id, profile_id)])
    person = resolved[(tenant_id, profile_id)]
    traits = (await recipients_repo.load_traits(session, [(tenant_id, person)])).get(
        (tenant_id, person)
    )
    if traits is None:
        raise NotFound(f"unknown profile {profile_id!r}")
    return person, traits


async def preview(
    session: AsyncSession,
    tenant_id: str,
    template_id: str,
    profile_id: str,
    extras: dict[str, Any],
    now: datetime,
    public_url: str,
    pool: RenderPool,
) -> Preview:
    row = await existing(session, tenant_id, template_id)
    template = MessageTemplate(
        template_id=template_id, channel=Channel(row["channel"]), parts=row["parts"]
    )
    person, traits = await _person(session, tenant_id, profile_id)
    picks = (
        await recommendations_for(session, tenant_id, person, traits)
        if needs_recommendations(template)
        else []
    )
    config = await load_config(session, tenant_id)
    fake = {"message_id": f"preview-{template_id}", "tenant_id": tenant_id}
    job = RenderJob(
        template=template,
        profile_id=person,
        traits=traits,
        extras=extras,
        recommendations=picks,
        tracking=tracking_context(fake, config, public_url, now),
        track=False,
        key=template_key(tenant_id, template, row["version"]),
    )
    (outcome,) = await pool.render([job])
    if isinstance(outcome, RenderFailure):
        raise _refuse(outcome)
    return Preview(outcome.parts, outcome.missing, outcome.links, picks)
