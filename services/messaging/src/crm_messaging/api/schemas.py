"""Response shapes and cursors."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from crm_common.inputs import off_calendar, unstorable
from crm_messaging.handlers.errors import Invalid

MESSAGE_FIELDS = (
    "message_id",
    "profile_id",
    "channel",
    "purpose",
    "source_kind",
    "source_id",
    "step_id",
    "template_id",
    "template_version",
    "state",
    "reason",
    "detail",
    "attempts",
    "missing_variables",
    "next_attempt_at",
    "provider_message_id",
    "queued_at",
    "sent_at",
    "delivered_at",
    "bounce",
    "bounced_at",
    "complained_at",
    "created_at",
    "updated_at",
)


def message_public(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = {name: row[name] for name in MESSAGE_FIELDS}
    out["missing_variables"] = list(row["missing_variables"] or [])
    return out


def template_public(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "template_id": row["template_id"],
        "version": row["version"],
        "name": row["name"],
        "channel": row["channel"],
        "parts": row["parts"],
        "created_at": row["created_at"],
    }


def encode_cursor(created_at: datetime, message_id: str) -> str:
    raw = orjson.dumps([created_at.isoformat(), message_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, message_id = orjson.loads(raw)
        at, after = datetime.fromisoformat(created), str(message_id)
        # What this service never wrote, PostgreSQL could not take either: a NUL in the
        # id, an instant whose UTC is year 0.
        if unstorable(after) or off_calendar(at):
            raise ValueError("not a cursor of this API")
        return at, after
    except (ValueError, TypeError) as exc:
        details = [{"path": "query.cursor", "message": "invalid"}]
        raise Invalid("cursor: not a cursor from this API", details) from exc
