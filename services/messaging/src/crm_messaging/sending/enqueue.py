"""Enqueue a message intent: the entry point of journeys, campaigns and the API.

``enqueue_message`` runs inside the caller's transaction (a journey step can
write its own state and the message in one commit). The message id is derived
from (source kind, source id, profile, channel), so enqueueing the same intent
twice is a no-op that returns the message already there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_messaging import metrics
from crm_messaging.domain.ids import SourceKind, message_id
from crm_messaging.domain.policy import Purpose
from crm_messaging.domain.rendering import MessageTemplate, validate_template
from crm_messaging.handlers.errors import Conflict, Invalid, NotFound
from crm_messaging.handlers.events import message_event, publish
from crm_messaging.repository import templates as templates_repo
from crm_messaging.sending import repository as repo


class MessageRequest(BaseModel):
    """What a journey step, a campaign or an API caller wants sent."""

    source_kind: SourceKind
    source_id: str = Field(min_length=1, max_length=500)
    step_id: str | None = Field(default=None, max_length=200)
    profile_id: str = Field(min_length=1, max_length=200)
    channel: Channel
    purpose: Purpose = "marketing"
    template_id: str | None = None
    template: dict[str, str] | None = None  # inline parts, e.g. {"subject": ..., "text": ...}
    context: dict[str, Any] = Field(default_factory=dict)  # coupon_code and other extras
    not_before: datetime | None = None
    # Part of the message id instead of source_id (a journey: one message per run and step).
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_template(self) -> MessageRequest:
        if (self.template_id is None) == (self.template is None):
            raise ValueError("give exactly one of template_id or template")
        return self


@dataclass(frozen=True)
class Enqueued:
    message: RowMapping
    created: bool


def _problems_as_details(problems: list[Any], prefix: str) -> list[dict[str, Any]]:
    return [
        {"path": f"{prefix}.{p.part}" if p.part else prefix, "message": p.message, "line": p.line}
        for p in problems
    ]


async def _template_fields(
    session: AsyncSession, tenant_id: str, intent: MessageRequest
) -> dict[str, Any]:
    if intent.template is not None:
        inline = MessageTemplate(
            template_id="inline", channel=intent.channel, parts=intent.template
        )
        problems = validate_template(inline)
        if problems:
            details = _problems_as_details(problems, "template")
            raise Invalid(f"template: {details[0]['path']}: {problems[0].message}", details)
        return {"inline_parts": intent.template}
    assert intent.template_id is not None
    row = await templates_repo.latest(session, tenant_id, intent.template_id)
    if row is None:
        raise NotFound(f"unknown template {intent.template_id!r}")
    if row["channel"] != intent.channel.value:
        raise Invalid(
            f"template {intent.template_id!r} is for {row['channel']}, not {intent.channel.value}",
            [{"path": "template_id", "message": "channel mismatch"}],
        )
    return {"template_id": intent.template_id, "template_version": row["version"]}


async def enqueue_message(
    session: AsyncSession, tenant_id: str, intent: MessageRequest, now: datetime
) -> Enqueued:
    """Record the intent (queued) and announce ``message.queued``; idempotent by message id."""
    key = intent.dedupe_key or intent.source_id
    mid = message_id(intent.source_kind, key, intent.profile_id, intent.channel)
    existing = await repo.get_message(session, mid)
    if existing is not None:
        if existing["tenant_id"] != tenant_id:
            raise Conflict("message id belongs to another tenant")
        return Enqueued(existing, created=False)
    due = max(now, intent.not_before) if intent.not_before is not None else now
    values = {
        "message_id": mid,
        "tenant_id": tenant_id,
        "profile_id": intent.profile_id,
        "channel": intent.channel.value,
        "purpose": intent.purpose,
        "source_kind": intent.source_kind,
        "source_id": intent.source_id,
        "step_id": intent.step_id,
        "context": intent.context,
        "state": "queued",
        "next_attempt_at": due,
        "queued_at": now,
        **await _template_fields(session, tenant_id, intent),
    }
    row, created = await repo.insert_message(session, values)
    if created:
        await publish(session, [message_event("queued", row, now)])
        metrics.transition(row["channel"], "queued")
    return Enqueued(row, created)
