"""Campaign use cases behind the REST API: create, edit, schedule, pause, resume, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_common.inputs import Instant
from crm_messaging.domain.rendering import MessageTemplate, validate_template
from crm_messaging.handlers.campaigns_rules import (
    EDITABLE,
    LIVE_FIELDS,
    Action,
    TransitionRefused,
    next_status,
    send_instant,
)
from crm_messaging.handlers.errors import Conflict, Invalid, NotFound
from crm_messaging.repository import campaigns as repo
from crm_messaging.repository import templates as templates_repo

PURPOSE = "marketing"


class CampaignFields(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    segment_id: str | None = Field(default=None, min_length=1, max_length=200)
    channel: Channel | None = None
    template_id: str | None = Field(default=None, min_length=1, max_length=200)
    template: dict[str, str] | None = None  # inline parts, e.g. {"subject": ..., "text": ...}
    context: dict[str, Any] | None = None  # extras for the template (coupon_code ...)
    throttle_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    # A wall time in the tenant's timezone ("2026-12-01T10:00"), or an aware instant.
    send_at: Instant | None = None


class CampaignCreate(CampaignFields):
    name: str = Field(min_length=1, max_length=200)
    segment_id: str = Field(min_length=1, max_length=200)
    channel: Channel

    @model_validator(mode="after")
    def _one_template(self) -> CampaignCreate:
        if (self.template_id is None) == (self.template is None):
            raise ValueError("give exactly one of template_id or template")
        return self


class CampaignUpdate(CampaignFields):
    """PATCH: only the fields given change (``throttle_per_minute: null`` lifts it)."""


class ScheduleBody(BaseModel):
    send_at: Instant | None = None  # None: the campaign's send_at, else now


def campaign_public(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["campaign_id"],
        "name": row["name"],
        "segment_id": row["segment_id"],
        "channel": row["channel"],
        "purpose": PURPOSE,
        "template_id": row["template_id"],
        "template": row["inline_parts"],
        "context": row["context"],
        "throttle_per_minute": row["throttle_per_minute"],
        "status": row["status"],
        "send_at": row["send_at"],
        "audience": row["audience"],
        "enqueued": row["enqueued"],
        "error": row["error"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }


async def _check_template(
    session: AsyncSession,
    tenant_id: str,
    channel: str,
    template_id: str | None,
    inline: dict[str, str] | None,
) -> None:
    if inline is not None:
        problems = validate_template(
            MessageTemplate(template_id="inline", channel=Channel(channel), parts=inline)
        )
        if problems:
            details = [
                {
                    "path": f"body.template.{p.part}" if p.part else "body.template",
                    "message": p.message,
                }
                for p in problems
            ]
            raise Invalid(f"{details[0]['path']}: {details[0]['message']}", details)
        return
    assert template_id is not None
    row = await templates_repo.latest(session, tenant_id, template_id)
    if row is None:
        detail = {"path": "body.template_id", "message": f"unknown template {template_id!r}"}
        raise Invalid(f"body.template_id: {detail['message']}", [detail])
    if row["channel"] != channel:
        message = f"template {template_id!r} is for {row['channel']}, not {channel}"
        raise Invalid(
            f"body.template_id: {message}", [{"path": "body.template_id", "message": message}]
        )


async def create(
    session: AsyncSession, tenant_id: str, timezone: str, body: CampaignCreate, now: datetime
) -> RowMapping:
    channel = Channel(body.channel).value
    await _check_template(session, tenant_id, channel, body.template_id, body.template)
    values = {
        "campaign_id": str(uuid.uuid4()),
        "tenant_id": tenant_id,
        "name": body.name,
        "segment_id": body.segment_id,
        "channel": channel,
        "template_id": body.template_id,
        "inline_parts": body.template,
        "context": body.context or {},
        "throttle_per_minute": body.throttle_per_minute,
        "status": "draft",
        "send_at": send_instant(body.send_at, timezone, now) if body.send_at else None,
    }
    return await repo.insert_campaign(session, values)


async def get(
    session: AsyncSession, tenant_id: str, campaign_id: str, lock: bool = False
) -> RowMapping:
    row = await repo.get_campaign(session, tenant_id, campaign_id, lock=lock)
    if row is None:
        raise NotFound(f"unknown campaign {campaign_id!r}")
    return row


def _changes(row: RowMapping, body: CampaignUpdate) -> dict[str, Any]:
    given = body.model_fields_set
    if row["status"] not in EDITABLE and given - LIVE_FIELDS:
        details = [
            {"path": f"body.{name}", "message": f"cannot change while {row['status']}"}
            for name in sorted(given - LIVE_FIELDS)
        ]
        raise Conflict(
            f"campaign is {row['status']}: only name and throttle_per_minute change", details
        )
    for name in ("name", "segment_id", "channel"):
        if name in given and getattr(body, name) is None:
            details = [{"path": f"body.{name}", "message": "may not be null"}]
            raise Invalid(f"body.{name}: may not be null", details)
    names = {"template": "inline_parts"}
    changes = {names.get(n, n): getattr(body, n) for n in given if n != "send_at"}
    if "channel" in changes:
        changes["channel"] = Channel(changes["channel"]).value
    if "context" in changes and changes["context"] is None:
        changes["context"] = {}
    if "template_id" in given and body.template_id is not None and "template" not in given:
        changes["inline_parts"] = None
    if "template" in given and body.template is not None and "template_id" not in given:
        changes["template_id"] = None
    return changes


async def update(
    session: AsyncSession,
    tenant_id: str,
    timezone: str,
    campaign_id: str,
    body: CampaignUpdate,
    now: datetime,
) -> RowMapping:
    row = await get(session, tenant_id, campaign_id, lock=True)
    changes = _changes(row, body)
    merged = {**row, **changes}
    if (merged["template_id"] is None) == (merged["inline_parts"] is None):
        details = [
            {"path": "body.template", "message": "give exactly one of template_id or template"}
        ]
        raise Invalid("body.template: give exactly one of template_id or template", details)
    if {"template_id", "inline_parts", "channel"} & set(changes):
        await _check_template(
            session, tenant_id, merged["channel"], merged["template_id"], merged["inline_parts"]
        )
    if "send_at" in body.model_fields_set:
        changes["send_at"] = send_instant(body.send_at, timezone, now) if body.send_at else None
    return await repo.update_campaign(session, campaign_id, **changes) if changes else row


async def transition(
    session: AsyncSession,
    tenant_id: str,
    timezone: str,
    campaign_id: str,
    action: Action,
    now: datetime,
    send_at: datetime | None = None,
) -> RowMapping:
    row = await get(session, tenant_id, campaign_id, lock=True)
    try:
        status = next_status(action, row["status"], row["audience_at"] is not None)
    except TransitionRefused as exc:
        raise Conflict(str(exc), [{"path": "status", "message": row["status"]}]) from exc
    values: dict[str, Any] = {"status": status}
    if action == "schedule":
        values["send_at"] = send_instant(send_at or row["send_at"], timezone, now)
    if action == "resume":
        values["next_batch_at"] = now  # the throttle restarts from now, no catch-up burst
        values["error"] = None
    if status == "cancelled":
        values["finished_at"] = now
    return await repo.update_campaign(session, campaign_id, **values)
