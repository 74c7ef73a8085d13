"""Enqueue a message intent: the only door into sending, for journeys, campaigns and the API.

``enqueue_message`` runs inside the caller's transaction (a journey step can
write its own state and the message in one commit). The message id is derived
from (source kind, source id, profile, channel), so enqueueing the same intent
twice is a no-op that returns the message already there.

:class:`Enqueuer` is the same door for a batch (a journey worker round, a
campaign slice): each ``add`` checks the intent at once (template known and of
its channel, the same errors as ``enqueue_message``) and returns its message id;
``flush`` writes every new message and its ``message.queued`` event in a few
statements instead of three round trips per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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
from crm_messaging.handlers.errors import Conflict, HandlerError, Invalid, NotFound
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


def intent_message_id(intent: MessageRequest) -> str:
    key = intent.dedupe_key or intent.source_id
    return message_id(intent.source_kind, key, intent.profile_id, intent.channel)


def _values(
    tenant_id: str, intent: MessageRequest, mid: str, now: datetime, fields: dict[str, Any]
) -> dict[str, Any]:
    due = max(now, intent.not_before) if intent.not_before is not None else now
    return {
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
        **fields,
    }


async def enqueue_message(
    session: AsyncSession, tenant_id: str, intent: MessageRequest, now: datetime
) -> Enqueued:
    """Record the intent (queued) and announce ``message.queued``; idempotent by message id."""
    mid = intent_message_id(intent)
    existing = await repo.get_message(session, mid)
    if existing is not None:
        if existing["tenant_id"] != tenant_id:
            raise Conflict("message id belongs to another tenant")
        return Enqueued(existing, created=False)
    fields = await _template_fields(session, tenant_id, intent)
    values = _values(tenant_id, intent, mid, now, fields)
    row, created = await repo.insert_message(session, values)
    if created:
        await publish(session, [message_event("queued", row, now)])
        metrics.transition(row["channel"], "queued")
    return Enqueued(row, created)


@dataclass
class Enqueuer:
    """``enqueue_message`` for many intents in one transaction (see the module doc).

    Until ``flush`` the messages are not in the table: a caller must flush before
    its transaction commits (the journey worker and the campaign step do).
    """

    session: AsyncSession
    now: datetime
    _pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    _templates: dict[tuple[str, str, str], dict[str, Any] | HandlerError] = field(
        default_factory=dict
    )

    async def add(self, tenant_id: str, intent: MessageRequest) -> str:
        """The intent's message id; raises what ``enqueue_message`` would for it."""
        mid = intent_message_id(intent)
        if mid not in self._pending:
            fields = await self._fields(tenant_id, intent)
            self._pending[mid] = _values(tenant_id, intent, mid, self.now, fields)
        return mid

    async def _fields(self, tenant_id: str, intent: MessageRequest) -> dict[str, Any]:
        if intent.template_id is None:
            return await _template_fields(self.session, tenant_id, intent)
        key = (tenant_id, intent.template_id, intent.channel.value)
        if key not in self._templates:
            try:
                self._templates[key] = await _template_fields(self.session, tenant_id, intent)
            except HandlerError as exc:
                self._templates[key] = exc
        found = self._templates[key]
        if isinstance(found, HandlerError):
            raise found
        return found

    async def flush(self) -> int:
        """Write the new messages and their ``message.queued`` events; how many were new."""
        pending, self._pending = list(self._pending.values()), {}
        if not pending:
            return 0
        created = await repo.insert_messages(self.session, pending)
        if len(created) < len(pending):
            await self._check_tenants(pending, {row["message_id"] for row in created})
        await publish(self.session, [message_event("queued", row, self.now) for row in created])
        for row in created:
            metrics.transition(row["channel"], "queued")
        return len(created)

    async def _check_tenants(self, pending: Sequence[dict[str, Any]], created: set[str]) -> None:
        """Messages that were there already: each must be of the same tenant."""
        wanted = {v["message_id"]: v["tenant_id"] for v in pending}
        wanted = {mid: tenant for mid, tenant in wanted.items() if mid not in created}
        owners = await repo.tenants_of(self.session, list(wanted))
        if any(owners.get(mid, tenant) != tenant for mid, tenant in wanted.items()):
            raise Conflict("message id belongs to another tenant")
